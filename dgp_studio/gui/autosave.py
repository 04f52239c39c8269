"""Autosave: every few minutes (``autosave/minutes`` in the settings, default 3, 0 = off) and
at crash-safe points (a run has finished), each photo with unsaved changes is written as a
``.dgp.autosave`` (beside its project, or in the cache folder for an untitled one) on the
project thread.  A normal close removes them; on the next start, autosaves whose writer
process is gone (killed, crashed) are offered back (``offer_restore``; the question is
``ask_restore`` so tests can answer it).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMessageBox

from dgp_studio.core import project as core_project
from dgp_studio.core.errors import friendly_error

from . import project_io, settings

DEFAULT_MINUTES = 3.0
CHOICES = (0, 1, 3, 5, 10)   # minutes offered in File > Autosave


MAX_MINUTES = 24 * 60  # QTimer takes at most ~24 days in ms; anything above a day is a damaged setting


def interval_minutes() -> float:
    """The saved interval; a damaged one (NaN, infinite, negative, huge: the editor did not start
    with 1e9) is the default."""
    v = settings.value("autosave/minutes", DEFAULT_MINUTES, float)
    return float(v) if v is not None and 0 <= v <= MAX_MINUTES else DEFAULT_MINUTES


class AutosaveManager(QObject):
    def __init__(self, window, background):
        super().__init__(window)
        self.w = window
        self.background = background
        self.ask_restore = self._ask_restore     # (list[core.project.Autosave]) -> bool; tests replace it
        self.written: list[Path] = []            # every autosave written this session (tests, status)
        self.timer = QTimer(self)
        self.timer.timeout.connect(lambda: self.autosave_all())
        self.set_interval(interval_minutes(), remember=False)

    def set_interval(self, minutes: float, remember: bool = True) -> None:
        if remember:
            settings.set_value("autosave/minutes", float(minutes))
        self.minutes = float(minutes)
        if minutes > 0:
            self.timer.start(int(minutes * 60_000))
        else:
            self.timer.stop()

    # -- writing -----------------------------------------------------------------------------------
    def needs_autosave(self, doc) -> bool:
        return doc.revision > max(doc.saved_revision, doc.autosaved_revision)

    def autosave_all(self, wait: bool = False) -> int:
        """Autosave every photo with changes not yet written; returns how many were queued."""
        n = 0
        for doc in list(self.w.docs):
            if self.w.worker is not None and self.w._run_doc is doc:
                continue  # mid-run: it is written when the run finishes
            if self.needs_autosave(doc):
                n += bool(self.autosave(doc, wait=wait))
        return n

    def autosave(self, doc, wait: bool = False) -> bool:
        try:
            cap = project_io.capture(self.w, doc, embed=doc.embed if doc.path is not None else True)
        except Exception as e:  # noqa: BLE001 - an autosave never interrupts the user
            self.w.status.showMessage(f"Autosave skipped: {friendly_error(e)}", 8000)
            return False
        gan = self.w.gan

        def done(path: Path) -> None:
            doc.autosaved_revision = max(doc.autosaved_revision, cap.revision)
            doc.autosave_file = Path(path)
            self.written.append(Path(path))
            self.w.status.showMessage(f"Autosaved {doc.name}", 3000)

        def failed(e: Exception) -> None:
            # the work is still in the editor; say so once in the status bar, not in a dialog
            self.w.status.showMessage(f"Autosave failed: {friendly_error(e)}", 10000)
            self.w.last_error = f"Autosave failed: {friendly_error(e)}"

        self.background.submit(lambda: project_io.write_autosave(cap, gan), done, failed, wait=wait)
        return True

    def discard(self, doc, extra: Path | None = None) -> None:
        """The photo is saved or closed: its autosaves are no longer needed."""
        paths = {getattr(doc, "autosave_file", None), extra,
                 core_project.autosave_dir() / f"{doc.project_uid}{core_project.AUTOSAVE_SUFFIX}"}
        if doc.project_path is not None:
            paths.add(core_project.autosave_path(None, doc.project_path))

        def remove():
            for p in paths:
                if p is not None:
                    core_project.discard_autosave(p)
        self.background.submit(remove)
        doc.autosave_file = None

    def discard_all(self) -> None:
        for doc in list(self.w.docs):
            self.discard(doc)
        self.background.drain()

    # -- recovering ----------------------------------------------------------------------------------
    def left_behind(self) -> list:
        """Autosaves whose process is gone, newest first (the cache folder and beside every
        recent project)."""
        places = [p for p in settings.read_list("recent_projects") if p]
        try:
            return core_project.find_autosaves(places)
        except OSError:
            return []

    def _ask_restore(self, found) -> bool:
        names = "\n".join(f"• {Path(a.project_path).name if a.project_path else 'untitled photo'}" for a in found[:8])
        more = f"\n… and {len(found) - 8} more" if len(found) > 8 else ""
        box = QMessageBox(QMessageBox.Question, "Recover unsaved work",
                          "DGP Studio did not close normally last time. Restore the autosaved work?\n\n"
                          f"{names}{more}", QMessageBox.Yes | QMessageBox.No, self.w)
        box.setDefaultButton(QMessageBox.Yes)
        box.button(QMessageBox.Yes).setText("Restore")
        box.button(QMessageBox.No).setText("Discard")
        return box.exec() == QMessageBox.Yes

    def offer_restore(self) -> list:
        """Offer autosaves left by a killed process; returns the documents restored."""
        found = self.left_behind()
        if not found:
            return []
        if not self.ask_restore(found):
            for a in found:
                core_project.discard_autosave(a.path)
            self.w.status.showMessage(f"Discarded {len(found)} autosave(s)", 5000)
            return []
        docs = []
        for a in found:
            doc = self.w.projects.open(a.path, autosave=a)
            if doc is not None:
                docs.append(doc)
        if docs:
            self.w.status.showMessage(f"Restored {len(docs)} photo(s) from the autosave — save them to keep them",
                                      10000)
        return docs
