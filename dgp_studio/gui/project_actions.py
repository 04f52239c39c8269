"""File > Open Project… / Save Project / Save Project As… for the editor window.

``ProjectActions(window)`` owns the actions and the background writer; the window routes
``.dgp`` paths (open dialog, command line, drag & drop, recent files) to ``open``.  Every
failure becomes ``friendly_error(exc)`` in a message box; a failed save leaves the previous
file whole (``core.project`` writes atomically) and the photo marked unsaved.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QFileDialog

from dgp_studio.core import project as core_project
from dgp_studio.core.errors import friendly_error

from . import icons, project_io, settings, shortcuts
from .project_io import Background, ModelMismatch, PROJECT_FILTER


class SaveProjectDialog(QFileDialog):
    """The save dialog with the "embed the photo" choice (Qt's own dialog: native ones cannot
    take an extra widget)."""

    def __init__(self, parent, start: str, embed: bool):
        super().__init__(parent, "Save project", start, PROJECT_FILTER)
        self.setOption(QFileDialog.DontUseNativeDialog, True)
        self.setAcceptMode(QFileDialog.AcceptSave)
        self.setDefaultSuffix("dgp")
        self.embed_box = QCheckBox("Embed a copy of the photo (otherwise: its path and SHA-256)")
        self.embed_box.setToolTip("Embedded: the project opens anywhere. Path only: a smaller file that needs the "
                                  "photo to stay where it is, unchanged.")
        self.embed_box.setChecked(embed)
        lay = self.layout()
        if lay is not None and hasattr(lay, "rowCount"):
            lay.addWidget(self.embed_box, lay.rowCount(), 0, 1, -1)


class ProjectActions(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.background = Background(self)
        self.ask_save_path = self._ask_save_path          # replaced in tests: (doc) -> (path, embed) | None
        self.last_saved: Path | None = None
        self.open_action = self._action("open_project", self.open_dialog, "mdi6.folder-open")
        self.save_action = self._action("save_project", lambda: self.save(), "mdi6.content-save-outline")
        self.save_as_action = self._action("save_project_as", lambda: self.save_as(),
                                           "mdi6.content-save-edit-outline")

    def _action(self, key, slot, icon_name) -> QAction:
        """Label and keys from the shortcut table (so the F1 cheat-sheet lists them)."""
        _group, text, seqs = shortcuts.SHORTCUTS[key]
        a = QAction(text, self.w)
        icons.bind(a, icon_name)
        a.setShortcuts(shortcuts.keys(key))
        a.setToolTip(f"{text} ({shortcuts.native(seqs[0])})")
        a.triggered.connect(slot)
        self.w.addAction(a)
        return a

    def update_enabled(self) -> None:
        has_doc = self.w.current is not None
        self.save_action.setEnabled(has_doc)
        self.save_as_action.setEnabled(has_doc)

    # -- opening ---------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = settings.value("last_project_dir", settings.value("last_dir", str(Path.home())))
        paths, _ = QFileDialog.getOpenFileNames(self.w, "Open project", start,
                                                f"{PROJECT_FILTER};;All files (*)")
        if paths:
            settings.set_value("last_project_dir", str(Path(paths[0]).parent))
            self.w.open_paths(paths)

    def open(self, path, activate: bool = True, autosave=None):
        """Open a ``.dgp`` (or the autosave ``autosave`` describes) as a new tab; returns the
        Document, or None after showing why it cannot be opened."""
        path = Path(path)
        for d in self.w.docs:  # the same project twice would fork it
            if d.project_path is not None and autosave is None and _same(d.project_path, path):
                self.w.tabs.setCurrentIndex(self.w.docs.index(d))
                return d
        relinked = False
        try:
            project = core_project.open_project(path)
            try:
                doc = project_io.read_document(path, project, autosave.project_path if autosave else None)
            except core_project.OriginalMissing as e:
                found = self.locate_original(project, str(e))
                if found is None:
                    raise
                project.relink(found)
                doc = project_io.read_document(path, project, autosave.project_path if autosave else None)
                relinked = True
        except Exception as e:  # noqa: BLE001 - any unusable file becomes a message
            self.w.show_error(f"Cannot open {path.name}: {friendly_error(e)}")
            return None
        if relinked:
            doc.touch()  # the new link is unsaved work
        if autosave is not None:
            doc.revision = 1            # recovered work: unsaved until the user saves it
            doc.autosaved_revision = 1
            doc.autosave_file = path
        else:
            settings.push_recent("recent_files", str(path.resolve()))
            settings.push_recent("recent_projects", str(path.resolve()))
        for p in project_io.cache_entries(doc.project_data):
            self.background.submit(lambda p=p: self.w.result_cache and self.w.result_cache.put_entry(p))
        self.w._add_document(doc, activate=activate)
        self.attach(doc)
        if doc.project_data.damaged:
            self.w.show_error(f"{path.name}: some parts were damaged and left out:\n"
                              + "\n".join(doc.project_data.damaged))
        return doc

    def locate_original(self, project, why: str):
        """Ask where the moved original is; None = the user gave up.  (Tests replace this.)"""
        name = project.image_name or Path(project.image_path or "photo").name
        if getattr(self.w, "quiet", False):
            return None
        path, _ = QFileDialog.getOpenFileName(
            self.w, f"Where is {name} now? ({why.split(': ', 1)[-1]})", str(Path(project.image_path or "").parent),
            f"The original ({name});;All files (*)")
        return path or None

    def attach(self, doc) -> bool:
        """The project's results (and its task settings) on the loaded model: no optimisation."""
        if self.w.gan is None or doc.project_data is None:
            return False
        if doc is self.w.current or len(self.w.docs) == 1:
            project_io.apply_panel_settings(self.w.task_panel, doc.project_data.settings.get("panel"))
        try:
            entry = project_io.attach_results(self.w, doc)
        except ModelMismatch as e:
            self.w.show_error(str(e))
            return False
        except Exception as e:  # noqa: BLE001
            self.w.show_error(f"{doc.name}: the results cannot be restored ({friendly_error(e)}); "
                              "the photo, mask and settings are open.")
            return False
        if entry is None:
            return False

        def composite_ready(img) -> None:
            if img is not None and self.w.cache.get(doc.id) is entry:
                entry.composite = img
                if doc is self.w.current:
                    self.w._show_result(doc)
        self.background.submit(lambda: project_io.composite_for(doc, entry), composite_ready)
        if doc is self.w.current:
            self.w._show_result(doc)
            self.w.timeline.set_data(doc.timeline)
            self.w._sync_progress()
        self.w._refresh_manip()
        self.w._update_enabled()
        self.w.status.showMessage(f"Opened {doc.name}: result restored without optimising "
                                  f"({entry.result.steps_done} iterations saved)", 8000)
        return True

    def attach_all(self) -> None:
        """After a model (re)load: every open project's results that fit it."""
        for doc in list(self.w.docs):
            if doc.project_data is not None and not self.w.cache.has(doc.id):
                self.attach(doc)

    # -- saving ----------------------------------------------------------------------------------
    def _ask_save_path(self, doc):
        if doc.project_path is not None:
            start = str(doc.project_path)
        elif doc.path is not None:
            start = str(doc.path.with_suffix(".dgp"))
        else:
            start = str(Path(settings.value("last_project_dir", str(Path.home()))) / f"{doc.name}.dgp")
        dlg = SaveProjectDialog(self.w, start, doc.embed if doc.path is not None else True)
        dlg.embed_box.setEnabled(doc.path is not None)  # a photo without a file can only be embedded
        if dlg.exec() != QFileDialog.Accepted or not dlg.selectedFiles():
            return None
        return dlg.selectedFiles()[0], dlg.embed_box.isChecked()

    def save(self, doc=None, path=None, embed: bool | None = None, wait: bool = False) -> bool:
        """Save ``doc`` (default: the current photo) to ``path`` (default: its project file,
        else ask).  Returns False if nothing was started; ``wait`` blocks until written."""
        doc = doc or self.w.current
        if doc is None:
            return False
        if path is None and doc.project_path is None:
            return self.save_as(doc, wait=wait)
        return self._write(doc, Path(path) if path is not None else doc.project_path, embed, wait)

    def save_as(self, doc=None, wait: bool = False) -> bool:
        doc = doc or self.w.current
        if doc is None:
            return False
        answer = self.ask_save_path(doc)
        if not answer:
            return False
        path, embed = answer
        return self._write(doc, Path(path), embed, wait)

    def _write(self, doc, path: Path, embed, wait: bool) -> bool:
        if not path.name.endswith(core_project.SUFFIX):
            path = path.with_name(path.name + core_project.SUFFIX)
        if self.w.worker is not None and self.w._run_doc is doc:
            self.w.show_error("This photo is being restored: save the project when the run has finished.")
            return False
        try:
            cap = project_io.capture(self.w, doc, embed)
        except Exception as e:  # noqa: BLE001
            self.w.show_error(f"Cannot save {path.name}: {friendly_error(e)}")
            return False
        gan = self.w.gan
        self.w.status.showMessage(f"Saving {path.name}…")
        self.w.setCursor(Qt.BusyCursor)

        def done(written: Path) -> None:
            self.w.unsetCursor()
            old_autosave = getattr(doc, "autosave_file", None)
            if doc.revision == cap.revision:
                doc.saved_revision = cap.revision
            doc.embed = cap.embed
            doc.project_path = Path(written)
            self.last_saved = Path(written)
            settings.push_recent("recent_files", str(Path(written).resolve()))
            settings.push_recent("recent_projects", str(Path(written).resolve()))
            settings.set_value("last_project_dir", str(Path(written).parent))
            self.w.autosave.discard(doc, old_autosave)
            self.w._fill_recent()
            self.w._retitle(doc)
            size = Path(written).stat().st_size
            self.w.status.showMessage(f"Saved {written} ({size / 2 ** 20:.1f} MB"
                                      f"{', photo embedded' if cap.embed else ', photo by path'})", 8000)

        def failed(e: Exception) -> None:
            self.w.unsetCursor()
            self.w.show_error(f"Cannot save {path.name}: {friendly_error(e)}\n"
                              "Nothing was lost: the editor keeps everything, and an earlier file stays as it was.")

        self.background.submit(lambda: project_io.write_project(cap, gan, path), done, failed, wait=wait)
        return True



def _same(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False
