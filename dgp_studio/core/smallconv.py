"""A tuned, spectrally normalised 3x3 convolution on a small feature map, as matrix products.

At 8x8 a 256->256 convolution has 590k weights and only 64 output positions: the work is
in the weight, not in the arithmetic.  oneDNN's kernels re-lay the weight out for every call
(forward, input gradient, weight gradient), and the fast path around them must form W/sigma in
the compute dtype and cast its gradient back.  Here the convolution is im2col + three matrix
products on the layout copy's natural (out, kh*kw*in) view, and sigma never touches the weight:

    forward    y = (cols W^T) / sigma + b
    backward   dL/dW = (g^T cols - c u v^T) / sigma  with  c = <g, cols W^T> / sigma = <g, y - b>
               dL/dx = col2im(g W / sigma)

where sigma = u^T W v with u, v from one power step from the layer's u0 (``spectral.power_step``),
held constant (as in ``fastpath.SNWeights``).  The rank-1 term rides along in the weight-gradient product as one more
row, so the weight gradient is written in one pass, already in the layout copy's order.
The products run in the activations' dtype (bf16 on CPUs with bf16 units); the weight gradient
returns in fp32 for Adam.  Measured in docs/PERFORMANCE.md (tenth session); CPU only, as
are the layout copies it needs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .spectral import power_step

# Up to this many output positions (batch x height x width) a tuned convolution goes through
# matrix products; beyond, oneDNN stays: it was as fast at 16x16 and 2x faster at 32x32 in the
# measurement (more positions share each weight).  Frozen convolutions (D, untuned groups) stay
# with oneDNN at every size: without a weight gradient to form, it was faster even at 8x8.
MAX_POSITIONS = 64


def qualifies(layer, positions: int) -> bool:
    """A 3x3, stride-1, padding-1, ungrouped convolution on at most MAX_POSITIONS positions."""
    return (positions <= MAX_POSITIONS and tuple(layer.kernel_size) == (3, 3) and tuple(layer.stride) == (1, 1)
            and tuple(layer.padding) == (1, 1) and tuple(layer.dilation) == (1, 1) and layer.groups == 1)


def _im2col(x_nhwc: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) -> (B*H*W, 9*C) in (kh, kw, c) order, zero padding 1."""
    b, h, w, c = x_nhwc.shape
    xp = F.pad(x_nhwc, (0, 0, 1, 1, 1, 1))
    s = xp.stride()
    return xp.as_strided((b, h, w, 3, 3, c), (s[0], s[1], s[2], s[1], s[2], s[3])).reshape(b * h * w, 9 * c)


def _col2im(cols: torch.Tensor, b: int, h: int, w: int, c: int, dtype) -> torch.Tensor:
    """Adjoint of _im2col: (B*H*W, 9*C) -> (B, H, W, C), summed in ``dtype``."""
    cols = cols.view(b, h, w, 3, 3, c)
    out = torch.zeros(b, h + 2, w + 2, c, dtype=dtype, device=cols.device)
    for i in range(3):
        for j in range(3):
            out[:, i:i + h, j:j + w, :] += cols[:, :, :, i, j, :]
    return out[:, 1:h + 1, 1:w + 1, :]


class SmallSNConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_ohwi, bias, u0, eps):
        # x: (B, C, H, W) in the compute dtype; w_ohwi: fp32 (O, 3, 3, C), the raw (unnormalised) weight
        b, c, h, w = x.shape
        o = w_ohwi.shape[0]
        wm = w_ohwi.view(o, -1)
        u, v, sigma = power_step(wm, u0, eps)  # the modules' sigma, held constant like u and v
        dtype = x.dtype
        acc = torch.promote_types(dtype, torch.float32)  # fp32 for bf16 activations (float64 in tests)
        cols = _im2col(x.permute(0, 2, 3, 1))
        wc = wm.to(dtype)
        y_nb = torch.mm(cols, wc.t()).to(acc).div_(sigma)
        ctx.save_for_backward(cols, wc, sigma, u, v, y_nb)
        ctx.shape = (b, c, h, w)
        y = y_nb + bias if bias is not None else y_nb
        # (B*H*W, O) is the NHWC layout: viewed as (B, O, H, W) it is channels-last
        return y.to(dtype).view(b, h, w, o).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, gy):
        cols, wc, sigma, u, v, y_nb = ctx.saved_tensors
        b, c, h, w = ctx.shape
        o = wc.shape[0]
        g = gy.permute(0, 2, 3, 1).reshape(b * h * w, o).to(y_nb.dtype).contiguous()  # a view when channels-last
        gb = g.sum(0) if ctx.needs_input_grad[2] else None
        gx = dw = None
        gs = (g / sigma).to(wc.dtype)  # the 1/sigma of both products, applied to the small factor
        if ctx.needs_input_grad[1]:
            coef = torch.dot(g.view(-1), y_nb.view(-1)) / sigma  # <g, W/sigma>/sigma over the output
            lhs = torch.cat([gs, (-coef * u).to(wc.dtype)], 0)  # (BHW + 1, O)
            rhs = torch.cat([cols, v.to(cols.dtype)], 0)  # (BHW + 1, 9C)
            dw = torch.mm(lhs.t(), rhs).to(y_nb.dtype).view(o, 3, 3, c)
        if ctx.needs_input_grad[0]:
            gx = _col2im(torch.mm(gs, wc), b, h, w, c, g.dtype).to(gy.dtype).permute(0, 3, 1, 2)
        return gx, dw, gb, None, None


def small_sn_conv(x: torch.Tensor, layer, w_ohwi: torch.Tensor, bias) -> torch.Tensor:
    """``layer``'s convolution of ``x`` with the tuned raw weight ``w_ohwi`` (its layout copy)
    and ``bias`` (fp32); output in ``x``'s dtype, channels-last."""
    return SmallSNConv.apply(x, w_ohwi, bias, layer.u0, layer.sn_eps)
