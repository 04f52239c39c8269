"""Tools > Models…: the bundled prior and the user's registered models (``core.modelstore``).

List, add a folder, check (shapes against the architecture, parameter count, resolution,
classes, file hashes), remove (files stay), switch the editor's active model, and download a
checkpoint from a URL the user gives, verified by SHA-256, with a progress bar.  Loading,
hashing and downloading run on background threads; nothing contacts a network unless the
user presses Download.
"""
from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton,
                               QSizePolicy, QTreeWidget, QTreeWidgetItem, QVBoxLayout)

from dgp_studio.core import modelstore
from dgp_studio.core.errors import friendly_error

from . import icons


class Cancelled(Exception):
    pass


class _Task(QObject):
    """One background call; ``done`` / ``failed`` / ``progress`` arrive on the UI thread."""
    done = Signal(object)
    failed = Signal(object)
    progress = Signal(object, object)

    def __init__(self, fn, parent=None):
        super().__init__(parent)
        self.fn = fn
        self.thread = threading.Thread(target=self._run, daemon=True, name="dgp-models")

    def _run(self):
        try:
            value = self.fn(self)
        except BaseException as e:  # noqa: BLE001 - every failure becomes a message
            self.failed.emit(e)
            return
        self.done.emit(value)

    def start(self):
        self.thread.start()
        return self


