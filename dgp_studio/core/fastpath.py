"""The fast engine path: the same G and D, evaluated with less work per iteration.

``FastGenerator`` / ``FastDiscriminator`` read the parameters of the ordinary
``Generator`` / ``Discriminator`` modules (so Adam updates the modules and their
state dicts stay the single source of truth) but evaluate them differently:

- spectral norm of the tuned layers through one autograd node (``SNWeights``; the big
  convolutions through one each) whose backward is the closed form (g - <g, W/s> u v^T) / s
  instead of ~10 generic nodes per layer;
- normalised weights of frozen layers (every D layer, the output layer, groups >= ft)
  computed once, already cast to the compute dtype and memory format;
- a compute dtype (bf16 on CPUs with AMX / AVX512-BF16, where oneDNN's bf16
  convolutions are 3-5x faster than fp32 at batch 1) and channels-last activations;
  parameters, Adam and the loss stay fp32;
- cheaper but mathematically equal orderings: the 1x1 shortcut of a G block runs
  before the nearest upsample, a D block's shortcut after its average pool;
- on the CPU (channels-last), the tuned k x k conv weights are optimised as contiguous
  (out, kh, kw, in) copies ("layout copies"): W/sigma -> bf16 and its gradient -> fp32 are then
  plain casts instead of permuting ones, and Adam still sees contiguous tensors.  The copies
  are written back into the modules at every stage change and at the end of the run.  Not on
  CUDA: unmeasured there, and one more copy of the tuned weights counts against GPU memory.
- on the CPU (with layout copies), tuned 3x3 convolutions on maps of at most 64 positions (a
  64 px G's first block) run as im2col + matrix products straight on the layout copy, with sigma
  kept off the weight (``smallconv``).

The final image of a run is rendered by the ordinary fp32 modules (reconstructor.py),
so results stay comparable across modes and manipulations reproduce them exactly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import runtime, smallconv
from .biggan import BOTTOM, Discriminator, Generator
from .layers import BN_EPS, Attention, GBlock
from .spectral import SNConv2d, SNLinear, SpectralNormMixin


def _like(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``t`` in ``ref``'s dtype and memory format (branches may run at different precisions)."""
    fmt = torch.channels_last if ref.dim() == 4 and ref.is_contiguous(memory_format=torch.channels_last) \
        and not ref.is_contiguous() else torch.contiguous_format
    return t.to(ref.dtype).contiguous(memory_format=fmt)


