"""Every keyboard shortcut in one table, and the F1 cheat-sheet built from it."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QGridLayout, QHBoxLayout, QLabel, QScrollArea,
                               QVBoxLayout, QWidget)

# action id -> (group, label, key sequences)
SHORTCUTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "open": ("File", "Open photo…", ("Ctrl+O",)),
    "open_project": ("File", "Open project…", ("Ctrl+Shift+O",)),
    "save_project": ("File", "Save project", ("Ctrl+S",)),
    "save_project_as": ("File", "Save project as…", ("Ctrl+Shift+S",)),
    "export": ("File", "Export result…", ("Ctrl+E",)),
    "close": ("File", "Close photo", ("Ctrl+W",)),
    "quit": ("File", "Quit", ("Ctrl+Q",)),
    "copy": ("File", "Copy the result", ("Ctrl+C",)),
    "paste": ("File", "Paste an image as a new photo", ("Ctrl+V",)),
    "undo": ("Mask", "Undo", ("Ctrl+Z",)),
    "redo": ("Mask", "Redo", ("Ctrl+Shift+Z", "Ctrl+Y")),
    "tool_region": ("Tools", "Region selector", ("V",)),
    "tool_brush": ("Tools", "Mask brush", ("B",)),
    "tool_eraser": ("Tools", "Eraser", ("E",)),
    "tool_rect": ("Tools", "Rectangle mask", ("R",)),
    "tool_bucket": ("Tools", "Fill enclosed area", ("G",)),
    "tool_pan": ("Tools", "Hand (pan)", ("H",)),
    "brush_smaller": ("Mask", "Smaller brush", ("[",)),
    "brush_bigger": ("Mask", "Bigger brush", ("]",)),
    "brush_softer": ("Mask", "Softer brush", ("{",)),
    "brush_harder": ("Mask", "Harder brush", ("}",)),
    "mask_fill": ("Mask", "Fill the whole mask", ("Ctrl+Shift+F",)),
    "mask_clear": ("Mask", "Clear the mask", ("Ctrl+Shift+Backspace", "Ctrl+Shift+X")),
    "mask_invert": ("Mask", "Invert the mask", ("Ctrl+I",)),
    "zoom_in": ("View", "Zoom in", ("+", "=", "Ctrl++")),
    "zoom_out": ("View", "Zoom out", ("-", "Ctrl+-")),
    "zoom_fit": ("View", "Fit to window", ("F", "Ctrl+0")),
    "zoom_100": ("View", "Actual pixels (100 %)", ("1", "Ctrl+Alt+0")),
    "zoom_region": ("View", "Zoom to the region", ("Z",)),
    "compare": ("View", "Before / after split", ("C",)),
    "mode_restore": ("View", "Restore view", ("Ctrl+1",)),
    "mode_manip": ("View", "Manipulate view", ("Ctrl+2",)),
    "next_doc": ("View", "Next photo", ("Ctrl+Tab", "Ctrl+PgDown")),
    "prev_doc": ("View", "Previous photo", ("Ctrl+Shift+Tab", "Ctrl+PgUp")),
    "run": ("Run", "Run the restoration", ("Ctrl+R", "Ctrl+Return")),
    "pause": ("Run", "Pause / resume", ("Ctrl+P",)),
    "cancel": ("Run", "Cancel (keeps the state reached)", ("Esc",)),
    "timeline_latest": ("Run", "Latest snapshot", ("End",)),
    "help": ("Help", "Keyboard shortcuts", ("F1",)),
}

# gestures that are not actions, listed on the cheat-sheet only
GESTURES = [
    ("View", "Zoom under the cursor", "Mouse wheel"),
    ("View", "Pan", "Space + drag, or middle button"),
    ("View", "Hold to see the original", "\\ (hold)"),
    ("Mask", "Erase with brush, rectangle or fill", "Alt + drag"),
    ("Tools", "Move the region", "Drag inside it (V)"),
    ("Tools", "Resize the region", "Drag a corner (V)"),
    ("Tools", "New region", "Drag outside it (V)"),
]

GROUP_ORDER = ["File", "Tools", "Mask", "View", "Run", "Help"]


def keys(action_id: str) -> list[QKeySequence]:
    return [QKeySequence(k) for k in SHORTCUTS[action_id][2]]


def native(seq: str) -> str:
    return QKeySequence(seq).toString(QKeySequence.NativeText) or seq


class CheatSheet(QDialog):
    """F1: every shortcut and mouse gesture, grouped, in two columns."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(940, 660)
        outer = QVBoxLayout(self)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        body = QWidget()
        cols = QHBoxLayout(body)
        cols.setSpacing(28)
        columns = [QVBoxLayout(), QVBoxLayout()]
        for c in columns:
            cols.addLayout(c, 1)
        placement = {"File": 0, "Tools": 0, "Run": 0, "Help": 0, "Mask": 1, "View": 1}
        for group in GROUP_ORDER:
            rows = [(label, "  /  ".join(native(k) for k in ks[:2])) for g, label, ks in SHORTCUTS.values()
                    if g == group]
            rows += [(label, how) for g, label, how in GESTURES if g == group]
            if not rows:
                continue
            col = columns[placement.get(group, 1)]
            title = QLabel(group.upper())
            title.setObjectName("section")
            col.addWidget(title)
            grid = QGridLayout()
            grid.setHorizontalSpacing(16)
            grid.setVerticalSpacing(3)
            for r, (label, how) in enumerate(rows):
                name = QLabel(label)
                name.setWordWrap(True)
                keys_ = QLabel(f"<b>{how}</b>")
                keys_.setWordWrap(True)
                grid.addWidget(name, r, 0)
                grid.addWidget(keys_, r, 1)
            grid.setColumnStretch(0, 3)
            grid.setColumnStretch(1, 2)
            col.addLayout(grid)
            col.addSpacing(8)
        for c in columns:
            c.addStretch(1)
        scroll.setWidget(body)
        outer.addWidget(scroll)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        outer.addWidget(buttons)
