"""Dark and light Fusion palettes that follow the system colour scheme (or a forced choice)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = QColor(64, 140, 255)
_platform_dark: bool | None = None

_DARK = {
    QPalette.Window: "#2b2d31", QPalette.WindowText: "#e6e6e6", QPalette.Base: "#1f2023",
    QPalette.AlternateBase: "#27292d", QPalette.ToolTipBase: "#3a3d42", QPalette.ToolTipText: "#f0f0f0",
    QPalette.Text: "#e6e6e6", QPalette.Button: "#35373c", QPalette.ButtonText: "#e6e6e6",
    QPalette.BrightText: "#ff6b6b", QPalette.Link: "#6aa8ff", QPalette.Highlight: "#3d7be0",
    QPalette.HighlightedText: "#ffffff", QPalette.PlaceholderText: "#8a8d93", QPalette.Mid: "#45484e",
    QPalette.Dark: "#1a1b1e", QPalette.Shadow: "#101113", QPalette.Light: "#4a4d53", QPalette.Midlight: "#3c3f44",
}
_DARK_DISABLED = {QPalette.WindowText: "#7c7f85", QPalette.Text: "#7c7f85", QPalette.ButtonText: "#7c7f85",
                  QPalette.Base: "#26272b", QPalette.Button: "#2f3135"}

_LIGHT = {
    QPalette.Window: "#f1f2f4", QPalette.WindowText: "#1d1f22", QPalette.Base: "#ffffff",
    QPalette.AlternateBase: "#f5f6f8", QPalette.ToolTipBase: "#ffffe8", QPalette.ToolTipText: "#1d1f22",
    QPalette.Text: "#1d1f22", QPalette.Button: "#e9eaed", QPalette.ButtonText: "#1d1f22",
    QPalette.BrightText: "#d01919", QPalette.Link: "#1a5fd0", QPalette.Highlight: "#3d7be0",
    QPalette.HighlightedText: "#ffffff", QPalette.PlaceholderText: "#8a8d93", QPalette.Mid: "#c4c6ca",
    QPalette.Dark: "#a9abb0", QPalette.Shadow: "#7d7f84", QPalette.Light: "#ffffff", QPalette.Midlight: "#e2e3e6",
}
_LIGHT_DISABLED = {QPalette.WindowText: "#9a9ca1", QPalette.Text: "#9a9ca1", QPalette.ButtonText: "#9a9ca1",
                   QPalette.Base: "#f3f3f3", QPalette.Button: "#eceded"}


def system_is_dark() -> bool:
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    # unknown (X11 without a portal, offscreen): judge the platform's own default window colour,
    # read once before we install a palette of ours
    global _platform_dark
    if _platform_dark is None:
        _platform_dark = QGuiApplication.palette().color(QPalette.Window).lightness() < 128
    return _platform_dark


def build_palette(dark: bool) -> QPalette:
    pal = QPalette()
    for role, col in (_DARK if dark else _LIGHT).items():
        pal.setColor(QPalette.All, role, QColor(col))
    for role, col in (_DARK_DISABLED if dark else _LIGHT_DISABLED).items():
        pal.setColor(QPalette.Disabled, role, QColor(col))
    return pal


def is_dark(widget_or_app=None) -> bool:
    return QApplication.palette().color(QPalette.Window).lightness() < 128


def apply(app: QApplication, choice: str = "system") -> bool:
    """``choice``: system, dark or light.  Returns whether the dark palette is in use."""
    dark = system_is_dark() if choice == "system" else choice == "dark"
    app.setStyle("Fusion")
    app.setPalette(build_palette(dark))
    app.setProperty("dgp_theme_dark", dark)
    from . import icons
    icons.retint()
    return dark