class SNWeights(torch.autograd.Function):
    """W_l / sigma_l for several layers in one autograd node, each with sigma = u'^T W v (u', v
    from one power step from the layer's u0, treated as constants), each returned directly in
    its compute dtype / memory format.

    Forward values are the reference's up to rounding.  The backward is the closed form
    d(W/sigma)/dW . g = g/sigma - <g, W/sigma>/sigma u' v^T: three passes over W instead of the
    ~10 generic autograd nodes of the plain expression.

    Per layer only the work on W itself runs (two matrix-vector products, the division, and in
    the backward the division, a dot product and a rank-1 update); every normalisation is a
    0-d scalar kept aside (v = v_raw / a, u = t_raw / (a nc)) so that all of them run as a few
    list-wide ``_foreach`` ops on equally shaped 0-d tensors, which CUDA fuses into one kernel
    each.  With every layer of a BigGAN-256 tuned, the per-layer vector arithmetic was a fifth to
    a third of a fast iteration's ~1,400 ops, and at batch 1 each op is a kernel the GPU must
    launch or replay."""

    @staticmethod
    def forward(ctx, specs, *weights):
        # specs[l] = (u0, eps, out dtype, channels_last)
        eps = [s[1] for s in specs]
        mats = [w.view(w.shape[0], -1) for w in weights]
        v_raw = [torch.mm(s[0], w) for s, w in zip(specs, mats)]  # v = v_raw / a
        t_raw = [torch.mm(v, w.t()) for v, w in zip(v_raw, mats)]  # t = W v = t_raw / a
        a = torch._foreach_clamp_min(torch._foreach_norm(v_raw), eps)  # F.normalize: x / max(|x|, eps)
        n = torch._foreach_div(torch._foreach_norm(t_raw), a)  # |t|
        nc = torch._foreach_clamp_min(n, eps)  # u = t / nc
        sigma = torch._foreach_div(torch._foreach_mul(n, n), nc)  # = t . u
        outs = []
        for (_, _, dtype, cl), w, s in zip(specs, weights, sigma):
            fmt = torch.channels_last if cl and w.dim() == 4 else torch.contiguous_format
            out = torch.empty(w.shape, dtype=dtype, device=w.device, memory_format=fmt)
            outs.append(torch.div(w, s, out=out))  # divide and cast in one pass
        # u v^T = t_raw v_raw^T / (a^2 nc): the backward needs the raw vectors and that scale
        uv_scale = torch._foreach_div(torch._foreach_reciprocal(torch._foreach_mul(a, a)), nc)
        ctx.n = len(weights)
        ctx.set_materialize_grads(False)  # a layer the forward did not use gets no gradient, as in autograd
        ctx.save_for_backward(*weights, *t_raw, *v_raw, *sigma, *uv_scale)
        return tuple(outs)

    @staticmethod
    def backward(ctx, *gs):
        n = ctx.n
        saved = ctx.saved_tensors
        weights, t_raw, v_raw, sigma, uv_scale = (saved[i * n:(i + 1) * n] for i in range(5))
        used = [i for i, g in enumerate(gs) if g is not None]
        if not used:
            return (None,) * (n + 1)
        grads, dots = [None] * n, []
        for i in used:
            w = weights[i]
            grad = grads[i] = torch.empty(w.shape, dtype=w.dtype, device=w.device)
            torch.div(gs[i], sigma[i], out=grad)  # g / sigma, back in fp32 and W's layout, in one pass
            dots.append(torch.dot(grad.view(-1), w.view(-1)))  # <g/sigma, W> = <g, W/sigma>
        # grad -= <g, W/sigma> / sigma * u v^T
        coef = torch._foreach_div(torch._foreach_mul(dots, [uv_scale[i] for i in used]), [sigma[i] for i in used])
        for i, c in zip(used, coef):
            grads[i].view(grads[i].shape[0], -1).addmm_(t_raw[i].t() * c, v_raw[i], alpha=-1)
        return (None, *grads)


def sn_weights(layers, weights=None, dtypes=None, channels_last=None) -> tuple:
    """Differentiable W/sigma of ``layers`` in one node (``weights``: tensors to use in place of
    the layers' own, e.g. layout copies; ``dtypes`` / ``channels_last``: per layer)."""
    n = len(layers)
    weights = weights or [m.weight for m in layers]
    dtypes = dtypes or [torch.float32] * n
    channels_last = channels_last or [False] * n
    specs = tuple((m.u0, m.sn_eps, d, c) for m, d, c in zip(layers, dtypes, channels_last))
    return SNWeights.apply(specs, *weights)


def sn_weight(layer: SpectralNormMixin, differentiable: bool, dtype=torch.float32,
              channels_last: bool = False) -> torch.Tensor:
    if differentiable:
        return sn_weights([layer], dtypes=[dtype], channels_last=[channels_last])[0]
    with torch.no_grad():
        saved, layer._frozen_weight = layer._frozen_weight, None
        try:
            w = layer.sn_weight()
        finally:
            layer._frozen_weight = saved
        fmt = torch.channels_last if channels_last and w.dim() == 4 else torch.contiguous_format
        return w.to(dtype=dtype, memory_format=fmt)


