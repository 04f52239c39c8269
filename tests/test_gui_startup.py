"""Starting the editor where no window can open: a sentence saying why, not Qt's plugin abort."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from dgp_studio.gui.app import display_problem, run_app  # noqa: E402

HAS_CURSOR = lambda name: "libxcb-cursor.so.0"  # noqa: E731
NO_CURSOR = lambda name: None  # noqa: E731


def test_no_display_on_linux_is_explained():
    msg = display_problem({}, "linux", HAS_CURSOR)
    assert msg and "no display" in msg and "dgp-studio restore" in msg


def test_missing_xcb_cursor_names_the_package():
    msg = display_problem({"DISPLAY": ":0"}, "linux", NO_CURSOR)
    assert msg and "libxcb-cursor0" in msg and "apt-get install" in msg


def test_fine_cases():
    assert display_problem({"DISPLAY": ":0"}, "linux", HAS_CURSOR) is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux", NO_CURSOR) is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", NO_CURSOR) is None
    assert display_problem({}, "darwin", NO_CURSOR) is None and display_problem({}, "win32", NO_CURSOR) is None


def test_run_app_stops_before_qt_with_the_reason(monkeypatch, capsys):
    for k in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert run_app([]) == 2
    assert "cannot open the editor: there is no display" in capsys.readouterr().err


import pytest  # noqa: E402


@pytest.mark.qt_no_exception_capture
def test_an_uncaught_error_in_a_slot_becomes_a_message(monkeypatch, capsys):
    import sys

    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtWidgets import QApplication

    from dgp_studio.gui.app import install_error_hook

    class Window:
        def __init__(self):
            self.errors = []

        def show_error(self, message):
            self.errors.append(message)

    app = QApplication.instance() or QApplication([])
    win = Window()
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_error_hook(win)

    def slot():
        raise OSError(28, "No space left on device", "/data/out.png")
    QTimer.singleShot(0, slot)
    for _ in range(20):
        QCoreApplication.processEvents()
    assert len(win.errors) == 1
    assert win.errors[0].startswith("Something went wrong: The disk is full writing /data/out.png")
    assert "OSError" in capsys.readouterr().err  # the traceback still goes to the console
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert len(win.errors) == 1 and app is not None
    # the same error again at once (a paint error repeats at every repaint): no second box
    for _ in range(5):
        QTimer.singleShot(0, slot)
        QCoreApplication.processEvents()
    assert len(win.errors) == 1
    sys.excepthook(ValueError, ValueError("another problem"), None)
    assert len(win.errors) == 2 and "another problem" in win.errors[1]
