"""Starting the editor: ``run_app(argv)`` is what ``dgp-studio [IMAGES...]`` calls."""
from __future__ import annotations

import argparse
import os
import sys

from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from . import settings, theme


def stylesheet(dark: bool) -> str:
    pal = QApplication.palette()
    muted = pal.color(QPalette.PlaceholderText).name()
    text = pal.color(QPalette.WindowText).name()
    base = pal.color(QPalette.Base).name()
    mid = pal.color(QPalette.Mid).name()
    hl = pal.color(QPalette.Highlight).name()
    banner_bg = "#4a3b14" if dark else "#fff4d6"
    banner_fg = "#ffe3a3" if dark else "#5a4300"
    return f"""
    QLabel#section {{ color: {muted}; font-size: 8pt; font-weight: 700; letter-spacing: 1px; margin-top: 4px; }}
    QLabel#hint {{ color: {muted}; }}
    QLabel#empty {{ color: {muted}; font-size: 12pt; }}
    QLabel#preview {{ background: {base}; border: 1px solid {mid}; border-radius: 6px; }}
    QLabel#banner {{ background: {banner_bg}; color: {banner_fg}; padding: 10px 14px; border-bottom: 1px solid {mid}; }}
    QPushButton#accent {{ background: {hl}; color: white; border: none; border-radius: 5px; font-weight: 600;
                          padding: 4px 14px; }}
    QPushButton#accent:disabled {{ background: {mid}; color: {muted}; }}
    QToolButton:checked {{ background: {hl}; color: white; border-radius: 4px; }}
    QPushButton:checked {{ background: {hl}; color: white; border: 1px solid {hl}; border-radius: 4px;
                           padding: 3px 10px; }}
    QFrame#footer {{ border: none; border-top: 1px solid {mid}; }}
    QToolButton#mode {{ padding: 3px 10px; }}
    QTabBar::tab {{ padding: 6px 14px; }}
    QDockWidget::title {{ padding: 4px 8px; font-weight: 600; color: {text}; }}
    QTableWidget {{ gridline-color: {mid}; }}
    """


def apply_theme(app: QApplication, choice: str = "system") -> bool:
    dark = theme.apply(app, choice)
    app.setStyleSheet(stylesheet(dark))
    return dark


def parse_args(argv):
    p = argparse.ArgumentParser(prog="dgp-studio", description="Open the DGP Studio editor.")
    p.add_argument("images", nargs="*", help="photos (PNG, JPEG, WebP, TIFF, BMP) or projects (.dgp) to open")
    p.add_argument("--model", metavar="PATH", help="model folder or checkpoint "
                   "(default: $DGP_STUDIO_MODEL, else the bundled prior models/dgp-prior-64)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 … (default: cuda when present)")
    p.add_argument("--theme", choices=("system", "light", "dark"), help="colour theme (default: follow the system)")
    p.add_argument("--no-recover", action="store_true", help="do not offer autosaves left by a crashed session")
    return p.parse_args(argv)


def active_model():
    """The model chosen in Tools > Models… (a registered name or a path), when it still
    exists; None = the default (``DGP_STUDIO_MODEL`` or the bundled prior)."""
    if os.environ.get("DGP_STUDIO_MODEL"):
        return None
    name = settings.value("model/active")
    if not name:
        return None
    try:
        from dgp_studio.core.modelstore import ModelStore
        return str(ModelStore().resolve(name))
    except Exception:  # noqa: BLE001 - a model that moved: start with the default one
        return None


def create_window(argv=None):
    """The QApplication (existing or new) and the shown editor window for ``argv``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "dgp-studio"])
    app.setApplicationName("DGP Studio")
    app.setOrganizationName("DGP Studio")
    app.setApplicationDisplayName("DGP Studio")
    choice = args.theme or os.environ.get("DGP_STUDIO_THEME") or settings.value("theme", "system") or "system"
    if choice not in ("system", "light", "dark"):
        choice = "system"
    apply_theme(app, choice)
    from .icons import icon
    app.setWindowIcon(icon("mdi6.auto-fix", "#408cff"))
    from .main_window import MainWindow

    win = MainWindow(model_path=args.model or active_model(),
                     device=None if args.device == "auto" else args.device, theme_choice=choice)

    def follow_system(_scheme=None):
        if win.theme_choice == "system":
            apply_theme(app, "system")
    QGuiApplication.styleHints().colorSchemeChanged.connect(follow_system)
    win.show()
    if args.images:
        win.open_paths(args.images)
    if not args.no_recover:
        from PySide6.QtCore import QTimer
        QTimer.singleShot(0, win.autosave.offer_restore)  # once the window is on screen
    return app, win


def display_problem(environ=None, platform: str | None = None, find_library=None) -> str | None:
    """Why no window can open here, in words (Linux), or None.  Qt itself would abort with a
    message about plugins that points at the wrong cause when there is simply no display."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return None
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return ("there is no display to open a window on (DISPLAY and WAYLAND_DISPLAY are not set): start it "
                "from a desktop session, or work headless with 'dgp-studio restore --help'")
    if not env.get("WAYLAND_DISPLAY"):
        if find_library is None:
            from ctypes.util import find_library
        if find_library("xcb-cursor") is None:
            return ("Qt needs the system library libxcb-cursor0 to open a window: install it "
                    "(Debian/Ubuntu: sudo apt-get install libxcb-cursor0; Fedora: sudo dnf install xcb-util-cursor)")
    return None


REPEAT_QUIET_S = 10.0  # the same uncaught error again within this time: console only


def install_error_hook(win):
    """An error nobody caught in a slot (Qt calls ``sys.excepthook`` for those) becomes a message
    in the window instead of a traceback on a console the user may not see; the traceback still
    goes where it went.  Returns the hook (tests call it)."""
    import time
    previous = sys.excepthook
    last = {"text": None, "at": 0.0}

    def hook(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        if issubclass(exc_type, KeyboardInterrupt):
            return
        try:
            from dgp_studio.core.errors import friendly_error
            text = friendly_error(exc)
            # an error while painting repeats at every repaint: one message, not a pile of boxes
            if text == last["text"] and time.monotonic() - last["at"] < REPEAT_QUIET_S:
                return
            last.update(text=text, at=time.monotonic())
            win.show_error(f"Something went wrong: {text}\nYour photos and results are kept; "
                           "the details are on the console.")
        except Exception:  # noqa: BLE001 - the hook itself must never raise
            pass
    sys.excepthook = hook
    return hook


def run_app(argv=None) -> int:
    """``dgp-studio [IMAGES or PROJECTS...] [--model PATH] [--device D] [--theme T]``: the editor's event loop."""
    problem = display_problem()
    if problem:
        print(f"dgp-studio: cannot open the editor: {problem}", file=sys.stderr)
        return 2
    app, win = create_window(argv)
    install_error_hook(win)
    return app.exec()
