"""DGP Studio's headless engine: no Qt here (the GUI is a view over this package)."""
from . import degradations, manipulate, metrics, presets
from .biggan import BigGAN, BigGANConfig, Discriminator, Generator, build_biggan
from .checkpoint import CheckpointError, load_biggan, save_biggan
from .reconstructor import Progress, ReconstructionResult, Reconstructor
from .session import SessionError, load_session, save_session

__all__ = [
    "BigGAN", "BigGANConfig", "CheckpointError", "Discriminator", "Generator", "Progress",
    "ReconstructionResult", "Reconstructor", "SessionError", "build_biggan", "degradations",
    "load_biggan", "load_session", "manipulate", "metrics", "presets", "save_biggan", "save_session",
]
