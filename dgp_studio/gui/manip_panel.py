"""Manipulations of a restored photo, from its cached (z, class, θ): jitter, category transfer,
morph between two photos, and diverse restorations (the same task under several classes/seeds).

Renders go through the shared ``RenderWorker`` (newest request wins); nothing here reruns an
optimisation except "Diverse", which queues new restorations on purpose.
"""
from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QSlider, QSpinBox, QStackedLayout, QTabWidget, QVBoxLayout, QWidget)

from dgp_studio.core import manipulate

from . import icons
from .class_picker import CompactClassPicker
from .image_views import ImageGrid, ImageView
from .imageconv import tensor_to_qimage

JITTER_STDS = (0.3, 0.5, 0.7)


def _slider(lo: int, hi: int, value: int, tip: str) -> QSlider:
    s = QSlider(Qt.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    return s


def _button(text: str, icon_name: str, tip: str = "") -> QPushButton:
    b = QPushButton(text)
    icons.bind(b, icon_name)
    if tip:
        b.setToolTip(tip)
    return b


class ManipPanel(QWidget):
    exportImagesRequested = Signal(str, list, str)      # kind, [QImage], suggested name
    exportMorphRequested = Signal(int)                  # frame count
    reconstructRequested = Signal(int)                  # doc id of a photo that needs a result
    diverseRequested = Signal(list)                     # [(class_id, seed)]
    diversePicked = Signal(int)                         # index into the entry's alternatives
    openSecondRequested = Signal()

    def __init__(self, renderer_source, parent=None):
        """``renderer_source()`` returns (gan, Renderer, RenderWorker) or None without a model."""
        super().__init__(parent)
        self._source = renderer_source
        self.doc_id: int | None = None
        self.entry = None
        self.partners: list[tuple[int, str, object]] = []   # (doc id, name, CacheEntry or None)
        self._shown: dict[str, int] = {}                     # channel -> newest request id shown
        self._requested: dict[str, int] = {}
        self.jitter_images: list = []
        self.morph_frame = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        self.header = QLabel()
        self.header.setObjectName("hint")
        lay.addWidget(self.header)
        self.stack = QStackedLayout()
        self.empty = QLabel("Restore this photo first (Run on the right).\n\nJitter, category transfer and "
                            "morph then use its tuned generator instantly, without optimising again.")
        self.empty.setAlignment(Qt.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setObjectName("empty")
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.tabs)
        lay.addLayout(self.stack, 1)
        self._build_jitter()
        self._build_transfer()
        self._build_morph()
        self._build_diverse()
        self.tabs.currentChanged.connect(lambda _i: self.refresh_current())
        self.set_source(None, None, [])

    # -- construction ----------------------------------------------------------------------------
    def _build_jitter(self) -> None:
        page = QWidget()
        v = QVBoxLayout(page)
        row = QHBoxLayout()
        row.addWidget(QLabel("Spread σ"))
        self.j_std = _slider(0, 150, 50, "How far from the restored latent the variations go")
        self.j_std.setFixedWidth(180)
        self.j_std_label = QLabel("0.50")
        row.addWidget(self.j_std)
        row.addWidget(self.j_std_label)
        for s in JITTER_STDS:
            b = QPushButton(f"{s}")
            b.setFixedWidth(44)
            b.setToolTip(f"The paper's σ = {s}")
            b.clicked.connect(lambda _c=False, s=s: self.j_std.setValue(int(s * 100)))
            row.addWidget(b)
        row.addSpacing(12)
        row.addWidget(QLabel("Seed"))
        self.j_seed = QSpinBox()
        self.j_seed.setRange(0, 2 ** 31 - 1)
        row.addWidget(self.j_seed)
        row.addWidget(QLabel("Count"))
        self.j_count = QComboBox()
        self.j_count.addItems(["4", "9", "16"])
        self.j_count.setCurrentIndex(1)
        row.addWidget(self.j_count)
        self.j_more = _button("More", "mdi6.dice-multiple-outline", "Another set with the next seed")
        self.j_export = _button("Export…", "mdi6.export-variant", "Save the grid as one image")
        row.addWidget(self.j_more)
        row.addStretch(1)
        row.addWidget(self.j_export)
        v.addLayout(row)
        self.j_grid = ImageGrid(placeholder="Variations of the restored scene appear here")
        v.addWidget(self.j_grid, 1)
        self.j_std.valueChanged.connect(self._jitter_changed)
        self.j_seed.valueChanged.connect(lambda _v: self.render_jitter())
        self.j_count.currentIndexChanged.connect(lambda _i: self.render_jitter())
        self.j_more.clicked.connect(lambda: self.j_seed.setValue(self.j_seed.value() + 1))
        self.j_export.clicked.connect(lambda: self.exportImagesRequested.emit(
            "grid", [i for i in self.j_grid.images if i is not None], "jitter"))
        self.tabs.addTab(page, icons.icon("mdi6.dice-multiple-outline"), "Jitter")

    def _build_transfer(self) -> None:
        page = QWidget()
        v = QVBoxLayout(page)
        g = QGridLayout()
        g.addWidget(QLabel("Class"), 0, 0)
        self.t_class = CompactClassPicker()
        g.addWidget(self.t_class, 0, 1)
        self.t_blend_on = QCheckBox("Blend with")
        g.addWidget(self.t_blend_on, 1, 0)
        self.t_class_b = CompactClassPicker()
        g.addWidget(self.t_class_b, 1, 1)
        g.addWidget(QLabel("Blend"), 2, 0)
        self.t_blend = _slider(0, 100, 50, "0 = first class, 100 = second class")
        g.addWidget(self.t_blend, 2, 1)
        self.t_export = _button("Export…", "mdi6.export-variant")
        g.addWidget(self.t_export, 0, 2)
        g.setColumnStretch(1, 1)
        v.addLayout(g)
        views = QHBoxLayout()
        self.t_before = ImageView("restored", placeholder="")
        self.t_after = ImageView("transferred", placeholder="Pick a class")
        views.addWidget(self.t_before, 1)
        views.addWidget(self.t_after, 1)
        v.addLayout(views, 1)
        self.t_class.classChanged.connect(lambda _c: self.render_transfer())
        self.t_class_b.classChanged.connect(lambda _c: self.render_transfer())
        self.t_blend_on.toggled.connect(lambda _c: self.render_transfer())
        self.t_blend.valueChanged.connect(lambda _c: self.render_transfer())
        self.t_export.clicked.connect(lambda: self.exportImagesRequested.emit(
            "single", [self.t_after.image] if self.t_after.image is not None else [], "transfer"))
        self.tabs.addTab(page, icons.icon("mdi6.swap-horizontal"), "Category transfer")

    def _build_morph(self) -> None:
        page = QWidget()
        v = QVBoxLayout(page)
        row = QHBoxLayout()
        row.addWidget(QLabel("Morph to"))
        self.m_partner = QComboBox()
        self.m_partner.setMinimumWidth(200)
        row.addWidget(self.m_partner, 1)
        self.m_open = _button("Open image…", "mdi6.folder-open-outline", "Open the second photo of the pair")
        self.m_recon = _button("Reconstruct it", "mdi6.image-filter-center-focus",
                               "Run the morphing reconstruction on the second photo (needed once)")
        row.addWidget(self.m_open)
        row.addWidget(self.m_recon)
        v.addLayout(row)
        row2 = QHBoxLayout()
        row2.addWidget(QLabel("λ"))
        self.m_lambda = _slider(0, 100, 50, "0 = this photo, 100 = the other one (renders live)")
        row2.addWidget(self.m_lambda, 1)
        self.m_lambda_label = QLabel("0.50")
        self.m_lambda_label.setMinimumWidth(36)
        row2.addWidget(self.m_lambda_label)
        row2.addSpacing(12)
        row2.addWidget(QLabel("Frames"))
        self.m_frames = QSpinBox()
        self.m_frames.setRange(2, 120)
        self.m_frames.setValue(16)
        row2.addWidget(self.m_frames)
        self.m_export = _button("Export…", "mdi6.filmstrip", "Export the sequence: a GIF, numbered PNG frames, or one side-by-side strip from A to B")
        row2.addWidget(self.m_export)
        v.addLayout(row2)
        views = QHBoxLayout()
        self.m_a = ImageView("A · this photo")
        self.m_mid = ImageView("λ = 0.50", placeholder="Choose the second photo")
        self.m_b = ImageView("B", placeholder="No second photo yet")
        views.addWidget(self.m_a, 1)
        views.addWidget(self.m_mid, 1)
        views.addWidget(self.m_b, 1)
        v.addLayout(views, 1)
        self.m_partner.currentIndexChanged.connect(lambda _i: self._partner_changed())
        self.m_lambda.valueChanged.connect(self._lambda_changed)
        self.m_open.clicked.connect(self.openSecondRequested)
        self.m_recon.clicked.connect(self._reconstruct_partner)
        self.m_export.clicked.connect(lambda: self.exportMorphRequested.emit(self.m_frames.value()))
        self.tabs.addTab(page, icons.icon("mdi6.transition"), "Morph")

    def _build_diverse(self) -> None:
        page = QWidget()
        v = QVBoxLayout(page)
        row = QHBoxLayout()
        self.d_class = CompactClassPicker()
        self.d_add = _button("Add class", "mdi6.plus")
        self.d_seeds = QSpinBox()
        self.d_seeds.setRange(1, 16)
        self.d_seeds.setValue(2)
        self.d_run = _button("Queue restorations", "mdi6.play",
                             "Restore the photo once per class and seed with the task settings on the right")
        row.addWidget(QLabel("Class"))
        row.addWidget(self.d_class, 1)
        row.addWidget(self.d_add)
        row.addWidget(QLabel("Seeds each"))
        row.addWidget(self.d_seeds)
        row.addWidget(self.d_run)
        v.addLayout(row)
        self.d_list = QListWidget()
        self.d_list.setFlow(QListWidget.LeftToRight)
        self.d_list.setFixedHeight(34)
        self.d_list.setToolTip("Queued classes (Delete removes one)")
        v.addWidget(self.d_list)
        self.d_grid = ImageGrid(placeholder="Queue the same restoration under several classes or seeds "
                                            "(paper Fig. 8a) and compare them here; pick one to continue with.")
        v.addWidget(self.d_grid, 1)
        row3 = QHBoxLayout()
        row3.addStretch(1)
        self.d_use = _button("Use the selected one", "mdi6.check")
        self.d_use.setEnabled(False)
        row3.addWidget(self.d_use)
        v.addLayout(row3)
        self.d_add.clicked.connect(self._diverse_add)
        self.d_run.clicked.connect(self._diverse_run)
        self.d_grid.clicked.connect(lambda i: self.d_use.setEnabled(
            self.entry is not None and i < len(self.entry.alternatives)))
        self.d_use.clicked.connect(lambda: self.diversePicked.emit(self.d_grid.selected))
        self.d_grid.activated.connect(self.diversePicked)
        self.tabs.addTab(page, icons.icon("mdi6.view-grid-outline"), "Diverse")

    # -- source ------------------------------------------------------------------------------------
    def set_classes(self, names: list[str]) -> None:
        for p in (self.t_class, self.t_class_b, self.d_class):
            p.set_classes(names)

    def set_source(self, doc_id, entry, partners, name: str = "") -> None:
        """The photo being manipulated, its cache entry (None = not restored) and the other
        open photos [(doc id, name, entry or None)] for morphing."""
        changed = doc_id != self.doc_id or entry is not self.entry
        self.doc_id, self.entry = doc_id, entry
        self.partners = [p for p in partners if p[0] != doc_id]
        self.stack.setCurrentIndex(1 if entry is not None else 0)
        self.setEnabled(doc_id is not None)
        if entry is not None:
            res = entry.result
            gan = self._gan()
            cname = gan.class_name(res.class_id) if gan is not None else str(res.class_id)
            self.header.setText(f"<b>{html.escape(name or '')}</b> · {entry.task} · class <b>{html.escape(cname)}</b> · "
                                f"{res.steps_done} iterations{' (cancelled, partial)' if res.cancelled else ''}")
            if changed:
                self.t_class.set_current(res.class_id, emit=False)
                self.t_class_b.set_current(res.class_id, emit=False)
                self.d_class.set_current(res.class_id, emit=False)
                self.t_before.set_image(tensor_to_qimage(res.image), "restored")
                self.m_a.set_image(tensor_to_qimage(res.image), f"A · {name}")
            self._fill_diverse()
        else:
            self.header.setText(f"<b>{html.escape(name)}</b>" if name else "")
        self._fill_partners()
        if changed:
            self._shown.clear()
            self.refresh_current()

    def _gan(self):
        src = self._source()
        return src[0] if src else None

    def _fill_partners(self) -> None:
        keep = self.m_partner.currentData()
        self.m_partner.blockSignals(True)
        self.m_partner.clear()
        for did, name, entry in self.partners:
            self.m_partner.addItem(f"{name}{'' if entry is not None else '  (not restored yet)'}", did)
        if keep is not None:
            i = self.m_partner.findData(keep)
            if i >= 0:
                self.m_partner.setCurrentIndex(i)
        self.m_partner.blockSignals(False)
        self._partner_changed(render=False)

    def partner_entry(self):
        did = self.m_partner.currentData()
        for d, _n, e in self.partners:
            if d == did:
                return e
        return None

    def _partner_changed(self, render: bool = True) -> None:
        did = self.m_partner.currentData()
        e = self.partner_entry()
        self.m_recon.setVisible(did is not None and e is None)
        if e is not None:
            name = self.m_partner.currentText()
            self.m_b.set_image(tensor_to_qimage(e.result.image), f"B · {name}")
        else:
            self.m_b.set_image(None, "B")
            self.m_b.placeholder = "Open a second photo" if did is None else "Reconstruct it first"
        self.m_lambda.setEnabled(e is not None)
        self.m_export.setEnabled(e is not None)
        if render:
            self.render_morph()

    def _reconstruct_partner(self) -> None:
        did = self.m_partner.currentData()
        if did is not None:
            self.reconstructRequested.emit(did)

    # -- rendering -----------------------------------------------------------------------------------
    def refresh_current(self) -> None:
        if self.entry is None:
            return
        i = self.tabs.currentIndex()
        (self.render_jitter, self.render_transfer, self.render_morph, lambda: None)[i]()

    def _request(self, channel: str, fn) -> int | None:
        src = self._source()
        if src is None or self.entry is None:
            return None
        rid = src[2].request(channel, fn)
        self._requested[channel] = rid
        return rid

    def _jitter_changed(self, v: int) -> None:
        self.j_std_label.setText(f"{v / 100:.2f}")
        self.render_jitter()

    def render_jitter(self):
        src = self._source()
        if src is None or self.entry is None:
            return None
        gan, renderer, _w = src
        result, n = self.entry.result, int(self.j_count.currentText())
        std, seed = self.j_std.value() / 100, self.j_seed.value()
        return self._request("jitter", lambda: manipulate.jitter(gan, result, n=n, std=std, seed=seed,
                                                                 renderer=renderer))

    def render_transfer(self):
        src = self._source()
        if src is None or self.entry is None:
            return None
        gan, renderer, _w = src
        result, cls = self.entry.result, self.t_class.current()
        other = self.t_class_b.current() if self.t_blend_on.isChecked() else None
        blend = self.t_blend.value() / 100
        self.t_class_b.setEnabled(self.t_blend_on.isChecked())
        self.t_blend.setEnabled(self.t_blend_on.isChecked())
        return self._request("transfer", lambda: manipulate.transfer(gan, result, cls, blend_with=other,
                                                                     blend=blend, renderer=renderer))

    def _lambda_changed(self, v: int) -> None:
        self.m_lambda_label.setText(f"{v / 100:.2f}")
        self.render_morph()

    def render_morph(self):
        src = self._source()
        b = self.partner_entry()
        if src is None or self.entry is None or b is None:
            return None
        gan, renderer, _w = src
        a, lam = self.entry.result, self.m_lambda.value() / 100
        return self._request("morph", lambda: (manipulate.morph(gan, a, b.result, [lam], renderer=renderer), lam))

    def on_rendered(self, channel: str, rid: int, images: list, extra) -> bool:
        """Shows a finished render unless something newer is already on screen."""
        if rid <= self._shown.get(channel, 0):
            return False
        self._shown[channel] = rid
        if channel == "jitter":
            self.jitter_images = images
            std = self.j_std.value() / 100
            self.j_grid.set_items(images, [f"σ {std:.2f} · #{i + 1}" for i in range(len(images))])
        elif channel == "transfer":
            gan = self._gan()
            name = gan.class_name(self.t_class.current()) if gan else ""
            if self.t_blend_on.isChecked() and gan:
                name += f" ↔ {gan.class_name(self.t_class_b.current())} {self.t_blend.value()}%"
            self.t_after.set_image(images[0], name)
        elif channel == "morph":
            self.morph_frame = images[0]
            self.m_mid.set_image(images[0], f"λ = {extra:.2f}" if extra is not None else "")
        return True

    # -- diverse --------------------------------------------------------------------------------------
    def _diverse_add(self) -> None:
        gan = self._gan()
        cid = self.d_class.current()
        if gan is None:
            return
        for r in range(self.d_list.count()):
            if self.d_list.item(r).data(Qt.UserRole) == cid:
                return
        it = QListWidgetItem(gan.class_name(cid))
        it.setData(Qt.UserRole, cid)
        self.d_list.addItem(it)

    def keyPressEvent(self, e) -> None:
        if e.key() == Qt.Key_Delete and self.d_list.hasFocus() and self.d_list.currentRow() >= 0:
            self.d_list.takeItem(self.d_list.currentRow())
        else:
            super().keyPressEvent(e)

    def diverse_queue(self) -> list[tuple[int, int]]:
        classes = [self.d_list.item(r).data(Qt.UserRole) for r in range(self.d_list.count())]
        if not classes:
            classes = [self.d_class.current()]
        return [(c, s) for c in classes for s in range(self.d_seeds.value())]

    def _diverse_run(self) -> None:
        self.diverseRequested.emit(self.diverse_queue())

    def show_diverse_pending(self, labels: list[str]) -> None:
        self.d_grid.set_items([None] * len(labels), labels)
        self.d_use.setEnabled(False)

    def set_diverse_item(self, i: int, image, label: str) -> None:
        self.d_grid.set_item(i, image, label)

    def _fill_diverse(self) -> None:
        if self.entry is not None and self.entry.alternatives and not any(i is None for i in self.d_grid.images):
            self.d_grid.set_items([tensor_to_qimage(r.final) for _l, r in self.entry.alternatives],
                                  [l for l, _r in self.entry.alternatives])
