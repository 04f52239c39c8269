"""Degradations phi (DGP.md section 6).

Each object is used three ways:
- ``obj(x)``: phi applied to the generator's output (differentiable, [-1, 1]);
- ``obj.target(observed)``: x_hat made from what the user has;
- ``obj.simulate(clean)``: the observation a user would have (for evaluation);
plus ``obj.postprocess(g_out, observed)`` for the task's final image.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .color import CHROMA_SIGMA, gauss_blur, recombine_lightness, rgb_to_lab
from .seam import seamless_fill

GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)


def to01(x):
    return (x.clamp(-1, 1) + 1) / 2


def from01(x):
    return x * 2 - 1


class Degradation:
    name = "identity"
    is_colorization = False
    # raised when postprocess (the final image) changes, so stored evaluation runs are redone
    finish_version = 1

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def target(self, observed: torch.Tensor) -> torch.Tensor:
        return self(observed)

    def simulate(self, clean: torch.Tensor) -> torch.Tensor:
        return self(clean)

    def postprocess(self, g_out: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        return g_out

    def to(self, device) -> "Degradation":
        return self

    def describe(self) -> dict:
        return {"name": self.name}


Identity = Degradation


# The constants below are made once per device and dtype: no host-to-device copy inside an
# iteration, which a recorded CUDA graph could not contain and which costs a sync anyway.  A plain
# dict rather than functools.lru_cache, which torch.compile traces around with a warning.
_CONSTANTS: dict = {}


def _constant(key, make) -> torch.Tensor:
    t = _CONSTANTS.get(key)
    if t is None:
        t = _CONSTANTS[key] = make()
    return t


def _gray_weights(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return _constant(("gray", device, dtype),
                     lambda: torch.tensor(GRAY_WEIGHTS, dtype=dtype, device=device)[None, :, None, None])


def gray3(x: torch.Tensor) -> torch.Tensor:
    w = _gray_weights(x.device, x.dtype)
    return (x * w).sum(1, keepdim=True).expand(-1, 3, -1, -1)


def lab_recombine(g_out: torch.Tensor, light_src: torch.Tensor, chroma_sigma: float = 0.0) -> torch.Tensor:
    """Lab(G)'s a/b, smoothed by ``chroma_sigma`` px (0 = as they are), with the lightness of
    ``light_src`` (both [-1, 1])."""
    L = rgb_to_lab(to01(light_src).double())[:, :1]
    ab = rgb_to_lab(to01(g_out).double())[:, 1:]
    if chroma_sigma > 0:
        ab = gauss_blur(ab, float(chroma_sigma))
    return from01(recombine_lightness(L, ab)).to(g_out.dtype)


class Colorization(Degradation):
    name = "colorization"
    is_colorization = True
    finish_version = 2  # 2: the model's chroma smoothed by CHROMA_SIGMA, as the full-size composite does

    def __call__(self, x):
        return gray3(x)

    def postprocess(self, g_out, observed):
        """The photo's lightness with the model's colour, smoothed (CHROMA_SIGMA model px) the way
        the full-size colorization is, so the final image is what the user gets."""
        if observed.shape[-2:] != g_out.shape[-2:]:
            observed = F.interpolate(observed, size=g_out.shape[-2:], mode="bilinear", align_corners=False)
        return lab_recombine(g_out, observed, CHROMA_SIGMA)


class Inpainting(Degradation):
    """``mask``: 1 = known pixel, 0 = hole (any HxW; resized nearest to the image)."""
    name = "inpainting"

    def __init__(self, mask):
        m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
        m = m.float()
        while m.dim() < 4:
            m = m.unsqueeze(0)
        if m.shape[1] != 1:
            m = m[:, :1]
        self.mask = (m > 0.5).float()

    @classmethod
    def from_hole(cls, hole) -> "Inpainting":
        h = torch.as_tensor(np.asarray(hole) if not isinstance(hole, torch.Tensor) else hole).float()
        return cls(h <= 0.5)

    @classmethod
    def centered_hole(cls, size: int) -> "Inpainting":
        side = size // 3
        m = torch.ones(size, size)
        a = (size - side) // 2
        m[a:a + side, a:a + side] = 0
        return cls(m)

    def _mask_for(self, x):
        m = self.mask.to(x.device, x.dtype)
        if m.shape[-2:] != x.shape[-2:]:
            m = F.interpolate(m, size=x.shape[-2:], mode="nearest")
        return m

    def __call__(self, x):
        return x * self._mask_for(x)

    def target(self, observed):
        # torch.where, not a product: the hole's pixels are never read (NaN stays out)
        return torch.where(self._mask_for(observed) > 0.5, observed, torch.zeros_like(observed))

    simulate = target

    def postprocess(self, g_out, observed):
        """Known pixels exactly as observed; the hole's fill shifted smoothly so that it meets
        them without a step (seam.py)."""
        if observed.shape[-2:] != g_out.shape[-2:]:
            return g_out
        return seamless_fill(g_out, observed, self._mask_for(g_out))

    def to(self, device):
        self.mask = self.mask.to(device)
        return self

    def describe(self):
        return {"name": self.name, "hole_fraction": float(1 - self.mask.mean())}


def lanczos2_kernel(factor: int) -> torch.Tensor:
    """Deep Image Prior's Lanczos-2 kernel: support 2, width 4f+1, phase 0.5 (4f x 4f taps)."""
    size = 4 * factor
    center = (4 * factor + 1 + 1) / 2.0
    k = np.zeros((size, size))
    for i in range(1, size + 1):
        for j in range(1, size + 1):
            di = abs(i + 0.5 - center) / factor
            dj = abs(j + 0.5 - center) / factor
            val = 1.0
            for d in (di, dj):
                if d != 0:
                    val *= 2 * math.sin(math.pi * d) * math.sin(math.pi * d / 2) / (math.pi ** 2 * d * d)
            k[i - 1, j - 1] = val
    k /= k.sum()
    return torch.tensor(k, dtype=torch.float32)


