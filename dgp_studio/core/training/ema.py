"""EMA copy of the generator, and "standing" batch-norm statistics for eval-mode sampling.

BigGAN samples from an exponential moving average of G's weights. The EMA copy's
batch-norm buffers (``stored_mean``/``stored_var``) were never produced by the EMA
weights themselves, so before the copy is used in eval mode (as DGP does, one image
at a time) its statistics are re-measured: run it in train mode over several batches
without gradients and store the plain average of the per-batch mean and variance.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from ..layers import ConditionalBN, PlainBN


class EMA:
    """Parameters follow ``decay`` (ramped up from 0 over the first steps); buffers are copied."""

    def __init__(self, source: nn.Module, decay: float = 0.999, warmup: int = 10):
        self.source = source
        self.model = copy.deepcopy(source).eval()
        self.model.requires_grad_(False)
        self.decay = decay
        self.warmup = warmup

    def decay_at(self, step: int) -> float:
        # early on the average should track G, otherwise it is stuck near the random init
        return min(self.decay, (1 + step) / (self.warmup + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = self.decay_at(step)
        src = dict(self.source.named_parameters())
        for name, p in self.model.named_parameters():
            p.lerp_(src[name].detach().to(p.dtype), 1 - d)
        srcb = dict(self.source.named_buffers())
        for name, b in self.model.named_buffers():
            b.copy_(srcb[name])


@torch.no_grad()
def standing_stats(G: nn.Module, n_classes: int, dim_z: int, batches: int = 16, batch_size: int = 64,
                   device="cpu", seed: int = 0, std: float = 1.0) -> None:
    """Replace every BN's stored mean/var by its average over ``batches`` train-mode batches.

    Also leaves the spectral-norm vectors ``u0`` refined by one power iteration per batch.
    G is left in eval mode.
    """
    norms = [m for m in G.modules() if isinstance(m, (ConditionalBN, PlainBN))]
    sums = {id(m): [0.0, 0.0] for m in norms}

    def hook(mod, args):
        x = args[0].float()
        s = sums[id(mod)]
        s[0] = s[0] + x.mean(dim=(0, 2, 3))
        s[1] = s[1] + x.var(dim=(0, 2, 3), unbiased=False)

    handles = [m.register_forward_pre_hook(hook) for m in norms]
    gen = torch.Generator().manual_seed(seed)
    G.train()
    try:
        for _ in range(batches):
            z = (torch.randn(batch_size, dim_z, generator=gen) * std).to(device)
            y = torch.randint(0, n_classes, (batch_size,), generator=gen).to(device)
            G(z, G.shared(y))
    finally:
        for h in handles:
            h.remove()
        G.eval()
    for m in norms:
        s = sums[id(m)]
        m.stored_mean.copy_(s[0] / batches)
        m.stored_var.copy_(s[1] / batches)
