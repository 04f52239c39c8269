"""Choosing the class the generator should explain the photo with.

``ClassPicker``: search by name or id, favourites and recent classes (per model, kept in
QSettings), and "unknown — let the engine search" (class None).
``CompactClassPicker``: an editable combo box with the same search, for the manipulation panel.
"""
from __future__ import annotations

import html

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QCompleter, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QMenu, QToolButton, QVBoxLayout, QWidget)

from . import icons, settings

UNKNOWN_TEXT = "Unknown — let the engine search"
ROLE_ID = Qt.UserRole
ROLE_KIND = Qt.UserRole + 1      # "class", "unknown" or "header"


def matches(query: str, idx: int, name: str) -> bool:
    q = query.strip().lower()
    if not q:
        return True
    if q.isdigit():
        return str(idx).startswith(q) or q in name.lower()
    return all(part in name.lower() for part in q.split())


def rank(query: str, idx: int, name: str) -> tuple:
    """Exact id / exact name first, then names starting with the query, then the rest."""
    q = query.strip().lower()
    low = name.lower()
    synonyms = [p.strip() for p in low.split(",")]
    return (0 if q == str(idx) else 1, 0 if q in synonyms else 1,
            0 if any(s.startswith(q) for s in synonyms) else 1, idx)


class ClassPicker(QWidget):
    classChanged = Signal(object)            # int, or None for "let the engine search"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.names: list[str] = []
        self.model_key = "none"
        self._current: int | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        row = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search classes by name or id…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._refill)
        self.search.returnPressed.connect(self.pick_first)
        self.star = QToolButton()
        self.star.setToolTip("Add the chosen class to favourites")
        self.star.setCheckable(True)
        self.star.clicked.connect(self._toggle_favourite)
        icons.bind(self.star, "mdi6.star-outline")
        row.addWidget(self.search, 1)
        row.addWidget(self.star)
        lay.addLayout(row)
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        self.list.setAlternatingRowColors(False)
        self.list.currentItemChanged.connect(self._on_item)
        self.list.setContextMenuPolicy(Qt.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.setMinimumHeight(120)
        lay.addWidget(self.list, 1)
        self.chosen = QLabel()
        self.chosen.setWordWrap(True)
        lay.addWidget(self.chosen)
        # what the engine's search picked for the photo on screen, while the choice is "unknown":
        # the picked class decides e.g. a colorization's palette, and the search cannot see colour
        self.found = QLabel()
        self.found.setWordWrap(True)
        self.found.setObjectName("hint")
        self.found.linkActivated.connect(lambda _link: self.use_found())
        lay.addWidget(self.found)
        self._found: int | None = None
        self._found_note = ""
        self._update_label()

    # -- data -------------------------------------------------------------------------------
    def set_classes(self, names: list[str], model_key: str = "model") -> None:
        self.names = list(names)
        self.model_key = model_key.replace("/", "_")
        self._found = None      # another model's search result means nothing here
        if self._current is not None and self._current >= len(self.names):
            self._current = None
        self._refill()
        self._update_label()

    def favourites(self) -> list[int]:
        return [int(v) for v in settings.read_list(f"classes/{self.model_key}/favourites")
                if str(v).isdigit() and int(v) < len(self.names)]

    def recent(self) -> list[int]:
        return [int(v) for v in settings.read_list(f"classes/{self.model_key}/recent")
                if str(v).isdigit() and int(v) < len(self.names)]

    def note_used(self, class_id: int | None) -> None:
        if class_id is not None:
            settings.push_recent(f"classes/{self.model_key}/recent", str(int(class_id)), limit=8)
            if not self.search.text():
                self._refill()

    def set_favourite(self, class_id: int, on: bool) -> None:
        favs = [f for f in self.favourites() if f != class_id]
        if on:
            favs.insert(0, class_id)
        settings.write_list(f"classes/{self.model_key}/favourites", [str(f) for f in favs])
        self._refill()
        self._update_label()

    def current(self) -> int | None:
        return self._current

    def set_current(self, class_id: int | None, emit: bool = True) -> None:
        if class_id is not None and not 0 <= int(class_id) < len(self.names):
            class_id = None
        changed = class_id != self._current
        self._current = None if class_id is None else int(class_id)
        self._select_in_list()
        self._update_label()
        if changed and emit:
            self.classChanged.emit(self._current)

    def set_found(self, class_id: int | None, note: str = "") -> None:
        """The class the last run's search picked (None: no searched run to show)."""
        if class_id is not None and not 0 <= int(class_id) < len(self.names):
            class_id = None
        self._found = None if class_id is None else int(class_id)
        self._found_note = note
        self._update_label()

    def found_class(self) -> int | None:
        return self._found

    def use_found(self) -> None:
        """Keep the searched class: later runs use it (and the user can star it or pick another)."""
        if self._found is not None:
            cid = self._found
            self.set_current(cid)
            self.note_used(cid)

    def label(self, class_id: int | None) -> str:
        if class_id is None:
            return "unknown (the engine searches)"
        return f"{self.names[class_id]}  ·  {class_id}" if class_id < len(self.names) else str(class_id)

    # -- list -------------------------------------------------------------------------------
    def _add(self, text: str, kind: str, cid=None) -> QListWidgetItem:
        it = QListWidgetItem(text)
        it.setData(ROLE_ID, cid)
        it.setData(ROLE_KIND, kind)
        if kind == "header":
            it.setFlags(Qt.NoItemFlags)
            f = it.font()
            f.setBold(True)
            f.setPointSizeF(f.pointSizeF() * 0.9)
            it.setFont(f)
        self.list.addItem(it)
        return it

    def _refill(self) -> None:
        q = self.search.text()
        self.list.blockSignals(True)
        self.list.clear()
        self._add(UNKNOWN_TEXT, "unknown")
        favs = self.favourites()
        if not q.strip():
            recent = [r for r in self.recent() if r not in favs]
            if favs:
                self._add("★ Favourites", "header")
                for i in favs:
                    self._add(f"★ {self.names[i]}  ·  {i}", "class", i)
            if recent:
                self._add("Recent", "header")
                for i in recent:
                    self._add(f"{self.names[i]}  ·  {i}", "class", i)
            self._add(f"All {len(self.names)} classes", "header")
            for i, n in enumerate(self.names):
                self._add(f"{'★ ' if i in favs else ''}{n}  ·  {i}", "class", i)
        else:
            hits = [i for i, n in enumerate(self.names) if matches(q, i, n)]
            hits.sort(key=lambda i: (i not in favs, rank(q, i, self.names[i])))
            self._add(f"{len(hits)} match{'es' if len(hits) != 1 else ''}", "header")
            for i in hits:
                self._add(f"{'★ ' if i in favs else ''}{self.names[i]}  ·  {i}", "class", i)
        self.list.blockSignals(False)
        self._select_in_list()

    def _select_in_list(self) -> None:
        self.list.blockSignals(True)
        target = None
        for r in range(self.list.count()):
            it = self.list.item(r)
            kind = it.data(ROLE_KIND)
            if (self._current is None and kind == "unknown") or (kind == "class" and it.data(ROLE_ID) == self._current):
                target = it
                break
        self.list.setCurrentItem(target)
        if target is not None:
            self.list.scrollToItem(target)
        self.list.blockSignals(False)

    def first_match(self):
        """The id (or None for unknown) that Enter would pick; ``False`` when nothing matches."""
        q = self.search.text().strip().lower()
        if q and q in ("unknown", "auto", "search"):
            return None
        for r in range(self.list.count()):
            it = self.list.item(r)
            if it.data(ROLE_KIND) == "class":
                return it.data(ROLE_ID)
        return False

    def pick_first(self) -> None:
        cid = self.first_match()
        if cid is not False:
            self.set_current(cid)
            self.note_used(cid)

    def _on_item(self, item, _prev=None) -> None:
        if item is None or item.data(ROLE_KIND) == "header":
            return
        cid = item.data(ROLE_ID) if item.data(ROLE_KIND) == "class" else None
        if cid != self._current:
            self._current = cid
            self._update_label()
            self.classChanged.emit(cid)

    def _update_label(self) -> None:
        fav = self._current is not None and self._current in self.favourites()
        self.star.setEnabled(self._current is not None)
        self.star.blockSignals(True)
        self.star.setChecked(fav)
        self.star.blockSignals(False)
        self.star.setIcon(icons.icon("mdi6.star" if fav else "mdi6.star-outline",
                                     "#f2b01e" if fav else None))
        self.chosen.setText(f"<b>Class:</b> {html.escape(self.label(self._current)) if self.names else '—'}")
        show = self._found is not None and self._current is None and bool(self.names)
        if show:
            note = f" {self._found_note}" if self._found_note else ""
            self.found.setText(f"The search picked <b>{html.escape(self.names[self._found])}</b> for this photo.{note} "
                               f"<a href=\"use\">Keep this class</a>")
        self.found.setVisible(show)

    def _toggle_favourite(self) -> None:
        if self._current is not None:
            self.set_favourite(self._current, self._current not in self.favourites())

    def _menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None or item.data(ROLE_KIND) != "class":
            return
        cid = item.data(ROLE_ID)
        fav = cid in self.favourites()
        menu = QMenu(self)
        act = QAction("Remove from favourites" if fav else "Add to favourites", menu)
        act.triggered.connect(lambda: self.set_favourite(cid, not fav))
        menu.addAction(act)
        menu.exec(self.list.mapToGlobal(pos))


class CompactClassPicker(QComboBox):
    """Editable combo: type part of a name or an id; picks live as the selection changes."""
    classChanged = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.NoInsert)
        self.setMaxVisibleItems(14)
        self.lineEdit().setPlaceholderText("class name or id")
        self._names: list[str] = []
        self._model = QStringListModel(self)
        comp = QCompleter(self)
        comp.setModel(self._model)
        comp.setFilterMode(Qt.MatchContains)
        comp.setCaseSensitivity(Qt.CaseInsensitive)
        comp.setCompletionMode(QCompleter.PopupCompletion)
        self.setCompleter(comp)
        comp.activated[str].connect(self._from_text)
        self.currentIndexChanged.connect(self._on_index)
        self.lineEdit().returnPressed.connect(lambda: self._from_text(self.lineEdit().text()))

    def set_classes(self, names: list[str]) -> None:
        self._names = list(names)
        labels = [f"{n}  ·  {i}" for i, n in enumerate(names)]
        self.blockSignals(True)
        self.clear()
        self.addItems(labels)
        self._model.setStringList(labels)
        self.blockSignals(False)

    def current(self) -> int:
        return max(0, self.currentIndex())

    def set_current(self, class_id: int, emit: bool = True) -> None:
        if not emit:
            self.blockSignals(True)
        self.setCurrentIndex(int(class_id))
        self.blockSignals(False)

    def _on_index(self, i: int) -> None:
        if i >= 0:
            self.classChanged.emit(i)

    def _from_text(self, text: str) -> None:
        t = text.strip().lower()
        if not t:
            return
        if "·" in t:
            t = t.rsplit("·", 1)[1].strip()
        if t.isdigit() and int(t) < len(self._names):
            self.setCurrentIndex(int(t))
            return
        hits = [i for i, n in enumerate(self._names) if matches(t, i, n)]
        if hits:
            hits.sort(key=lambda i: rank(t, i, self._names[i]))
            self.setCurrentIndex(hits[0])
