"""Work-around for PySide6 6.12.0 on Python < 3.12.

There, every call of a Qt method that returns void releases a reference to ``None`` that it never
took (measured: ``QLabel.setText``, ``QTimer.start``, ``processEvents`` each drop one).  After a
few thousand calls None's count reaches zero and the interpreter aborts with
"Fatal Python error: none_dealloc".  Python 3.12+ makes None immortal, which hides the bug; we do
the same here by giving None (and True/False) a reference count that cannot run out.  The probe
runs once; nothing changes on versions without the bug.
"""
from __future__ import annotations

import ctypes
import sys

HUGE = 1 << 40


def leaks_none() -> bool:
    from PySide6.QtCore import QObject
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(8):
        probe.setObjectName("probe")
    return sys.getrefcount(None) < before - 4


def apply() -> bool:
    """Returns True when the work-around was needed and applied."""
    if sys.version_info >= (3, 12) or not leaks_none():
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += HUGE  # ob_refcnt is PyObject's first field
    return True


APPLIED = apply()
