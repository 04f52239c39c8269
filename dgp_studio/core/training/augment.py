"""Differentiable augmentation for data-efficient GAN training.

The same random family of transforms is applied to real images and to G's output
before D sees them, and gradients flow through it to G, so D cannot tell real from
fake by the augmentation and G is not pushed to generate augmented-looking images.
Every transform draws its own parameters per sample.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str | None) -> tuple[str, ...]:
    if not policy or policy == "none":
        return ()
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    bad = [p for p in names if p not in POLICIES]
    if bad:
        raise ValueError(f"unknown augmentation {', '.join(bad)} (choose from {', '.join(POLICIES)})")
    return names


def _rand(n: int, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """n x 1 x 1 x 1 uniforms on x's device (drawn on the CPU so a CPU generator stays usable)."""
    return torch.rand(n, 1, 1, 1, generator=gen).to(x.device, x.dtype)


def color(x: torch.Tensor, gen=None) -> torch.Tensor:
    """Brightness shift in [-0.5, 0.5], saturation x[0, 2], contrast x[0.5, 1.5] (images in [-1, 1])."""
    n = x.shape[0]
    x = x + (_rand(n, x, gen) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(n, x, gen) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(n, x, gen) + 0.5) + mean


def translation(x: torch.Tensor, gen=None, ratio: float = 0.125) -> torch.Tensor:
    """Shift by up to ``ratio`` of the size in x and y (whole pixels), zeros filled in."""
    n, _, h, w = x.shape
    sy, sx = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    dy = torch.randint(-sy, sy + 1, (n,), generator=gen)
    dx = torch.randint(-sx, sx + 1, (n,), generator=gen)
    pad = F.pad(x, (sx, sx, sy, sy))
    rows = (torch.arange(h)[None, :] - dy[:, None] + sy).to(x.device)      # n x h
    cols = (torch.arange(w)[None, :] - dx[:, None] + sx).to(x.device)      # n x w
    c = x.shape[1]
    out = pad.gather(2, rows[:, None, :, None].expand(n, c, h, pad.shape[3]))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def cutout(x: torch.Tensor, gen=None, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of ``ratio`` x the size at a random centre (clipped at the border)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n,), generator=gen)
    cx = torch.randint(0, w + (1 - cw % 2), (n,), generator=gen)
    ys = torch.arange(h)[None, :] - (cy[:, None] - ch // 2)                # n x h
    xs = torch.arange(w)[None, :] - (cx[:, None] - cw // 2)
    inside = ((ys >= 0) & (ys < ch))[:, :, None] & ((xs >= 0) & (xs < cw))[:, None, :]
    mask = (~inside).to(x.device, x.dtype)[:, None]
    return x * mask


_FUNCS = {"color": color, "translation": translation, "cutout": cutout}


def augment(x: torch.Tensor, policy, gen: torch.Generator | None = None) -> torch.Tensor:
    """Apply the transforms named in ``policy`` (tuple or 'color,translation,cutout') in order."""
    names = parse_policy(policy) if isinstance(policy, str) or policy is None else tuple(policy)
    for name in names:
        x = _FUNCS[name](x, gen)
    return x
