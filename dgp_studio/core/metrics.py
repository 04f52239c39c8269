"""PSNR, SSIM and MSE on images in [0, 1] (tensors Bx3xHxW or HxWx3 arrays), optionally masked."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _as01(x) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(x.astype(np.float64) / (255.0 if x.dtype == np.uint8 else 1.0))
        if t.dim() == 2:
            t = t[None, None]
        else:
            t = t.permute(2, 0, 1)[None]
        return t
    t = x.double()
    return t if t.dim() == 4 else t[None]


def _mask(mask, like: torch.Tensor):
    if mask is None:
        return None
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).double()
    while m.dim() < 4:
        m = m[None]
    return (m > 0.5).double().expand_as(like[:, :1])


def mse(a, b, mask=None) -> float:
    a, b = _as01(a), _as01(b)
    d = (a - b) ** 2
    m = _mask(mask, a)
    if m is None:
        return float(d.mean())
    m3 = m.expand_as(d)
    return float((d * m3).sum() / m3.sum().clamp_min(1))


def psnr(a, b, mask=None, data_range: float = 1.0) -> float:
    e = mse(a, b, mask)
    return float("inf") if e == 0 else 10 * math.log10(data_range ** 2 / e)


def rmse(a, b, mask=None) -> float:
    return math.sqrt(mse(a, b, mask))


def _gauss(size=11, sigma=1.5):
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] @ g[None, :]


def ssim_map(a, b, data_range: float = 1.0) -> torch.Tensor:
    """Wang et al. 2004: Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03; 'same' size map."""
    a, b = _as01(a), _as01(b)
    c = a.shape[1]
    w = _gauss().to(a)[None, None].expand(c, 1, -1, -1)
    pad = w.shape[-1] // 2

    def filt(x):
        return F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), w, groups=c)

    mu_a, mu_b = filt(a), filt(b)
    saa = filt(a * a) - mu_a ** 2
    sbb = filt(b * b) - mu_b ** 2
    sab = filt(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))


def ssim(a, b, mask=None) -> float:
    m = ssim_map(a, b)
    mk = _mask(mask, m)
    if mk is None:
        return float(m.mean())
    mk = mk.expand_as(m)
    return float((m * mk).sum() / mk.sum().clamp_min(1))


def tensor01(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] engine tensor -> [0, 1]."""
    return (x.clamp(-1, 1) + 1) / 2