def _lanczos2_on(factor: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return _constant(("lanczos2", factor, device, dtype), lambda: lanczos2_kernel(factor).to(device, dtype))


def lanczos_down(x: torch.Tensor, factor: int) -> torch.Tensor:
    k = _lanczos2_on(factor, x.device, x.dtype)
    pad = (k.shape[0] - factor) // 2
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    w = k[None, None].expand(x.shape[1], 1, -1, -1)
    return F.conv2d(xp, w, stride=factor, groups=x.shape[1])


class SuperResolution(Degradation):
    name = "super-resolution"
    finish_version = 2  # 2: the back-projection clamps to the pixel range at every step

    def __init__(self, factor: int = 4):
        if factor not in (2, 4, 8):
            raise ValueError(f"super-resolution factor must be 2, 4 or 8, got {factor}")
        self.factor = factor

    def up(self, lr, size):
        return F.interpolate(lr, size=size, mode="bilinear", align_corners=False)

    def __call__(self, x):
        return self.up(lanczos_down(x, self.factor), x.shape[-2:])

    def is_low_res(self, observed, resolution: int | None) -> bool:
        return resolution is not None and observed.shape[-1] * self.factor == resolution

    def target(self, observed, resolution: int | None = None):
        if self.is_low_res(observed, resolution):
            s = observed.shape[-1] * self.factor
            return self.up(observed, (s, s))
        return self(observed)

    def simulate(self, clean):
        return lanczos_down(clean, self.factor)

    # Back-projection steps in postprocess: on photos ten leave the mismatch below a third of one
    # 8-bit level (tests/test_degradations.py measures it).
    BACK_PROJECTION_STEPS = 10

    def postprocess(self, g_out, observed):
        """The generator's image made consistent with the observation (iterative back-projection):
        shrunk the way the photo was (Lanczos), it gives back the low-resolution input, as
        colorization keeps the photo's lightness and inpainting its known pixels.  Detail the
        input cannot see stays the generator's."""
        return self.back_project(g_out, observed)

    def low_res_input(self, observed, g_out):
        """The low-resolution observation behind ``observed`` (None if it does not fit ``g_out``)."""
        lr = observed if self.is_low_res(observed, g_out.shape[-1]) else lanczos_down(observed, self.factor)
        if lr.shape[-1] * self.factor != g_out.shape[-1] or lr.shape[-2] * self.factor != g_out.shape[-2]:
            return None
        return lr.to(g_out.device, g_out.dtype)

    def footprint_hit(self, hole):
        """Low-resolution pixels whose Lanczos footprint touches ``hole`` (Nx1xHxW, 1 = unknown):
        their observed values were made partly from missing pixels."""
        k = 4 * self.factor
        pad = (k - self.factor) // 2
        return F.max_pool2d(F.pad(hole, (pad, pad, pad, pad), mode="replicate"), k, stride=self.factor)

    def back_project(self, g_out, observed, gray: bool = False, hole=None, steps: int | None = None):
        """``gray``: only the lightness is observed (colorization in a hybrid): the correction is
        the same for R, G and B, so the colours stay the generator's.  ``hole`` (Nx1xHxW at the
        generator's size, 1 = unknown): low-resolution pixels that saw the hole are not used.
        ``steps``: default BACK_PROJECTION_STEPS."""
        lr = self.low_res_input(observed, g_out)
        if lr is None:
            return g_out
        if gray:
            lr = gray3(lr)[:, :1]
        use = None if hole is None else 1 - self.footprint_hit(hole.to(g_out.device, g_out.dtype))
        x = g_out
        for _ in range(self.BACK_PROJECTION_STEPS if steps is None else steps):
            d = lr - lanczos_down(gray3(x)[:, :1] if gray else x, self.factor)
            if use is not None:
                d = d * use
            # clamped at every step, not once at the end (alternating projections): a correction
            # cut off at white or black is made up by the next steps where the range allows
            x = (x + F.interpolate(d, size=x.shape[-2:], mode="bicubic", align_corners=False)).clamp(-1, 1)
        return x

    def describe(self):
        return {"name": self.name, "factor": self.factor}


class Hybrid(Degradation):
    """Any combination, always applied as colorization -> super-resolution -> inpainting so
    the mask acts at the generator's resolution whatever the input size."""
    name = "hybrid"

    def __init__(self, parts):
        order = {"colorization": 0, "super-resolution": 1, "inpainting": 2}
        self.parts = sorted(parts, key=lambda p: order.get(p.name, 3))
        self.is_colorization = any(p.is_colorization for p in self.parts)

    @property
    def finish_version(self) -> int:
        # 2: the parts' finishes are applied when super-resolution is one of them; 3: colour smoothed
        return max([3] + [p.finish_version for p in self.parts])

    def _get(self, cls):
        return next((p for p in self.parts if isinstance(p, cls)), None)

    def __call__(self, x):
        for p in self.parts:
            x = p(x)
        return x

    def target(self, observed, resolution: int | None = None):
        x = observed
        for p in self.parts:
            x = p.target(x, resolution) if isinstance(p, SuperResolution) else p.target(x)
        return x

    def simulate(self, clean):
        x = clean
        for p in self.parts:
            if isinstance(p, SuperResolution):
                x = p.simulate(x)
            elif isinstance(p, Colorization):
                x = p(x)
        inp = self._get(Inpainting)
        if inp is not None and self._get(SuperResolution) is None:
            x = inp.simulate(x)
        return x

    def postprocess(self, g_out, observed):
        """As the parts finish on their own: the observed lightness (colorization) or low-resolution
        input (super-resolution, back-projected; lightness only when colorizing) is kept where it
        was seen, and the hole's fill meets it without a step (inpainting)."""
        inp, sr = self._get(Inpainting), self._get(SuperResolution)
        known = None if inp is None else inp._mask_for(g_out)
        if sr is not None:
            # colour smoothed as colorization's is, first: the back-projection then corrects R, G
            # and B alike, so the result's gray still gives back the input
            g = lab_recombine(g_out, g_out, CHROMA_SIGMA) if self.is_colorization else g_out
            x = sr.back_project(g, observed, gray=self.is_colorization, hole=None if known is None else 1 - known)
            return x if known is None else seamless_fill(g, x, known)
        if observed.shape[-2:] != g_out.shape[-2:]:
            return g_out
        if self.is_colorization:
            light = observed if inp is None else seamless_fill(g_out, observed, known)
            return lab_recombine(g_out, light, CHROMA_SIGMA)
        return g_out if known is None else seamless_fill(g_out, observed, known)

    def to(self, device):
        for p in self.parts:
            p.to(device)
        return self

    def describe(self):
        return {"name": self.name, "parts": [p.describe() for p in self.parts]}


def make_degradation(task: str, mask=None, scale: int | None = None,
                     hybrid_parts=("colorization", "inpainting", "sr")):
    """Task name -> degradation.  ``mask``: 1 = known (see ``Inpainting``).
    ``scale`` defaults to 4 for super-resolution and 2 inside hybrid (paper Fig. 8b)."""
    t = task.lower()
    if t in ("colorize", "colorization"):
        return Colorization()
    if t in ("inpaint", "inpainting"):
        if mask is None:
            raise ValueError("inpainting needs a mask (white = pixels to fill)")
        return Inpainting(mask)
    if t in ("sr", "super-resolution", "superres", "sr4", "sr2", "sr8"):
        if t[-1].isdigit():
            scale = int(t[-1])
        return SuperResolution(scale or 4)
    if t == "hybrid":
        parts = []
        for p in hybrid_parts:
            if p.startswith("color"):
                parts.append(Colorization())
            elif p.startswith("inpaint"):
                if mask is not None:
                    parts.append(Inpainting(mask))
            elif p.startswith("sr") or p.startswith("super"):
                parts.append(SuperResolution(scale or 2))
        return Hybrid(parts)
    if t in ("reconstruct", "reconstruction", "defend", "defence", "defense", "identity", "jitter",
             "transfer", "morph"):
        return Identity()
    raise ValueError(f"unknown task '{task}'")
