"""A tiny random-weight model for developing and testing the editor without the bundled prior."""
from __future__ import annotations

from pathlib import Path

TINY_CLASSES = ["goldfish", "robin", "tabby cat", "lighthouse", "volcano"]


def make_tiny_model(folder, resolution: int = 32, seed: int = 0) -> Path:
    """Random BigGAN (32 px, 5 named classes) saved in our folder format; seconds on a CPU."""
    from dgp_studio.core import BigGANConfig, build_biggan, save_biggan
    cfg = BigGANConfig(resolution=resolution, G_ch=8, D_ch=8, dim_z=20, shared_dim=8, n_classes=5,
                       G_attn=(16,), D_attn=(16,))
    gan = build_biggan(cfg, seed=seed)
    gan.name = f"tiny-random-{resolution}"
    return save_biggan(gan, folder, extra={"class_names": TINY_CLASSES})