class _FastNet:
    """Weight access with a cache for frozen layers (in compute dtype / memory format)."""

    def __init__(self, dtype: torch.dtype, channels_last: bool):
        self.dtype = dtype
        self.channels_last = channels_last
        self._cache: dict[int, torch.Tensor] = {}
        self._live: set[int] = set()  # layers whose weights are being tuned
        self._step: dict = {}  # this call's W/sigma of the tuned layers, made in one node

    def act(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()

    def W(self, layer, fp32: bool = False) -> torch.Tensor:
        """Normalised weight of ``layer``: compute dtype (or fp32 for the small linears)."""
        dtype, cl = (torch.float32, False) if fp32 else (self.dtype, self.channels_last)
        if id(layer) in self._live:
            w = self._step.get((id(layer), fp32))
            return w if w is not None else sn_weight(layer, True, dtype, cl)
        key = (id(layer), fp32)
        w = self._cache.get(key)
        if w is None:
            w = self._cache[key] = sn_weight(layer, False, dtype, cl)
        return w

    def bias(self, layer):
        if layer.bias is None:
            return None
        if id(layer) in self._live:
            return layer.bias.to(self.dtype)
        key = (id(layer), "bias")
        b = self._cache.get(key)
        if b is None:
            b = self._cache[key] = layer.bias.detach().to(self.dtype)
        return b

    def conv(self, x, layer):
        return F.conv2d(self.act(x), self.W(layer), self.bias(layer), 1, layer.padding)

    def attention(self, att: Attention, x: torch.Tensor) -> torch.Tensor:
        # channels-last makes (B, C, H, W) -> (B, HW, C) a free view
        b, c, h, w = x.shape
        theta = self.conv(x, att.theta).permute(0, 2, 3, 1).reshape(b, h * w, c // 8)
        phi = F.max_pool2d(self.conv(x, att.phi), 2).permute(0, 2, 3, 1).reshape(b, h * w // 4, c // 8)
        g = F.max_pool2d(self.conv(x, att.g), 2).permute(0, 2, 3, 1).reshape(b, h * w // 4, c // 2)
        beta = F.softmax(torch.bmm(theta, phi.transpose(1, 2)), dim=-1)
        o = torch.bmm(beta, g).view(b, h, w, c // 2).permute(0, 3, 1, 2)
        if self.channels_last:
            o = o.contiguous(memory_format=torch.channels_last)
        else:
            o = o.contiguous()
        return x.float() + att.gamma * self.conv(o, att.o).float()


class FastGenerator(_FastNet):
    # A shared node's backward runs once every gradient it needs has arrived, so each layer's
    # gradient w.r.t. W/sigma waits there: fine for the many small layers (class-conditional BN
    # linears, 1x1 convolutions: the op count), not for BigGAN-256's big convolutions (21 M
    # weights each; all of them waiting would add ~0.3 GB to a GPU run's peak).  Layers from this
    # size on keep a node of their own, made right before their convolution.
    ONE_NODE_MAX_NUMEL = 1 << 20
    SMALL_CONV = True  # tuned 3x3 convolutions on small maps as matrix products (smallconv.py); a switch for A/B

    def __init__(self, G: Generator, dtype=torch.float32, channels_last=False, layout_copies=False,
                 one_sn_node=None):
        """``layout_copies`` (for a run that tunes G, with channels-last): see the module doc.
        ``one_sn_node``: the tuned layers' W/sigma made in one node per call (None: runtime's
        setting); otherwise one node per layer, as each is used."""
        super().__init__(dtype, channels_last)
        self.one_sn_node = runtime.one_sn_node() if one_sn_node is None else one_sn_node
        self.G = G
        self._out_affine = None
        self._tuned: list = []
        self._copies: dict[int, tuple[torch.nn.Module, torch.Tensor]] = {}
        if layout_copies and channels_last:
            for group in G.group_modules():
                for m in group.modules():
                    w = getattr(m, "weight", None)
                    if isinstance(m, SpectralNormMixin) and w is not None and w.dim() == 4 and w.shape[-1] > 1:
                        ohwi = w.detach().permute(0, 2, 3, 1).contiguous().requires_grad_(w.requires_grad)
                        self._copies[id(m)] = (m, ohwi)
        self._by_param = {id(m.weight): c for m, c in self._copies.values()}
        # layout-copied convolutions whose feature map is small enough for smallconv (every G
        # block upsamples x2, so a block's convolutions run at BOTTOM * 2^(i+1))
        self._small: set[int] = set()
        if self.SMALL_CONV and self._copies:
            for i, block in enumerate(G.blocks):
                px = (BOTTOM << (i + 1)) ** 2
                self._small.update(id(m) for m in (block[0].conv1, block[0].conv2)
                                   if id(m) in self._copies and smallconv.qualifies(m, px))

    def optimised(self, params):
        """The tensors an optimiser should update in place of the module's ``params``."""
        return [self._by_param.get(id(q), q) for q in params]

    def write_back(self) -> None:
        """Copy the layout copies into the modules' weights (the modules stay the source of truth)."""
        with torch.no_grad():
            for m, ohwi in self._copies.values():
                m.weight.copy_(ohwi.permute(0, 3, 1, 2))

    def W(self, layer, fp32: bool = False) -> torch.Tensor:
        copy = self._copies.get(id(layer))
        if copy is not None and id(layer) in self._live and not fp32 and (id(layer), fp32) not in self._step:
            return self._copy_view(sn_weights([layer], [copy[1]], [self.dtype])[0])
        return super().W(layer, fp32)

    def conv(self, x, layer):
        if id(layer) in self._small and id(layer) in self._live:
            x = self.act(x)
            if smallconv.qualifies(layer, x.shape[0] * x.shape[-2] * x.shape[-1]):
                return smallconv.small_sn_conv(x, layer, self._copies[id(layer)][1], layer.bias)
        return super().conv(x, layer)

    @staticmethod
    def _copy_view(w):
        # a layout copy's W/sigma is contiguous (out, kh, kw, in); this view is (out, in, kh, kw) channels-last
        return w.permute(0, 3, 1, 2)

    def _prepare(self) -> None:
        """W/sigma of the tuned layers below ONE_NODE_MAX_NUMEL for this call, in one autograd node."""
        if not (self._tuned and self.one_sn_node):
            return
        layers, weights, dtypes, cl = self._node_args
        for (m, fp32), w in zip(self._tuned, sn_weights(layers, weights, dtypes, cl)):
            self._step[(id(m), fp32)] = self._copy_view(w) if id(m) in self._copies else w

    def set_trainable(self, ft: int) -> None:
        """Groups < ft are tuned (fresh W/sigma each call); everything else is cached."""
        self.write_back()  # frozen layers' cached W/sigma must see the tuned values
        self._cache.clear()
        self._live = set()
        self._out_affine = None
        self._tuned = []  # (layer, fp32): the linears run in fp32, the convolutions in the compute dtype
        for i, m in enumerate(self.G.group_modules()):
            if i < ft:
                self._live.update(id(x) for x in m.modules())
                self._tuned += [(x, isinstance(x, SNLinear)) for x in m.modules()
                                if isinstance(x, (SNLinear, SNConv2d)) and x.weight.numel() < self.ONE_NODE_MAX_NUMEL
                                and id(x) not in self._small]  # smallconv normalises its own
        # the shared node's arguments change only here (layout copies are fixed tensors)
        self._node_args = ([m for m, _ in self._tuned],
                           [self._copies[id(m)][1] if id(m) in self._copies else m.weight for m, _ in self._tuned],
                           [torch.float32 if fp32 else self.dtype for _, fp32 in self._tuned],
                           [self.channels_last and not fp32 and id(m) not in self._copies for m, fp32 in self._tuned])

    def _cbn(self, bn, x, cond):
        # (x - mean) * rsqrt(var + eps) * gain + bias as one scale/shift per (sample, channel)
        key = (id(bn), "stats")  # stored statistics are constants during a run (eval mode)
        if key not in self._cache:
            self._cache[key] = (torch.rsqrt(bn.stored_var + BN_EPS), bn.stored_mean)
        inv_std, mean = self._cache[key]
        gain = 1 + F.linear(cond, self.W(bn.gain, fp32=True))
        bias = F.linear(cond, self.W(bn.bias, fp32=True))
        scale = inv_std * gain
        shift = bias - mean * scale
        return torch.addcmul(shift.to(x.dtype)[:, :, None, None], x, scale.to(x.dtype)[:, :, None, None])

    def _norm(self, block: GBlock, which: int, x, cond):
        if block.use_in:
            inorm = block.in1 if which == 1 else block.in2
            return F.instance_norm(x.float(), weight=inorm.weight, bias=inorm.bias, eps=BN_EPS).to(x.dtype)
        return self._cbn(block.bn1 if which == 1 else block.bn2, x, cond)

    def block(self, blk: GBlock, x, cond):
        h = F.relu(self._norm(blk, 1, x, cond))
        h = self.conv(F.interpolate(h, scale_factor=2, mode="nearest"), blk.conv1)
        h = F.relu(self._norm(blk, 2, h, cond))
        h = self.conv(h, blk.conv2)
        # a 1x1 conv commutes with nearest upsampling: 4x fewer MACs, same values
        sc = F.interpolate(self.conv(x, blk.conv_sc), scale_factor=2, mode="nearest")
        return h + _like(sc, h)

    def _output_affine(self):
        if self._out_affine is None:  # the output layer is never tuned: its BN is a constant affine
            bn = self.G.output_layer[0]
            with torch.no_grad():
                scale = torch.rsqrt(bn.stored_var + BN_EPS) * bn.gain
                shift = bn.bias - bn.stored_mean * scale
            self._out_affine = (scale[None, :, None, None], shift[None, :, None, None])
        return self._out_affine

    def __call__(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        self._prepare()
        try:
            return self._forward(z, c)
        finally:
            self._step = {}  # the autograd graph keeps what it needs; do not hold it past the call

    def _forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        G = self.G
        zs = torch.split(z, G.config.z_chunk, dim=1)
        lin = G.linear
        h = self.act(F.linear(zs[0], self.W(lin, fp32=True), lin.bias).view(z.shape[0], -1, BOTTOM, BOTTOM))
        for i, block in enumerate(G.blocks):
            cond = torch.cat([c, zs[i + 1]], dim=1)
            h = self.block(block[0], h, cond)
            for layer in block[1:]:
                h = self.attention(layer, h)
        # the output layer runs in fp32 (3 output channels: cheap), so the image the loss sees
        # is not rounded to bf16's 8 bits
        scale, shift = self._output_affine()
        h = F.relu(torch.addcmul(shift, h.float(), scale))
        out = torch.tanh(F.conv2d(h, self.W(G.output_layer[2], fp32=True), G.output_layer[2].bias, 1, 1))
        return out.contiguous()  # callers may view() the image


class FastDiscriminator(_FastNet):
    """D is frozen during DGP: every weight cached once; only the input gradient flows."""

    def __init__(self, D: Discriminator, dtype=torch.float32, channels_last=False):
        super().__init__(dtype, channels_last)
        self.D = D

    def _dblock(self, blk, x):
        h = F.relu(x) if blk.preactivation else x
        h = self.conv(F.relu(self.conv(h, blk.conv1)), blk.conv2)
        sc = x
        if blk.downsample:
            h = F.avg_pool2d(h, 2)
            sc = F.avg_pool2d(sc, 2)  # average pooling commutes with the 1x1 shortcut conv
        if blk.learnable_sc:
            sc = self.conv(sc, blk.conv_sc)
        # the block output is a loss feature: summed in fp32 so that nearly equal features do not
        # round to exactly equal bf16 values (L1's gradient would vanish there, unlike in fp32)
        return h.float() + sc.float()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        h = self.act(x)
        for block in self.D.blocks:
            h = self._dblock(block[0], h)
            feats.append(h)
            for layer in block[1:]:
                h = self.attention(layer, h)
                feats.append(h)
        feats.append(torch.sum(F.relu(h), dim=(2, 3)))
        return feats


class FastObjective:
    """DGP's loss (DGP.md section 1) on the fast networks; D(x_hat) computed once."""
    LAYOUT_COPIES = True  # see FastGenerator; a switch for the A/B test and the bench

    def __init__(self, G: Generator, D: Discriminator, target: torch.Tensor, degradation,
                 dtype=torch.float32, channels_last=False):
        self.G = FastGenerator(G, dtype, channels_last,
                               layout_copies=self.LAYOUT_COPIES and target.device.type == "cpu")
        self.D = FastDiscriminator(D, dtype, channels_last)
        self.target = target
        self.degradation = degradation
        with torch.no_grad():
            self.target_feats = [f.detach() for f in self.D.features(target)]

    def set_trainable(self, ft: int) -> None:
        self.G.set_trainable(ft)

    def __call__(self, z, c, k: int, w_D: float, w_mse: float, w_nll: float):
        """-> (G output fp32, total loss, parts as 0-d tensors)."""
        x = self.G(z, c)
        x_deg = self.degradation(x)
        mse = ((x_deg - self.target) ** 2).mean()
        nll = (z ** 2 / 2).mean()
        total = w_mse * mse + w_nll * nll
        if w_D > 0 and k > 0:
            feats = self.D.features(x_deg)
            ftr = mse.new_zeros(())
            for f, t in zip(feats[-k:], self.target_feats[-k:]):
                ftr = ftr + (f - t).abs().mean(dtype=torch.float32)
            total = total + w_D * ftr
        else:
            ftr = mse.new_zeros(())
        return x, total, {"total": total, "ftr": ftr, "mse": mse, "nll": nll}


@torch.no_grad()
def rank_candidates(G: Generator, D: Discriminator, degradation, target, zs, ys, k: int, batch: int,
                    dtype=torch.float32, channels_last=False, should_stop=None, on_batch=None):
    """Feature-L1 (last k D features) of every candidate G(z_i, y_i) against the target,
    computed in ``dtype`` in batches; -> CPU tensor of losses (shorter if stopped)."""
    fg = FastGenerator(G, dtype, channels_last)
    fg.set_trainable(0)
    fd = FastDiscriminator(D, dtype, channels_last)
    tf = fd.features(target)
    dev = target.device
    out = []
    n = zs.shape[0]
    for a in range(0, n, batch):
        if should_stop is not None and should_stop():
            break
        z = zs[a:a + batch].to(dev)
        y = ys[a:a + batch].to(dev)
        feats = fd.features(degradation(fg(z, G.shared(y))))
        loss = 0
        for f, t in zip(feats[-k:], tf[-k:]):
            loss = loss + (f - t).abs().flatten(1).mean(1, dtype=torch.float32)
        out.append(loss)  # kept on the device: one host copy at the end, not a sync per batch
        if on_batch is not None:
            on_batch(min(a + batch, n), n)
    return torch.cat(out).cpu() if out else torch.zeros(0)


class FrozenRender(torch.nn.Module):
    """G(z, c) with every weight frozen, fp32 and channels-last: each W/sigma computed once per
    call, not once per layer call.  For batches (a jitter grid of 8 renders ~1.8x faster on the
    CPU than the module; results agree with it to ~1e-6).  Wraps G so that
    ``torch.func.functional_call(FrozenRender(G), {"G." + k: v ...}, (z, c))`` renders any state."""

    def __init__(self, G: Generator):
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        fg = FastGenerator(self.G, torch.float32, channels_last=True)
        fg.set_trainable(0)
        return fg(z, c)
