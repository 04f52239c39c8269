"""Several photos reconstructed together: one generator evaluation for N images, each with its
own copy of the tuned weights (issue 6's batch-throughput path; groupedrun.py drives it).

A batch-1 DGP iteration leaves a GPU mostly idle (a few thousand small kernels); N images in
one iteration launch the same kernels once with N times the work.  Each image keeps its own
theta: every tunable weight is stored stacked, shape (N, *shape), and a layer whose copies may
differ runs as one grouped convolution (``groups=N``) or one batched matrix product.  A layer
whose copies cannot differ yet (its group has not been tuned in any stage so far) runs as an
ordinary batch-N layer on the module's own weight, which dense kernels do best.

Per image this is the fast path's arithmetic (fastpath.py: D(x_hat) once, frozen layers'
W/sigma once per stage, the 1x1 shortcut before the upsample), without its batch-1 CPU
devices (layout copies, smallconv, the shared spectral-norm node).  Every image's loss is its
own mean, and the total is their sum, so each image's weights get exactly its own gradient;
Adam is element-wise, so one optimiser over the stacked tensors is N independent ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .biggan import BOTTOM, Generator
from .fastpath import FastDiscriminator, sn_weight
from .layers import BN_EPS, Attention, GBlock
from .spectral import SpectralNormMixin


def stacked_sn(w: torch.Tensor, u0: torch.Tensor, eps: float) -> torch.Tensor:
    """W/sigma of each of the N stacked weights ``w`` (N, out, ...): one power step from the
    layer's ``u0`` without gradient, sigma = v W^T u with gradient through W (spectral.py)."""
    n, o = w.shape[:2]
    mat = w.reshape(n, o, -1)
    with torch.no_grad():
        v = F.normalize(torch.matmul(u0, mat), dim=-1, eps=eps)                 # (N, 1, K)
        u = F.normalize(torch.matmul(v, mat.transpose(1, 2)), dim=-1, eps=eps)  # (N, 1, out)
    sigma = torch.matmul(torch.matmul(v, mat.transpose(1, 2)), u.transpose(1, 2))  # (N, 1, 1)
    return w / sigma.view(n, *([1] * (w.dim() - 1)))


