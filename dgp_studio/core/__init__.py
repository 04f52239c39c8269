"""DGP Studio's headless engine: no Qt here (the GUI is a view over this package)."""
from . import degradations, manipulate, metrics, presets
from .biggan import BigGAN, BigGANConfig, Discriminator, Generator, build_biggan
from .checkpoint import CheckpointError, load_biggan, save_biggan
from .export import save_png
from .groupedrun import GroupItem, GroupReconstructor
from .imaging import fit_square
from .intake import open_image
from .reconstructor import Progress, ReconstructionResult, Reconstructor
from .restore import RestoreError, RestoreSettings, restore
from .session import SessionError, load_session, save_session

__all__ = [
    "BigGAN", "BigGANConfig", "CheckpointError", "Discriminator", "Generator", "GroupItem", "GroupReconstructor",
    "Progress",
    "ReconstructionResult", "Reconstructor", "RestoreError", "RestoreSettings", "SessionError", "build_biggan",
    "degradations", "fit_square", "load_biggan", "load_session", "manipulate", "metrics", "open_image",
    "presets", "restore", "save_biggan", "save_png", "save_session",
]
