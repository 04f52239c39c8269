"""DGP Studio's editor: a PySide6 view over the headless engine in ``dgp_studio.core``."""
from . import qt_compat  # noqa: F401 - must run before any other Qt call (see the module)
