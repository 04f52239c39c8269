"""Manipulations of a finished reconstruction, with no optimisation (DGP.md section 8).

All of them render G with the tuned state through ``torch.func.functional_call``
on one working copy of the generator, so the base model is never touched.
"""
from __future__ import annotations

import copy
import threading

import torch
from torch.func import functional_call

from .biggan import BigGAN
from .devicelocks import capture_lock
from .fastpath import FrozenRender


class Renderer:
    """Renders G(z, c; theta) for arbitrary (z, c, theta); one per model, thread-safe."""

    def __init__(self, gan: BigGAN, device=None):
        self.gan = gan
        self.device = torch.device(device) if device is not None else gan.device
        self.G = copy.deepcopy(gan.G).to(self.device).eval().requires_grad_(False)
        self._batch = FrozenRender(self.G)  # batches (jitter grids): W/sigma once per call, channels-last
        self._lock = threading.Lock()

    @torch.no_grad()
    def render(self, state: dict, z: torch.Tensor, c: torch.Tensor, norm_blocks=()) -> torch.Tensor:
        dev = self.device
        # a render waits while a reconstruction records a CUDA graph on this device (devicelocks.py)
        with capture_lock(dev), self._lock:
            st = {k: v.to(dev) for k, v in state.items()}
            for i, block in enumerate(self.G.blocks):
                block[0].use_in = i in set(norm_blocks)
            try:
                if z.shape[0] > 1:
                    out = functional_call(self._batch, {"G." + k: v for k, v in st.items()}, (z.to(dev), c.to(dev)))
                else:  # single frames stay on the module: a morph's endpoints reproduce results bit for bit
                    out = functional_call(self.G, st, (z.to(dev), c.to(dev)))
            finally:
                self.G.reset_norm_mode()
            return out.cpu()  # (a copy back to the host must not meet a recording either)

    def embed(self, state: dict, class_id: int) -> torch.Tensor:
        w = state["shared.weight"]
        return w[int(class_id)][None].clone()


def _renderer(gan, renderer):
    return renderer if renderer is not None else Renderer(gan)


def jitter(gan: BigGAN, result, n: int = 8, std: float = 0.5, seed: int = 0, renderer=None) -> torch.Tensor:
    """G(z* + std * noise, c*; theta*) for n seeded noise draws -> n x 3 x H x W."""
    r = _renderer(gan, renderer)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, result.z.shape[1], generator=gen)
    z = result.z + std * noise
    c = result.class_embedding.expand(n, -1)
    return r.render(result.generator_state, z, c, result.norm_blocks)


def transfer(gan: BigGAN, result, class_id: int, blend_with: int | None = None, blend: float = 0.0,
             renderer=None) -> torch.Tensor:
    """Same (z*, theta*), another class; optionally a blend of two class embeddings."""
    r = _renderer(gan, renderer)
    c = r.embed(result.generator_state, class_id)
    if blend_with is not None and blend:
        c = torch.lerp(c, r.embed(result.generator_state, blend_with), float(blend))
    return r.render(result.generator_state, result.z, c, result.norm_blocks)


def interpolate_state(a: dict, b: dict, lam: float) -> dict:
    out = {}
    for k, va in a.items():
        vb = b[k]
        if va.is_floating_point():
            out[k] = torch.lerp(va, vb.to(va.dtype), float(lam))
        else:
            out[k] = va if lam < 0.5 else vb
    return out


def morph(gan: BigGAN, a, b, lambdas, renderer=None) -> list[torch.Tensor]:
    """Frames from A (lambda 0) to B (lambda 1): z, class embedding and every tensor of the
    state dict are interpolated.  lerp makes lambda 0 and 1 reproduce the endpoints exactly."""
    r = _renderer(gan, renderer)
    frames = []
    for lam in lambdas:
        lam = float(lam)
        z = torch.lerp(a.z, b.z, lam)
        c = torch.lerp(a.class_embedding, b.class_embedding, lam)
        state = interpolate_state(a.generator_state, b.generator_state, lam)
        frames.append(r.render(state, z, c, a.norm_blocks if lam < 0.5 else b.norm_blocks))
    return frames
