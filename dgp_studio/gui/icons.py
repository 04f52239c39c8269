"""qtawesome icons tinted with the current palette, re-tinted when the theme changes."""
from __future__ import annotations

import weakref

import qtawesome as qta
from PySide6.QtGui import QIcon, QPalette
from PySide6.QtWidgets import QApplication

_bound: list[tuple[weakref.ref, str, str]] = []  # (widget/action, icon name, setter)


def icon(name: str, color: str | None = None) -> QIcon:
    pal = QApplication.palette()
    col = color or pal.color(QPalette.ButtonText).name()
    dis = pal.color(QPalette.Disabled, QPalette.ButtonText).name()
    return qta.icon(name, color=col, color_disabled=dis, color_active=col)


def bind(obj, name: str) -> None:
    """Give ``obj`` (QAction or button) the icon now and again after every theme change."""
    obj.setIcon(icon(name))
    _bound[:] = [b for b in _bound if b[0]() is not obj]
    _bound.append((weakref.ref(obj), name, "setIcon"))


def retint() -> None:
    alive = []
    for ref, name, setter in _bound:
        obj = ref()
        if obj is None:
            continue
        try:
            getattr(obj, setter)(icon(name))
        except RuntimeError:  # the C++ object is gone
            continue
        alive.append((ref, name, setter))
    _bound[:] = alive
