"""What to do with the region: the task, its class, the schedule (editable per stage), Run.

The "Advanced" table is the truth for the next run: it is filled from the task's preset (full or
a quarter of the iterations) and every cell can be edited before pressing Run.
"""
from __future__ import annotations

import html

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout,
                               QFrame, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
                               QScrollArea, QSizePolicy, QSpinBox, QTableWidget, QTableWidgetItem, QToolButton, QVBoxLayout,
                               QWidget)

from dgp_studio.core import presets

from . import icons
from .class_picker import ClassPicker

# (key, label, icon, preset name, one-line hint)
TASKS = [
    ("colorization", "Colorize", "mdi6.palette", "colorization", "Adds plausible colour; keeps the photo's lightness."),
    ("inpainting", "Inpaint", "mdi6.brush", "inpainting", "Fills the painted holes (brush B, rectangle R)."),
    ("super-resolution", "Super-resolve", "mdi6.arrow-expand-all", "super-resolution",
     "Treats the region as a low-resolution photo and adds detail."),
    ("hybrid", "Hybrid", "mdi6.layers-outline", "hybrid", "Several degradations at once, e.g. old damaged photos."),
    ("reconstruct", "Reconstruct", "mdi6.image-filter-center-focus", "reconstruct",
     "Explains the photo as it is: the start for jitter, transfer and morph."),
    ("defence", "Defend", "mdi6.shield-check-outline", "defence",
     "Removes adversarial noise; stops early at MSE 5e-3."),
]
STAGE_ROWS = [
    ("iterations", "Iterations", int), ("ft_num", "Groups tuned", int), ("ftr_num", "D features", int),
    ("G_lrs", "G learning rate", float), ("z_lrs", "z learning rate", float), ("lr_ratio", "LR ratio / group", float),
    ("w_D_loss", "Weight D loss", float), ("w_mse", "Weight MSE", float), ("use_in", "Instance norm", bool),
]
FAST_FACTOR = 0.25


def fmt(v) -> str:
    if isinstance(v, float) and v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e4):
        return f"{v:.0e}".replace("e-0", "e-")
    return f"{v:g}" if isinstance(v, float) else str(v)


