"""Shared fixtures: tiny random-weight BigGANs so the suite runs fast on 2 CPU cores."""
import os
import warnings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
warnings.filterwarnings("ignore", message="Initializing zero-element tensors")

import pytest
import torch

# Tiny nets are latency-bound: one intra-op thread is as fast as two, and on a shared 2-core
# machine a descheduled second thread stalls every op at a barrier (measured ~10x slower).
torch.set_num_threads(1)

from dgp_studio.core.biggan import BigGANConfig, build_biggan
from dgp_studio.core.checkpoint import save_biggan

TINY = dict(resolution=32, G_ch=8, D_ch=8, dim_z=20, shared_dim=8, n_classes=5, G_attn=(16,), D_attn=(16,))


def tiny_config(**kw) -> BigGANConfig:
    return BigGANConfig(**{**TINY, **kw})


@pytest.fixture(autouse=True)
def _private_user_dirs(tmp_path_factory, monkeypatch):
    """No test reads or writes the real user cache (results, autosaves) or config (models)."""
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("DGP_STUDIO_CACHE", str(base / "cache"))
    monkeypatch.setenv("DGP_STUDIO_CONFIG", str(base / "config"))
    monkeypatch.setenv("DGP_STUDIO_SETTINGS", str(base / "settings.ini"))


@pytest.fixture
def tiny_gan():
    return build_biggan(tiny_config(), seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A random-weight model saved in our format (what a fixture 'checkpoint' looks like)."""
    d = tmp_path_factory.mktemp("tiny_model")
    gan = build_biggan(tiny_config(), seed=0)
    gan.name = "tiny"
    save_biggan(gan, d)
    return d
