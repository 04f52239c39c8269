"""sRGB <-> CIE Lab (D65) in torch, and lightness-preserving recombination."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_M = torch.tensor([[0.412453, 0.357580, 0.180423],
                   [0.212671, 0.715160, 0.072169],
                   [0.019334, 0.119193, 0.950227]], dtype=torch.float64)
_M_INV = torch.linalg.inv(_M)
_WHITE = (0.95047, 1.0, 1.08883)
_EPS = 0.008856


def _mat(m, x):
    return torch.einsum("ij,bjhw->bihw", m.to(x.dtype).to(x.device), x)


def rgb_to_lab(rgb01: torch.Tensor) -> torch.Tensor:
    """Bx3xHxW sRGB in [0, 1] -> Lab (L in 0..100)."""
    c = rgb01.clamp(0, 1)
    lin = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = _mat(_M, lin)
    white = torch.tensor(_WHITE, dtype=xyz.dtype, device=xyz.device)[None, :, None, None]
    t = xyz / white
    f = torch.where(t > _EPS, t.clamp_min(1e-12) ** (1 / 3), 7.787 * t + 16 / 116)
    L = 116 * f[:, 1:2] - 16
    a = 500 * (f[:, 0:1] - f[:, 1:2])
    b = 200 * (f[:, 1:2] - f[:, 2:3])
    return torch.cat([L, a, b], 1)


def lab_to_rgb_linear(lab: torch.Tensor) -> torch.Tensor:
    fy = (lab[:, 0:1] + 16) / 116
    fx = fy + lab[:, 1:2] / 500
    fz = fy - lab[:, 2:3] / 200
    f = torch.cat([fx, fy, fz], 1)
    t = torch.where(f ** 3 > _EPS, f ** 3, (f - 16 / 116) / 7.787)
    white = torch.tensor(_WHITE, dtype=lab.dtype, device=lab.device)[None, :, None, None]
    return _mat(_M_INV, t * white)


def _gamma(lin: torch.Tensor) -> torch.Tensor:
    lin = lin.clamp(0, 1)
    return torch.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin.clamp_min(1e-12) ** (1 / 2.4) - 0.055)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Lab -> sRGB in [0, 1] (clipped)."""
    return _gamma(lab_to_rgb_linear(lab))


def recombine_lightness(L: torch.Tensor, ab: torch.Tensor, steps: int = 12) -> torch.Tensor:
    """sRGB in [0, 1] with lightness ``L`` and the chroma ``ab`` scaled down only where
    it is out of gamut, so that clipping never alters the given lightness."""
    lab = torch.cat([L, ab], 1).double()
    tol = 1e-6
    lo = torch.zeros_like(L, dtype=torch.float64)
    hi = torch.ones_like(L, dtype=torch.float64)

    def in_gamut(scale):
        lin = lab_to_rgb_linear(torch.cat([lab[:, :1], lab[:, 1:] * scale], 1))
        return ((lin >= -tol) & (lin <= 1 + tol)).all(dim=1, keepdim=True)

    ok = in_gamut(hi)
    if not bool(ok.all()):
        for _ in range(steps):  # bisection on the chroma scale, per pixel
            mid = (lo + hi) / 2
            good = in_gamut(mid)
            lo = torch.where(good, mid, lo)
            hi = torch.where(good, hi, mid)
        scale = torch.where(ok, torch.ones_like(lo), lo)
    else:
        scale = hi
    out = _gamma(lab_to_rgb_linear(torch.cat([lab[:, :1], lab[:, 1:] * scale], 1)))
    return out.to(L.dtype)


def is_gray(img: torch.Tensor) -> bool:
    """True for an N x 3 x H x W image whose three channels are equal (what colorization observes)."""
    return img.dim() == 4 and img.shape[1] == 3 and bool(
        torch.equal(img[:, 0], img[:, 1]) and torch.equal(img[:, 1], img[:, 2]))


# Gaussian sigma, in model pixels, applied to the model's a/b (colorization's finish and the
# full-size composite).  Colour is low-frequency, while a small prior paints speckled,
# rainbow-like chroma after fine-tuning (its texture); smoothing turns disagreeing neighbours into
# a muted average instead.
CHROMA_SIGMA = 2.0


def gauss_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of NxCxHxW (replicate borders); ``sigma`` in pixels."""
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-t * t / (2 * sigma * sigma))
    k = (k / k.sum()).to(x.device)
    c = x.shape[1]
    x = F.pad(x, (r, r, 0, 0), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.pad(x, (0, 0, r, r), mode="replicate")
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
