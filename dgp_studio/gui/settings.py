"""Persistent preferences (recent files, favourite classes, brush, theme) through QSettings.

``DGP_STUDIO_SETTINGS=/path/file.ini`` points them at a file (tests, portable installs).
"""
from __future__ import annotations

import os

from PySide6.QtCore import QSettings

MAX_RECENT = 10


def settings() -> QSettings:
    path = os.environ.get("DGP_STUDIO_SETTINGS")
    if path:
        return QSettings(path, QSettings.IniFormat)
    return QSettings("DGP Studio", "dgp-studio")


def read_list(key: str) -> list[str]:
    v = settings().value(key, [])
    if v is None:
        return []
    if isinstance(v, str):
        return [v] if v else []
    return [str(x) for x in v]


def write_list(key: str, values) -> None:
    s = settings()
    s.setValue(key, list(values))
    s.sync()


def push_recent(key: str, value: str, limit: int = MAX_RECENT) -> list[str]:
    """Most recent first, no duplicates."""
    items = [v for v in read_list(key) if v != value]
    items.insert(0, value)
    items = items[:limit]
    write_list(key, items)
    return items


def value(key: str, default=None, type_=None):
    v = settings().value(key, default)
    if type_ is not None and v is not None:
        try:
            if type_ is bool and isinstance(v, str):
                return v.lower() in ("1", "true", "yes")
            return type_(v)
        except (TypeError, ValueError):
            return default
    return v


def set_value(key: str, v) -> None:
    s = settings()
    s.setValue(key, v)
    s.sync()
