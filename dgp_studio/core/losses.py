"""DGP's objective: discriminator-feature L1 + pixel MSE + latent prior (DGP.md sections 1, 3)."""
from __future__ import annotations

import torch


def feature_l1(feats, target_feats, k: int) -> torch.Tensor:
    """Sum over the last k features of mean |D_i(a) - D_i(b)| (one scalar)."""
    total = feats[0].new_zeros(())
    for f, t in zip(feats[-k:], target_feats[-k:]):
        total = total + (f - t).abs().mean()
    return total


def feature_l1_per_sample(feats, target_feats, k: int) -> torch.Tensor:
    """Same, one value per batch entry (the candidate search)."""
    total = 0
    for f, t in zip(feats[-k:], target_feats[-k:]):
        total = total + (f - t).abs().flatten(1).mean(1)
    return total


class DGPLoss:
    """Holds D(x_hat) computed once: D is frozen, so the target features never change.
    ``recompute_target`` recomputes them at every call instead, as the authors' release does
    (same numbers, more work: the benchmark's "reference" mode)."""

    def __init__(self, D, target: torch.Tensor, recompute_target: bool = False):
        self.D = D
        self.target = target
        self.recompute_target = recompute_target
        self.target_feats = self._target_feats()

    @torch.no_grad()
    def _target_feats(self):
        return [f.detach() for f in self.D(self.target)[1]]

    def __call__(self, x_deg, z, k: int, w_D: float, w_mse: float, w_nll: float):
        if self.recompute_target:
            self.target_feats = self._target_feats()
        mse = ((x_deg - self.target) ** 2).mean()
        nll = (z ** 2 / 2).mean()
        total = w_mse * mse + w_nll * nll
        if w_D > 0 and k > 0:
            ftr = feature_l1(self.D(x_deg)[1], self.target_feats, k)
            total = total + w_D * ftr
        else:
            ftr = mse.new_zeros(())
        return total, {"total": total, "ftr": ftr, "mse": mse, "nll": nll}
