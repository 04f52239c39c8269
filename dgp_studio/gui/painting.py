"""paintEvent with a painter that always ends.

A Python error inside a paintEvent that leaves its QPainter active crashes Qt (the backing
store is destroyed while being painted: a segfault, every open photo lost).  With the painter
ended in ``finally``, the error reaches the window's error hook as a message instead.
"""
from __future__ import annotations

import functools

from PySide6.QtGui import QPainter


def paints(method):
    """Decorate ``paintEvent(self, p, event)``: Qt calls ``paintEvent(self, event)``."""
    @functools.wraps(method)
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        try:
            method(self, p, event)
        finally:
            p.end()
    return paintEvent
