"""Spectrally normalised layers with BigGAN's buffer layout (``u0``, ``sv0``).

Every forward runs one power-iteration step without gradient and divides the
weight by sigma computed *with* gradient through W (DGP.md section 2).  In eval
mode the stored ``u0`` is left untouched, so a layer whose weight does not
change has a constant normalised weight; ``freeze_sn`` exploits that.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SN_EPS = 1e-6


def power_step(w_mat: torch.Tensor, u0: torch.Tensor, eps: float = SN_EPS):
    """One power-iteration step from ``u0``, without gradient (DGP.md section 2):
    -> (u, v, sigma) with v = normalize(u0 W), u = normalize(W v) and sigma = u^T W v (taken from
    W v, no further pass over W; callers that differentiate sigma recompute it with gradient)."""
    with torch.no_grad():
        v = F.normalize(u0 @ w_mat, eps=eps)
        t = v @ w_mat.t()
        u = F.normalize(t, eps=eps)
        return u, v, (u * t).sum()


class SpectralNormMixin:
    """Adds ``u0``/``sv0`` buffers and ``sn_weight()`` to a layer owning ``weight``."""

    def _init_sn(self, num_outputs: int, eps: float = SN_EPS) -> None:
        self.register_buffer("u0", torch.randn(1, num_outputs))
        self.register_buffer("sv0", torch.ones(1))
        self.sn_eps = eps
        self._frozen_weight: torch.Tensor | None = None

    def sn_weight(self) -> torch.Tensor:
        if self._frozen_weight is not None:
            return self._frozen_weight
        w_mat = self.weight.view(self.weight.size(0), -1)
        u, v, _ = power_step(w_mat, self.u0, self.sn_eps)
        if self.training:
            with torch.no_grad():
                self.u0.copy_(u)
        sigma = (v @ w_mat.t() @ u.t()).squeeze()
        if self.training:
            with torch.no_grad():
                self.sv0.copy_(sigma.detach().reshape(1))
        return self.weight / sigma

    def freeze_sn(self) -> None:
        """Cache W/sigma: valid while the weight and ``u0`` stay fixed (eval mode)."""
        self._frozen_weight = None
        with torch.no_grad():
            self._frozen_weight = self.sn_weight().detach()

    def unfreeze_sn(self) -> None:
        self._frozen_weight = None


class SNConv2d(nn.Conv2d, SpectralNormMixin):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, padding: int = 1,
                 bias: bool = True, eps: float = SN_EPS):
        super().__init__(in_ch, out_ch, kernel_size, padding=padding, bias=bias)
        self._init_sn(out_ch, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.sn_weight(), self.bias, self.stride, self.padding)


class SNLinear(nn.Linear, SpectralNormMixin):
    def __init__(self, in_f: int, out_f: int, bias: bool = True, eps: float = SN_EPS):
        super().__init__(in_f, out_f, bias=bias)
        self._init_sn(out_f, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.sn_weight(), self.bias)


class SNEmbedding(nn.Embedding, SpectralNormMixin):
    def __init__(self, num: int, dim: int, eps: float = SN_EPS):
        super().__init__(num, dim)
        self._init_sn(num, eps)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return F.embedding(y, self.sn_weight())


def sn_layers(module: nn.Module):
    return [m for m in module.modules() if isinstance(m, SpectralNormMixin)]
