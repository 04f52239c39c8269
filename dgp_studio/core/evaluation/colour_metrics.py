"""Colorization metrics on images in [0, 1] (Bx3xHxW tensors or HxWx3 arrays).

- Lab a/b error: the chroma channels of CIE Lab (D65) compared with the clean image's;
  ``mae`` = mean |delta| over both channels and all pixels, ``rmse`` = sqrt(mean delta^2) over the same.
- colourfulness: Hasler & Suesstrunk (2003), on 0..255 sRGB:
  rg = R - G, yb = (R + G) / 2 - B, M = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2).
  A gray image scores 0; the paper's scale calls ~33 'moderately', ~59 'quite', ~82 'highly colourful'.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..color import rgb_to_lab


def _as01(x) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(x.astype(np.float64) / (255.0 if x.dtype == np.uint8 else 1.0))
        return t.permute(2, 0, 1)[None]
    t = x.detach().double().cpu()
    return t if t.dim() == 4 else t[None]


def ab_error(result, clean) -> dict:
    """{'mae', 'rmse'} of the Lab a/b channels of ``result`` against ``clean``."""
    ab_r = rgb_to_lab(_as01(result))[:, 1:]
    ab_c = rgb_to_lab(_as01(clean))[:, 1:]
    d = ab_r - ab_c
    return {"mae": float(d.abs().mean()), "rmse": math.sqrt(float((d ** 2).mean()))}


def colourfulness(img) -> float:
    x = _as01(img).clamp(0, 1) * 255
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    std = math.sqrt(float(rg.var(unbiased=False)) + float(yb.var(unbiased=False)))
    mean = math.sqrt(float(rg.mean()) ** 2 + float(yb.mean()) ** 2)
    return std + 0.3 * mean
