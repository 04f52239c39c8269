"""DGP Studio's editor: a PySide6 view over the headless engine in ``dgp_studio.core``."""