class GroupedGenerator:
    """N images' generators over one ``Generator``'s structure, buffers and untuned weights."""

    def __init__(self, G: Generator, n: int, dtype=torch.float32, update_embed: bool = False):
        self.G, self.n, self.dtype = G, int(n), dtype
        self.group_of: dict[int, int] = {}
        modules = G.group_modules()
        for i, m in enumerate(modules):
            for sub in m.modules():
                self.group_of[id(sub)] = i
        # the stacked copies, per tunable group (what the optimiser updates)
        self.stacked: dict[int, torch.Tensor] = {}
        self.groups: list[list[torch.Tensor]] = []
        for params in G.group_params(update_embed):
            group = []
            for q in params:
                s = q.detach().unsqueeze(0).repeat(self.n, *([1] * q.dim())).contiguous()
                self.stacked[id(q)] = s
                group.append(s)
            self.groups.append(group)
        if update_embed:
            self.group_of[id(G.shared)] = 0
        self.touched: set[int] = set()  # groups tuned in some stage: their copies may differ
        self.ft = 0
        self._cache: dict = {}

    # -- which weights a layer uses ---------------------------------------------------------
    def _copies(self, layer) -> bool:
        return self.group_of.get(id(layer), -1) in self.touched

    def _live(self, layer) -> bool:
        return self.group_of.get(id(layer), -1) < self.ft and self._copies(layer)

    def param(self, layer, name: str):
        """(tensor, stacked?) for ``layer.<name>``: the stacked copies once the group was tuned
        (detached while it is frozen), else the module's own tensor."""
        q = getattr(layer, name)
        if q is None:
            return None, False
        if not self._copies(layer):
            return q.detach(), False
        s = self.stacked[id(q)]
        return (s if self._live(layer) else s.detach()), True

    def W(self, layer: SpectralNormMixin, fp32: bool = False):
        """(W/sigma, stacked?) in the compute dtype (fp32 for the small linears)."""
        dtype = torch.float32 if fp32 else self.dtype
        live = self._live(layer)
        key = (id(layer), fp32)
        if not live and key in self._cache:
            return self._cache[key]
        if self._copies(layer):
            w = stacked_sn(self.stacked[id(layer.weight)], layer.u0, layer.sn_eps)
            out = (w.to(dtype), True)
        else:
            out = (sn_weight(layer, False, dtype), False)
        if not live:
            out = (out[0].detach(), out[1])
            self._cache[key] = out
        return out

    def set_trainable(self, ft: int) -> None:
        """Groups < ft are tuned from now on (their copies get gradients); the rest are cached."""
        self.ft = int(ft)
        self.touched.update(range(self.ft))
        for i, group in enumerate(self.groups):
            for s in group:
                s.requires_grad_(i < self.ft)
        self._cache.clear()

    # -- layers --------------------------------------------------------------------------------
    def linear(self, x: torch.Tensor, layer) -> torch.Tensor:
        w, st = self.W(layer, fp32=True)
        b, _ = self.param(layer, "bias")
        if not st:
            return F.linear(x, w, b)
        y = torch.bmm(x.unsqueeze(1), w.transpose(1, 2)).squeeze(1)
        return y if b is None else y + b

    def conv(self, x: torch.Tensor, layer) -> torch.Tensor:
        w, st = self.W(layer)
        b, _ = self.param(layer, "bias")
        x = x.to(self.dtype)
        b = None if b is None else b.to(self.dtype)
        if not st:
            return F.conv2d(x, w, b, 1, layer.padding)
        n, c, h, wd = x.shape
        o = w.shape[1]
        y = F.conv2d(x.reshape(1, n * c, h, wd), w.reshape(n * o, *w.shape[2:]),
                     None if b is None else b.reshape(n * o), 1, layer.padding, 1, n)
        return y.view(n, o, *y.shape[-2:])

    def cbn(self, bn, x, cond):
        key = (id(bn), "stats")
        if key not in self._cache:
            self._cache[key] = (torch.rsqrt(bn.stored_var + BN_EPS), bn.stored_mean)
        inv_std, mean = self._cache[key]
        scale = inv_std * (1 + self.linear(cond, bn.gain))
        shift = self.linear(cond, bn.bias) - mean * scale
        return torch.addcmul(shift.to(x.dtype)[:, :, None, None], x, scale.to(x.dtype)[:, :, None, None])

    def block(self, blk: GBlock, x, cond):
        h = F.relu(self.cbn(blk.bn1, x, cond))
        h = self.conv(F.interpolate(h, scale_factor=2, mode="nearest"), blk.conv1)
        h = F.relu(self.cbn(blk.bn2, h, cond))
        h = self.conv(h, blk.conv2)
        sc = F.interpolate(self.conv(x, blk.conv_sc), scale_factor=2, mode="nearest")  # 1x1 commutes
        return h + sc.to(h.dtype)

    def attention(self, att: Attention, x):
        b, c, h, w = x.shape
        theta = self.conv(x, att.theta).view(b, c // 8, h * w)
        phi = F.max_pool2d(self.conv(x, att.phi), 2).view(b, c // 8, h * w // 4)
        g = F.max_pool2d(self.conv(x, att.g), 2).view(b, c // 2, h * w // 4)
        beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), dim=-1)
        o = self.conv(torch.bmm(g, beta.transpose(1, 2)).view(b, c // 2, h, w), att.o)
        gamma, st = self.param(att, "gamma")
        gamma = gamma.view(-1, 1, 1, 1) if st else gamma
        return x.float() + gamma * o.float()

    def embed(self, y: torch.Tensor) -> torch.Tensor:
        """Each image's class embedding c_i = E_i[y_i] (its own table when update_embed)."""
        q = self.G.shared.weight
        if id(q) in self.stacked and self._copies(self.G.shared):
            table = self.stacked[id(q)] if self._live(self.G.shared) else self.stacked[id(q)].detach()
            return table[torch.arange(self.n, device=y.device), y]
        return F.embedding(y, q.detach())

    def __call__(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        G = self.G
        zs = torch.split(z, G.config.z_chunk, dim=1)
        h = self.linear(zs[0], G.linear).view(self.n, -1, BOTTOM, BOTTOM)
        for i, block in enumerate(G.blocks):
            cond = torch.cat([c, zs[i + 1]], dim=1)
            h = self.block(block[0], h, cond)
            for layer in block[1:]:
                h = self.attention(layer, h)
        bn, conv = G.output_layer[0], G.output_layer[2]  # never tuned: shared by every image
        key = (id(bn), "out")
        if key not in self._cache:
            with torch.no_grad():
                scale = torch.rsqrt(bn.stored_var + BN_EPS) * bn.gain
                self._cache[key] = (scale[None, :, None, None],
                                    (bn.bias - bn.stored_mean * scale)[None, :, None, None])
        scale, shift = self._cache[key]
        h = F.relu(torch.addcmul(shift, h.float(), scale))
        w, _ = self.W(conv, fp32=True)
        return torch.tanh(F.conv2d(h, w, conv.bias.detach(), 1, 1)).contiguous()

    def copy_into(self, G: Generator, i: int) -> None:
        """Image ``i``'s tuned weights into an ordinary generator of the same structure."""
        names = {id(q): name for name, q in self.G.named_parameters()}
        mine = dict(G.named_parameters())
        with torch.no_grad():
            for pid, s in self.stacked.items():
                mine[names[pid]].copy_(s[i])


class GroupedObjective:
    """DGP's loss for N images at once: each image's own mean terms, summed (see module doc)."""

    def __init__(self, G: Generator, D, targets: torch.Tensor, degradations: list, dtype=torch.float32,
                 update_embed: bool = False):
        self.G = GroupedGenerator(G, len(degradations), dtype, update_embed)
        self.D = FastDiscriminator(D, dtype, channels_last=False)
        self.targets = targets
        self.degradations = degradations
        self._one_deg = all(d is degradations[0] for d in degradations)
        with torch.no_grad():
            self.target_feats = [f.detach() for f in self.D.features(targets)]

    def set_trainable(self, ft: int) -> None:
        self.G.set_trainable(ft)

    def degrade(self, x: torch.Tensor) -> torch.Tensor:
        if self._one_deg:
            return self.degradations[0](x)
        return torch.cat([d(x[i:i + 1]) for i, d in enumerate(self.degradations)])

    def __call__(self, z, c, k: int, w_D: float, w_mse: float, w_nll: float):
        """-> (G outputs fp32 (N,3,H,W), summed loss, parts: each an (N,) tensor)."""
        x = self.G(z, c)
        x_deg = self.degrade(x)
        mse = ((x_deg - self.targets) ** 2).flatten(1).mean(1)
        nll = (z ** 2 / 2).mean(1)
        per = w_mse * mse + w_nll * nll
        if w_D > 0 and k > 0:
            feats = self.D.features(x_deg)
            ftr = mse.new_zeros(mse.shape)
            for f, t in zip(feats[-k:], self.target_feats[-k:]):
                ftr = ftr + (f - t).abs().flatten(1).mean(1, dtype=torch.float32)
            per = per + w_D * ftr
        else:
            ftr = mse.new_zeros(mse.shape)
        return x, per.sum(), {"total": per, "ftr": ftr, "mse": mse, "nll": nll}