class TaskPanel(QWidget):
    runRequested = Signal()
    pauseToggled = Signal(bool)
    cancelRequested = Signal()
    taskChanged = Signal(str)
    classChanged = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._n_groups, self._n_features = 99, 99
        self._edited = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(8)
        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        outer.addWidget(scroll, 1)

        lay.addWidget(self._section("Task"))
        grid = QGridLayout()
        grid.setSpacing(4)
        self.task_group = QButtonGroup(self)
        self.task_group.setExclusive(True)
        self.task_buttons: dict[str, QToolButton] = {}
        for n, (key, label, icon_name, _p, hint) in enumerate(TASKS):
            b = QToolButton()
            b.setText(label)
            b.setToolTip(hint)
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonTextUnderIcon)
            b.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
            b.setMinimumHeight(52)
            icons.bind(b, icon_name)
            self.task_group.addButton(b, n)
            self.task_buttons[key] = b
            grid.addWidget(b, n // 3, n % 3)
        self.task_group.idClicked.connect(self._on_task)
        lay.addLayout(grid)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setObjectName("hint")
        lay.addWidget(self.hint)

        # task options
        self.options = QWidget()
        ol = QHBoxLayout(self.options)
        ol.setContentsMargins(0, 0, 0, 0)
        self.sr_factor = QComboBox()
        self.sr_factor.addItems(["×4", "×2"])
        self.sr_factor.setToolTip("Super-resolution factor")
        self.sr_bias = QComboBox()
        self.sr_bias.addItems(["Sharper (discriminator)", "Higher PSNR (MSE)"])
        self.sr_bias.currentIndexChanged.connect(lambda _i: self._reload_preset())
        self.h_color = QCheckBox("Colour")
        self.h_inpaint = QCheckBox("Holes")
        self.h_sr = QCheckBox("Low-res")
        for c in (self.h_color, self.h_inpaint, self.h_sr):
            c.setChecked(True)
        for w in (self.sr_factor, self.sr_bias, self.h_color, self.h_inpaint, self.h_sr):
            ol.addWidget(w)
        ol.addStretch(1)
        lay.addWidget(self.options)

        lay.addWidget(self._section("Class"))
        self.classes = ClassPicker()
        self.classes.classChanged.connect(self.classChanged)
        self.classes.list.setMaximumHeight(170)
        lay.addWidget(self.classes)

        lay.addWidget(self._section("Schedule"))
        q = QHBoxLayout()
        self.quality_group = QButtonGroup(self)
        self.fast = QPushButton("Fast preview")
        self.fast.setToolTip(f"{int(FAST_FACTOR * 100)} % of the paper's iterations: a quick look")
        self.full = QPushButton("Full quality")
        self.full.setToolTip("The paper's full schedule")
        for i, b in enumerate((self.fast, self.full)):
            b.setCheckable(True)
            self.quality_group.addButton(b, i)
            q.addWidget(b)
        self.fast.setChecked(True)
        self.quality_group.idClicked.connect(lambda _i: self._reload_preset())
        q.addSpacing(8)
        q.addWidget(QLabel("Seed"))
        self.seed = QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        self.seed.setToolTip("Random seed of the candidate search: another seed, another restoration")
        q.addWidget(self.seed)
        lay.addLayout(q)
        self.summary = QLabel()
        self.summary.setObjectName("hint")
        lay.addWidget(self.summary)

        self.adv_toggle = QToolButton()
        self.adv_toggle.setText("Advanced")
        self.adv_toggle.setCheckable(True)
        self.adv_toggle.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.adv_toggle.setArrowType(Qt.RightArrow)
        self.adv_toggle.setStyleSheet("QToolButton { border: none; font-weight: 600; }")
        self.adv_toggle.toggled.connect(self._toggle_advanced)
        lay.addWidget(self.adv_toggle)
        self.advanced = QWidget()
        al = QVBoxLayout(self.advanced)
        al.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.AllEditTriggers)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.itemChanged.connect(self._on_edit)
        al.addWidget(self.table)
        form = QFormLayout()
        self.select_num = QSpinBox()
        self.select_num.setRange(0, 100000)
        self.select_num.setToolTip("Candidates drawn to pick the starting latent (paper: 500)")
        self.sample_std = QDoubleSpinBox()
        self.sample_std.setRange(0, 5)
        self.sample_std.setSingleStep(0.1)
        self.w_nll = QDoubleSpinBox()
        self.w_nll.setDecimals(3)
        self.w_nll.setRange(0, 10)
        self.w_nll.setSingleStep(0.01)
        self.update_embed = QCheckBox("tune the class embedding")
        self.stop_mse = QDoubleSpinBox()
        self.stop_mse.setDecimals(4)
        self.stop_mse.setRange(0, 1)
        self.stop_mse.setSingleStep(0.001)
        self.stop_mse.setToolTip("Stop early when the MSE falls below this (0 = never)")
        form.addRow("Candidates", self.select_num)
        form.addRow("Candidate σ", self.sample_std)
        form.addRow("Weight z prior", self.w_nll)
        form.addRow("Embedding", self.update_embed)
        form.addRow("Stop at MSE", self.stop_mse)
        for w in (self.select_num, self.sample_std, self.w_nll, self.stop_mse):
            w.valueChanged.connect(self._mark_edited)
        self.update_embed.toggled.connect(self._mark_edited)
        al.addLayout(form)
        reset = QPushButton("Reset to the preset")
        reset.clicked.connect(self._reload_preset)
        al.addWidget(reset, 0, Qt.AlignRight)
        self.advanced.setVisible(False)
        lay.addWidget(self.advanced)

        lay.addStretch(1)
        # the footer stays visible however long the settings above get
        footer = QFrame()
        footer.setObjectName("footer")
        footer.setFrameShape(QFrame.StyledPanel)
        fl = QVBoxLayout(footer)
        fl.setContentsMargins(10, 8, 10, 10)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("Ready")
        self.progress.setValue(0)
        fl.addWidget(self.progress)
        row = QHBoxLayout()
        self.run_btn = QPushButton("Run")
        self.run_btn.setObjectName("accent")
        self.run_btn.setMinimumHeight(34)
        self.run_btn.setToolTip("Restore the region (Ctrl+R)")
        icons.bind(self.run_btn, "mdi6.play")
        self.pause_btn = QPushButton("Pause")
        self.pause_btn.setCheckable(True)
        self.pause_btn.setMinimumHeight(34)
        self.pause_btn.setToolTip("Pause / resume (Ctrl+P)")
        icons.bind(self.pause_btn, "mdi6.pause")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setMinimumHeight(34)
        self.cancel_btn.setToolTip("Stop now and keep the state reached (Esc)")
        icons.bind(self.cancel_btn, "mdi6.stop")
        self.run_btn.clicked.connect(self.runRequested)
        self.pause_btn.toggled.connect(self._on_pause)
        self.cancel_btn.clicked.connect(self.cancelRequested)
        row.addWidget(self.run_btn, 2)
        row.addWidget(self.pause_btn, 1)
        row.addWidget(self.cancel_btn, 1)
        fl.addLayout(row)
        outer.addWidget(footer)
        self.set_running(False)
        self.set_task("colorization")

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _section(text: str) -> QLabel:
        lab = QLabel(text.upper())
        lab.setObjectName("section")
        return lab

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.adv_toggle.setArrowType(Qt.DownArrow if on else Qt.RightArrow)

    # -- model ----------------------------------------------------------------------------------
    def set_model(self, gan) -> None:
        from dgp_studio.core.classes import class_names
        if gan is None:
            self.classes.set_classes([], "none")
            return
        self._n_groups, self._n_features = gan.G.n_groups, gan.D.n_features if gan.D is not None else 99
        self.classes.set_classes(class_names(gan.config), gan.name)
        self._reload_preset()

    # -- task -------------------------------------------------------------------------------------
    def task(self) -> str:
        return TASKS[max(0, self.task_group.checkedId())][0]

    def set_task(self, key: str) -> None:
        for n, t in enumerate(TASKS):
            if t[0] == key:
                self.task_group.button(n).setChecked(True)
                self._on_task(n)
                return
        raise KeyError(key)

    def _on_task(self, n: int) -> None:
        key, _label, _i, _p, hint = TASKS[n]
        self.hint.setText(hint)
        self.sr_factor.setVisible(key in ("super-resolution", "hybrid"))
        self.sr_bias.setVisible(key == "super-resolution")
        for c in (self.h_color, self.h_inpaint, self.h_sr):
            c.setVisible(key == "hybrid")
        if key == "hybrid" and self.sr_factor.currentIndex() == 0:
            self.sr_factor.setCurrentIndex(1)  # the paper's hybrid uses x2
        self.options.setVisible(key in ("super-resolution", "hybrid"))
        self._reload_preset()
        self.taskChanged.emit(key)

    def sr_factor_value(self) -> int:
        return 4 if self.sr_factor.currentIndex() == 0 else 2

    def hybrid_parts(self) -> list[str]:
        parts = []
        if self.h_color.isChecked():
            parts.append("colorization")
        if self.h_inpaint.isChecked():
            parts.append("inpainting")
        if self.h_sr.isChecked():
            parts.append("sr")
        return parts

    def preset_name(self) -> str:
        key = self.task()
        if key == "super-resolution" and self.sr_bias.currentIndex() == 1:
            return "super-resolution-mse"
        return next(t[3] for t in TASKS if t[0] == key)

    def fast_mode(self) -> bool:
        return self.fast.isChecked()

    def set_fast(self, on: bool) -> None:
        (self.fast if on else self.full).setChecked(True)
        self._reload_preset()

    # -- preset <-> table ------------------------------------------------------------------------
    def base_preset(self):
        p = presets.get(self.preset_name())
        return p.scaled(FAST_FACTOR) if self.fast_mode() else p

    def _reload_preset(self) -> None:
        self.set_preset(self.base_preset())
        self._edited = False
        self.adv_toggle.setText("Advanced")

    def set_preset(self, p) -> None:
        """Show ``p`` in the table and the scalar fields (the next run uses what is shown)."""
        self._preset_meta = p
        p = p.clipped(self._n_groups, self._n_features)
        self.table.blockSignals(True)
        self.table.clear()
        self.table.setRowCount(len(STAGE_ROWS))
        self.table.setColumnCount(p.n_stages)
        self.table.setHorizontalHeaderLabels([f"Stage {i + 1}" for i in range(p.n_stages)])
        self.table.setVerticalHeaderLabels([r[1] for r in STAGE_ROWS])
        for r, (field, _label, typ) in enumerate(STAGE_ROWS):
            for s, v in enumerate(getattr(p, field)):
                it = QTableWidgetItem()
                if typ is bool:
                    it.setFlags(Qt.ItemIsEnabled | Qt.ItemIsUserCheckable | Qt.ItemIsSelectable)
                    it.setCheckState(Qt.Checked if v else Qt.Unchecked)
                else:
                    it.setText(fmt(typ(v)))
                    it.setTextAlignment(Qt.AlignCenter)
                self.table.setItem(r, s, it)
        self.table.blockSignals(False)
        h = self.table.horizontalHeader().height() + sum(self.table.rowHeight(r) for r in range(len(STAGE_ROWS)))
        self.table.setFixedHeight(h + 4)
        for w, v in ((self.select_num, p.select_num), (self.sample_std, p.sample_std), (self.w_nll, p.w_nll),
                     (self.stop_mse, p.stop_mse)):
            w.blockSignals(True)
            w.setValue(v)
            w.blockSignals(False)
        self.update_embed.blockSignals(True)
        self.update_embed.setChecked(bool(p.update_embed))
        self.update_embed.blockSignals(False)
        self._update_summary()

    def _on_edit(self, item) -> None:
        self._mark_edited()

    def _mark_edited(self, *_a) -> None:
        self._edited = True
        self.adv_toggle.setText("Advanced (edited)")
        self._update_summary()

    def _update_summary(self) -> None:
        try:
            p = self.preset()
        except ValueError as e:
            self.summary.setText(f"<span style='color:#e05555'>{html.escape(str(e))}</span>")
            return
        self.summary.setText(f"{p.total_iterations:,} iterations in {p.n_stages} stages · "
                             f"{p.select_num} candidates")

    def preset(self):
        """The preset the next run uses; ``ValueError`` names the bad cell."""
        base = self._preset_meta
        values = {}
        for r, (field, label, typ) in enumerate(STAGE_ROWS):
            row = []
            for s in range(self.table.columnCount()):
                it = self.table.item(r, s)
                if typ is bool:
                    row.append(it is not None and it.checkState() == Qt.Checked)
                    continue
                text = it.text().strip() if it is not None else ""
                try:
                    v = typ(float(text)) if typ is int else typ(text)
                except ValueError:
                    raise ValueError(f"{label}, stage {s + 1}: '{text}' is not a number") from None
                if v < 0:
                    raise ValueError(f"{label}, stage {s + 1}: must not be negative")
                row.append(v)
            values[field] = tuple(row)
        return replace(base, **values, select_num=self.select_num.value(), sample_std=self.sample_std.value(),
                       w_nll=self.w_nll.value(), update_embed=self.update_embed.isChecked(),
                       stop_mse=self.stop_mse.value())

    def seed_value(self) -> int:
        return self.seed.value()

    # -- run state -------------------------------------------------------------------------------
    def set_running(self, running: bool, can_run: bool = True) -> None:
        self.run_btn.setEnabled(not running and can_run)
        self.pause_btn.setEnabled(running)
        self.cancel_btn.setEnabled(running)
        if not running:
            self.pause_btn.blockSignals(True)
            self.pause_btn.setChecked(False)
            self.pause_btn.setText("Pause")
            self.pause_btn.blockSignals(False)

    def _on_pause(self, on: bool) -> None:
        self.pause_btn.setText("Resume" if on else "Pause")
        icons.bind(self.pause_btn, "mdi6.play" if on else "mdi6.pause")
        self.pauseToggled.emit(on)

    def set_progress(self, done: int, total: int, text: str) -> None:
        # QProgressBar repaints synchronously on every change: skip the calls that change nothing
        total = max(1, total)
        if self.progress.maximum() != total:
            self.progress.setMaximum(total)
        if self.progress.value() != min(done, total):
            self.progress.setValue(min(done, total))
        if self.progress.format() != text:
            self.progress.setFormat(text)
