"""Where models live: the bundled prior in ``models/`` and user-registered folders."""
from __future__ import annotations

import os
from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_MODEL = "dgp-prior-64"


def default_model_path() -> Path:
    """``DGP_STUDIO_MODEL`` overrides; else the bundled prior shipped in ``models/``."""
    env = os.environ.get("DGP_STUDIO_MODEL")
    if env:
        return Path(env)
    for base in (BUNDLED_DIR, Path(__file__).resolve().parents[1] / "models"):
        if (base / DEFAULT_MODEL).is_dir():
            return base / DEFAULT_MODEL
    from .checkpoint import CheckpointError
    raise CheckpointError(f"the bundled model '{DEFAULT_MODEL}' is not in {BUNDLED_DIR}; pass --model PATH")