class ModelsDialog(QDialog):
    modelChosen = Signal(str, str)      # path, name

    def __init__(self, parent=None, store: modelstore.ModelStore | None = None, active_path=None):
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(900, 640)
        self.store = store or modelstore.ModelStore()
        self.active_path = _resolved(active_path)
        self.reports: dict[str, modelstore.ModelReport] = {}
        self.tasks: list[_Task] = []
        self._cancel_download = threading.Event()
        self.last_error: str | None = None

        lay = QVBoxLayout(self)
        intro = QLabel("The generative prior restores and edits your photos. DGP Studio ships a small prior; "
                       "add folders holding released BigGAN checkpoints (G_ema + D) or models trained with "
                       "<code>dgp-studio train</code>. Files are never copied or deleted.")
        intro.setWordWrap(True)
        intro.setObjectName("hint")
        lay.addWidget(intro)

        row = QHBoxLayout()
        self.tree = QTreeWidget()
        self.tree.setColumnCount(5)
        self.tree.setHeaderLabels(["Model", "Resolution", "Classes", "Kind", "Path"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        hdr = self.tree.header()
        hdr.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        for c in (1, 2, 3):
            hdr.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        hdr.setSectionResizeMode(4, QHeaderView.Stretch)
        self.tree.currentItemChanged.connect(lambda *_a: self._on_selection())
        self.tree.itemDoubleClicked.connect(lambda *_a: self.check_selected())
        row.addWidget(self.tree, 1)
        buttons = QVBoxLayout()
        self.add_btn = self._button("Add folder…", "mdi6.folder-plus-outline", self.add_dialog)
        self.check_btn = self._button("Check", "mdi6.check-decagram-outline", self.check_selected)
        self.use_btn = self._button("Use this model", "mdi6.play-circle-outline", self.use_selected)
        self.remove_btn = self._button("Remove", "mdi6.playlist-remove", self.remove_selected)
        self.use_btn.setObjectName("accent")
        self.check_btn.setToolTip("Load it, validate every tensor's shape and hash its files")
        self.remove_btn.setToolTip("Forget this model (its files stay where they are)")
        for b in (self.add_btn, self.check_btn, self.use_btn, self.remove_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        row.addLayout(buttons)
        lay.addLayout(row, 2)

        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        font = QFontDatabase.systemFont(QFontDatabase.FixedFont)
        font.setStyleHint(QFont.Monospace)
        self.details.setFont(font)
        self.details.setPlaceholderText("Select a model and press Check to validate it.")
        self.details.setMinimumHeight(190)
        lay.addWidget(self.details, 3)

        dl = QGroupBox("Download a model")
        dl.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Maximum)
        form = QFormLayout(dl)
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://… (a checkpoint file: G_ema_256.pth, D_256.pth, config.json …)")
        self.sha = QLineEdit()
        self.sha.setPlaceholderText("the file's SHA-256 (64 hexadecimal digits) from the model's publisher")
        folder_row = QHBoxLayout()
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder to download into")
        browse = self._button("Browse…", "mdi6.folder-outline", self._browse_folder)
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        form.addRow("URL", self.url)
        form.addRow("SHA-256", self.sha)
        form.addRow("Folder", folder_row)
        prow = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)   # shown once a download starts
        self.download_btn = self._button("Download", "mdi6.download-outline", self.start_download)
        self.cancel_btn = self._button("Cancel", "mdi6.close", self._cancel)
        self.cancel_btn.setEnabled(False)
        prow.addWidget(self.progress, 1)
        prow.addStretch(0)
        prow.addWidget(self.download_btn)
        prow.addWidget(self.cancel_btn)
        form.addRow("", prow)
        note = QLabel("Nothing is downloaded unless you press Download. An interrupted download resumes; "
                      "a file whose SHA-256 does not match is deleted.")
        note.setObjectName("hint")
        note.setWordWrap(False)  # one line: a wrapped label makes QFormLayout reserve a blank row
        form.addRow("", note)
        lay.addWidget(dl)

        close = QDialogButtonBox(QDialogButtonBox.Close)
        close.rejected.connect(self.reject)
        close.button(QDialogButtonBox.Close).clicked.connect(self.reject)
        lay.addWidget(close)
        self.refresh()

    def _button(self, text, icon_name, slot) -> QPushButton:
        b = QPushButton(text)
        icons.bind(b, icon_name)
        b.clicked.connect(lambda _c=False: slot())
        return b

    # -- list ----------------------------------------------------------------------------------------
    def entries(self) -> list[modelstore.ModelEntry]:
        return self.store.list()

    def refresh(self, select: str | None = None) -> None:
        keep = select or (self.selected().name if self.selected() else None)
        self.tree.clear()
        for e in self.entries():
            rep = self.reports.get(str(_resolved(e.path)))
            active = self.active_path is not None and _resolved(e.path) == self.active_path
            it = QTreeWidgetItem([e.name + ("  (in use)" if active else ""),
                                  f"{rep.resolution} px" if rep else "–",
                                  str(rep.n_classes) if rep else "–",
                                  "bundled" if e.bundled else ("registered" if e.exists else "missing"),
                                  e.path])
            it.setData(0, Qt.UserRole, e.name)
            it.setToolTip(4, e.path)
            if active:
                f = it.font(0)
                f.setBold(True)
                it.setFont(0, f)
                it.setIcon(0, icons.icon("mdi6.check-circle", "#39c47a"))
            elif not e.exists:
                it.setIcon(0, icons.icon("mdi6.alert-circle-outline", "#e0a030"))
            else:
                it.setIcon(0, icons.icon("mdi6.cube-outline"))
            self.tree.addTopLevelItem(it)
            if e.name == keep:
                self.tree.setCurrentItem(it)
        if self.tree.currentItem() is None and self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self._on_selection()

    def names(self) -> list[str]:
        return [self.tree.topLevelItem(i).data(0, Qt.UserRole) for i in range(self.tree.topLevelItemCount())]

    def select(self, name: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            it = self.tree.topLevelItem(i)
            if it.data(0, Qt.UserRole) == name:
                self.tree.setCurrentItem(it)

    def selected(self) -> modelstore.ModelEntry | None:
        it = self.tree.currentItem()
        if it is None:
            return None
        return next((e for e in self.entries() if e.name == it.data(0, Qt.UserRole)), None)

    def _on_selection(self) -> None:
        e = self.selected()
        in_use = e is not None and self.active_path is not None and _resolved(e.path) == self.active_path
        self.check_btn.setEnabled(e is not None and e.exists)
        self.use_btn.setEnabled(e is not None and e.exists and not in_use)
        self.use_btn.setText("In use" if in_use else "Use this model")
        self.remove_btn.setEnabled(e is not None and not e.bundled)
        if e is not None:
            rep = self.reports.get(str(_resolved(e.path)))
            self.details.setPlainText("\n".join(rep.lines()) if rep else
                                      f"{e.name}\n{e.path}\n\nPress Check to validate it.")

    # -- background work -------------------------------------------------------------------------
    def _start(self, fn, on_done, busy: str) -> _Task:
        t = _Task(fn, self)
        t.done.connect(lambda v: (self._finish(t), on_done(v)))
        t.failed.connect(lambda e: (self._finish(t), self._error(e)))
        self.tasks.append(t)
        self.setCursor(Qt.BusyCursor)
        self.details.setPlainText(busy)
        return t.start()

    def _finish(self, t) -> None:
        if t in self.tasks:
            self.tasks.remove(t)
        if not self.tasks:
            self.unsetCursor()

    @property
    def busy(self) -> bool:
        return bool(self.tasks)

    def _error(self, e) -> None:
        msg = friendly_error(e) if isinstance(e, BaseException) else str(e)
        self.last_error = msg
        self.details.setPlainText(msg)
        parent = self.parent()
        if parent is not None and hasattr(parent, "show_error"):
            parent.show_error(msg)

    # -- actions --------------------------------------------------------------------------------------
    def check_selected(self) -> _Task | None:
        e = self.selected()
        if e is None:
            return None
        path = e.path
        return self._start(lambda _t: modelstore.check_model(path), self._on_checked,
                           f"Checking {e.name}: loading it and hashing its files…")

    def _on_checked(self, rep) -> None:
        self.reports[str(_resolved(rep.path))] = rep
        name = self.selected().name if self.selected() else None
        self.refresh(select=name)
        self.details.setPlainText("\n".join(rep.lines()))

    def add_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder (G and D checkpoints)")
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder, name: str | None = None) -> _Task:
        store = self.store

        def work(_t):
            rep = modelstore.check_model(folder, hash_files=False)
            entry = store.add(folder, name=name or _free_name(store, rep.name), check=False)
            return entry, rep
        return self._start(work, self._on_added, f"Checking {folder}…")

    def _on_added(self, value) -> None:
        entry, rep = value
        self.reports[str(_resolved(rep.path))] = rep
        self.refresh(select=entry.name)
        self.details.setPlainText(f"Added '{entry.name}'.\n\n" + "\n".join(rep.lines()))

    def remove_selected(self) -> None:
        e = self.selected()
        if e is None or e.bundled:
            return
        try:
            self.store.remove(e.name)
        except Exception as ex:  # noqa: BLE001
            self._error(ex)
            return
        self.refresh()
        self.details.setPlainText(f"Removed '{e.name}' from the list. Its files are still in {e.path}.")

    def use_selected(self) -> None:
        e = self.selected()
        if e is None or not e.exists:
            return
        self.active_path = _resolved(e.path)
        self.modelChosen.emit(e.path, e.name)
        self.refresh(select=e.name)

    # -- download -------------------------------------------------------------------------------------
    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Download into")
        if folder:
            self.folder.setText(folder)

    def start_download(self) -> _Task | None:
        url, sha, folder = self.url.text().strip(), self.sha.text().strip(), self.folder.text().strip()
        if not url or not sha or not folder:
            self._error("Give the URL, the file's SHA-256 and a folder to download into.")
            return None
        self._cancel_download.clear()
        cancel = self._cancel_download
        store = self.store

        def work(t):
            def progress(done, total):
                if cancel.is_set():
                    raise Cancelled("download cancelled")
                t.progress.emit(done, total)
            path = modelstore.download(url, sha, folder, progress=progress)
            try:  # a complete model folder is registered at once; a single file waits for its pair
                rep = modelstore.check_model(folder, hash_files=False)
            except Exception:  # noqa: BLE001
                return path, None, None
            entry = store.get(rep.name)
            if entry is None or _resolved(entry.path) != _resolved(folder):
                entry = store.add(folder, name=_free_name(store, rep.name), check=False)
            return path, entry, rep

        self.download_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.progress.setFormat("Connecting…")
        t = _Task(work, self)
        t.progress.connect(self._on_progress)
        t.done.connect(lambda v: (self._finish(t), self._download_done(v)))
        t.failed.connect(lambda e: (self._finish(t), self._download_failed(e)))
        self.tasks.append(t)
        return t.start()

    def _on_progress(self, done, total) -> None:
        if total:
            if self.progress.maximum() != 1000:
                self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{done / 2 ** 20:,.1f} of {total / 2 ** 20:,.1f} MB · %p %")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(f"{done / 2 ** 20:,.1f} MB")

    def _download_done(self, value) -> None:
        path, entry, rep = value
        self.download_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.progress.setFormat(f"{Path(path).name}: SHA-256 verified")
        if entry is not None:
            self.reports[str(_resolved(rep.path))] = rep
            self.refresh(select=entry.name)
            self.details.setPlainText(f"Downloaded {path} (SHA-256 verified) and added '{entry.name}'.\n\n"
                                      + "\n".join(rep.lines()))
        else:
            self.details.setPlainText(f"Downloaded {path} (SHA-256 verified).\nThe folder is not a complete model "
                                      "yet: download its other checkpoint file (G_ema and D, or config.json) "
                                      "into the same folder.")

    def _download_failed(self, e) -> None:
        self.download_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        if isinstance(e, Cancelled):
            self.progress.setFormat("Cancelled — Download again to resume")
            self.details.setPlainText("Download cancelled; what was fetched is kept and the next try resumes.")
            return
        self.progress.setFormat("Failed")
        self._error(e)

    def _cancel(self) -> None:
        self._cancel_download.set()

    def wait(self, timeout: float = 60.0) -> None:
        """Tests and scripts: block until the background work is done (callbacks delivered)."""
        from PySide6.QtCore import QCoreApplication
        import time
        end = time.monotonic() + timeout
        while self.tasks and time.monotonic() < end:
            for t in list(self.tasks):
                t.thread.join(0.02)
            QCoreApplication.processEvents()

    def done(self, r: int) -> None:  # noqa: A003 - QDialog.done: cancel a download when closing
        self._cancel_download.set()
        super().done(r)


def _resolved(path) -> Path | None:
    if path is None:
        return None
    try:
        return Path(path).expanduser().resolve()
    except OSError:
        return Path(path)


def _free_name(store, name: str) -> str:
    taken = {e.name for e in store.list()}
    if name not in taken:
        return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"
