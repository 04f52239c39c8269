"""BigGAN building blocks: conditional BN, self-attention, generator and discriminator blocks.

Parameter and buffer names follow the released checkpoints (see the JSON manifests).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .spectral import SNConv2d, SNLinear

BN_EPS = 1e-5


class ConditionalBN(nn.Module):
    """Batch norm with stored statistics whose gain/bias come from the class+z condition."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.gain = SNLinear(cond_dim, channels, bias=False)
        self.bias = SNLinear(cond_dim, channels, bias=False)
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def scale_shift(self, cond: torch.Tensor):
        gain = (1 + self.gain(cond))[:, :, None, None]
        bias = self.bias(cond)[:, :, None, None]
        return gain, bias

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gain, bias = self.scale_shift(cond)
        if self.training:
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=False)
            self._update_stats(mean, var)
        else:
            mean, var = self.stored_mean, self.stored_var
        scale = torch.rsqrt(var + BN_EPS)[None, :, None, None] * gain
        return (x - mean[None, :, None, None]) * scale + bias

    @torch.no_grad()
    def _update_stats(self, mean, var, momentum: float = 0.1):
        self.stored_mean.lerp_(mean.detach(), momentum)
        self.stored_var.lerp_(var.detach(), momentum)


class PlainBN(nn.Module):
    """Unconditional BN of the output layer (affine ``gain``/``bias``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=False)
            with torch.no_grad():
                self.stored_mean.lerp_(mean.detach(), 0.1)
                self.stored_var.lerp_(var.detach(), 0.1)
        else:
            mean, var = self.stored_mean, self.stored_var
        scale = torch.rsqrt(var + BN_EPS) * self.gain
        return (x - mean[None, :, None, None]) * scale[None, :, None, None] + self.bias[None, :, None, None]


class InstanceNormAffine(nn.Module):
    """DGP's optional instance norm (``in1``/``in2``), initialised to scale 1, shift 0."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=BN_EPS)

    @torch.no_grad()
    def match(self, x: torch.Tensor, bn_out: torch.Tensor) -> None:
        """Set scale/shift so that IN(x) equals ``bn_out`` for this (single) image."""
        mx = x.mean(dim=(0, 2, 3))
        vx = x.var(dim=(0, 2, 3), unbiased=False)
        mb = bn_out.mean(dim=(0, 2, 3))
        # bn_out = a*(x - mx) + mb per channel; a from the covariance keeps the sign.
        cov = ((x - mx[None, :, None, None]) * (bn_out - mb[None, :, None, None])).mean(dim=(0, 2, 3))
        a = cov / vx.clamp_min(1e-12)
        self.weight.copy_(a * torch.sqrt(vx + BN_EPS))
        self.bias.copy_(mb)


class Attention(nn.Module):
    """SAGAN self-attention with BigGAN's channel split (C/8 query/key, C/2 value)."""

    def __init__(self, ch: int):
        super().__init__()
        if ch < 8:  # query/key get ch // 8 channels
            raise ValueError(f"self-attention needs at least 8 channels where it sits, this layer has {ch}: "
                             f"use a larger width (G_ch / D_ch) or no attention at that resolution")
        self.ch = ch
        self.theta = SNConv2d(ch, ch // 8, 1, padding=0, bias=False)
        self.phi = SNConv2d(ch, ch // 8, 1, padding=0, bias=False)
        self.g = SNConv2d(ch, ch // 2, 1, padding=0, bias=False)
        self.o = SNConv2d(ch // 2, ch, 1, padding=0, bias=False)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor, *_unused) -> torch.Tensor:
        b, c, h, w = x.shape
        theta = self.theta(x).view(b, c // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).view(b, c // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).view(b, c // 2, h * w // 4)
        beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), dim=-1)
        o = self.o(torch.bmm(g, beta.transpose(1, 2)).view(b, c // 2, h, w))
        return x + self.gamma * o


class GBlock(nn.Module):
    """BN-ReLU-up-conv-BN-ReLU-conv with a 1x1 shortcut on the upsampled input."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int):
        super().__init__()
        self.conv1 = SNConv2d(in_ch, out_ch)
        self.conv2 = SNConv2d(out_ch, out_ch)
        self.conv_sc = SNConv2d(in_ch, out_ch, 1, padding=0)
        self.bn1 = ConditionalBN(in_ch, cond_dim)
        self.bn2 = ConditionalBN(out_ch, cond_dim)
        self.in1 = InstanceNormAffine(in_ch)
        self.in2 = InstanceNormAffine(out_ch)
        self.use_in = False
        self._calibrate_in = False

    def _norm(self, bn, inorm, x, cond):
        if self._calibrate_in:
            out = bn(x, cond)
            inorm.match(x, out)
            return out
        return inorm(x) if self.use_in else bn(x, cond)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.relu(self._norm(self.bn1, self.in1, x, cond))
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv1(h)
        h = F.relu(self._norm(self.bn2, self.in2, h, cond))
        h = self.conv2(h)
        return h + self.conv_sc(x)


class DBlock(nn.Module):
    """Residual D block; the first one is not pre-activated, pooling is 2x2 average."""

    def __init__(self, in_ch: int, out_ch: int, preactivation: bool, downsample: bool):
        super().__init__()
        self.preactivation = preactivation
        self.downsample = downsample
        self.conv1 = SNConv2d(in_ch, out_ch)
        self.conv2 = SNConv2d(out_ch, out_ch)
        self.learnable_sc = in_ch != out_ch or downsample
        if self.learnable_sc:
            self.conv_sc = SNConv2d(in_ch, out_ch, 1, padding=0)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.preactivation:
            if self.learnable_sc:
                x = self.conv_sc(x)
            if self.downsample:
                x = F.avg_pool2d(x, 2)
        else:
            if self.downsample:
                x = F.avg_pool2d(x, 2)
            if self.learnable_sc:
                x = self.conv_sc(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        return h + self._shortcut(x)
