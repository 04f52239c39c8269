"""Baselines and ablation variants, all expressed through the same engine.

- bicubic: the low-resolution input upsampled bicubically (the classic SR reference);
- z-only inversion: the preset's schedule and loss with the generator fixed (no group tuned,
  class embedding fixed): classic GAN inversion;
- deep image prior: the same schedule on a randomly initialised generator; the loss still uses
  the trained discriminator (the prior lives only in G's architecture);
- ablation (paper Table 4): pixel MSE only / discriminator loss without progression (every group
  tuned from stage 1) / discriminator + progressive (the preset itself).
"""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from ..biggan import BigGAN, build_biggan
from ..presets import ALL, Preset


def bicubic_upsample(lr: torch.Tensor, size: int) -> torch.Tensor:
    """1x3xhxw in [-1, 1] -> 1x3xSxS, clipped back to [-1, 1] (bicubic overshoots)."""
    return F.interpolate(lr, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)


def z_only(preset: Preset) -> Preset:
    """Only z is optimised: no generator group is tuned in any stage (and its rates are 0)."""
    n = preset.n_stages
    return replace(preset, name=f"{preset.name}/z-only", ft_num=(0,) * n, G_lrs=(0.0,) * n,
                   use_in=(False,) * n, update_embed=False)


DIP_SEED_OFFSET = 7919  # keeps the random G apart from a model that was itself built with a small seed


def dip_gan(gan: BigGAN, seed: int = 0) -> BigGAN:
    """A randomly initialised generator of the same architecture, paired with the trained D."""
    rnd = build_biggan(gan.config, with_D=False, device=gan.device, seed=DIP_SEED_OFFSET + seed)
    return BigGAN(rnd.G, gan.D, gan.config, name=f"{gan.name}/random-G", source=None)


ABLATION_VARIANTS = ("mse", "discriminator", "discriminator+progressive")
ABLATION_TITLES = {"mse": "MSE loss", "discriminator": "Discriminator loss",
                   "discriminator+progressive": "Discriminator + progressive"}


def is_progressive(preset: Preset) -> bool:
    return len(set(preset.ft_num)) > 1


def progressive(preset: Preset) -> Preset:
    """The preset if it already tunes shallow-to-deep; else (inpainting tunes every group in every
    stage) the super-resolution preset's ramp: 2, 3, 4, ... groups, all groups in the last stage."""
    if is_progressive(preset) or preset.n_stages < 2:
        return preset
    n = preset.n_stages
    ramp = tuple(min(2 + s, ALL) for s in range(n - 1)) + (ALL,)
    return replace(preset, name=f"{preset.name}/progressive", ft_num=ramp)


def ablation_preset(preset: Preset, variant: str) -> Preset:
    """The paper's ablation rows; only the last one fine-tunes progressively."""
    n = preset.n_stages
    if variant == "discriminator+progressive":
        return progressive(preset)
    flat = replace(preset, ft_num=(ALL,) * n)  # every group from stage 1
    if variant == "discriminator":
        return replace(flat, name=f"{preset.name}/no-progression")
    if variant == "mse":
        # pixel loss only; keep the preset's pixel weight where it has one
        w = tuple(float(m) if m > 0 else 1.0 for m in preset.w_mse)
        return replace(flat, name=f"{preset.name}/mse", w_D_loss=(0.0,) * n, w_mse=w)
    raise ValueError(f"unknown ablation variant '{variant}'; choose one of {', '.join(ABLATION_VARIANTS)}")


def same_schedule(a: Preset, b: Preset) -> bool:
    """Equal in everything but the name (so one run can stand for both)."""
    return replace(a, name=b.name) == b
