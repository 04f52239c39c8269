"""3x3 convolutions on small maps as matrix products (smallconv.py): the same function and the same
gradients as the convolution they replace, and the fast path really routes through them.

Speed is measured by bench/engine.py and the A/B in docs/PERFORMANCE.md, never asserted here."""
import pytest
import torch
import torch.nn.functional as F

from dgp_studio.core import fastpath, smallconv
from dgp_studio.core.fastpath import FastDiscriminator, FastGenerator
from dgp_studio.core.smallconv import SmallSNConv
from dgp_studio.core.spectral import SNConv2d

from test_fastpath import perturbed_gan


def _reference(x, w_ohwi, bias, u0, eps):
    """conv2d with W/sigma, sigma = u^T W v from one power step, u and v held constant (DGP.md)."""
    w = w_ohwi.permute(0, 3, 1, 2)
    mat = w.reshape(w.shape[0], -1)
    with torch.no_grad():
        v = F.normalize(u0 @ mat, eps=eps)
        u = F.normalize(v @ mat.t(), eps=eps)
    sigma = (u @ mat @ v.t()).squeeze()
    return F.conv2d(x, w / sigma, bias, 1, 1)


@pytest.mark.parametrize("shape", [(1, 5, 3, 3), (2, 4, 4, 3), (3, 6, 2, 5)])
def test_tuned_small_conv_equals_the_spectrally_normalised_convolution(shape):
    b, c, h, w = shape
    torch.manual_seed(0)
    layer = SNConv2d(c, 7).double()
    w_ohwi = layer.weight.detach().permute(0, 2, 3, 1).contiguous().requires_grad_(True)
    bias = layer.bias.detach().clone().requires_grad_(True)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    gy = torch.randn(b, 7, h, w, dtype=torch.float64)
    u0 = layer.u0.double()

    y = SmallSNConv.apply(x, w_ohwi, bias, u0, layer.sn_eps)
    got = torch.autograd.grad(y, (x, w_ohwi, bias), gy)
    y_ref = _reference(x, w_ohwi, bias, u0, layer.sn_eps)
    want = torch.autograd.grad(y_ref, (x, w_ohwi, bias), gy)

    assert y.shape == y_ref.shape and torch.allclose(y, y_ref, rtol=1e-10, atol=1e-12)
    for g, r in zip(got, want):
        assert g.shape == r.shape and torch.allclose(g, r, rtol=1e-9, atol=1e-12)


def test_bf16_small_conv_stays_close_and_hands_adam_fp32_gradients():
    torch.manual_seed(2)
    layer = SNConv2d(32, 16)
    w_ohwi = layer.weight.detach().permute(0, 2, 3, 1).contiguous().requires_grad_(True)
    x = torch.randn(1, 32, 8, 8).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    gy = torch.randn(1, 16, 8, 8)
    y = SmallSNConv.apply(x, w_ohwi, layer.bias, layer.u0, layer.sn_eps)
    assert y.dtype == torch.bfloat16 and y.is_contiguous(memory_format=torch.channels_last)
    gx, gw = torch.autograd.grad(y, (x, w_ohwi), gy.to(torch.bfloat16))
    assert gw.dtype == torch.float32 and gw.shape == w_ohwi.shape and gx.dtype == torch.bfloat16

    xf = x.detach().float().requires_grad_(True)
    wf = w_ohwi.detach().clone().requires_grad_(True)
    y_ref = _reference(xf, wf, layer.bias.detach(), layer.u0, layer.sn_eps)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (xf, wf), gy)

    def rel(a, b):
        a, b = a.detach().float(), b.detach()
        return float((a - b).norm() / b.norm())
    assert rel(y, y_ref) < 1e-2 and rel(gw, gw_ref) < 1e-2 and rel(gx, gx_ref) < 1e-2


def test_qualifies_only_small_3x3_same_convolutions():
    assert smallconv.qualifies(SNConv2d(4, 4), 64)
    assert not smallconv.qualifies(SNConv2d(4, 4), 65)  # 16x16 maps, or a batch: oneDNN
    assert not smallconv.qualifies(SNConv2d(4, 4, kernel_size=1, padding=0), 16)


def _fast_loss_and_grads(gan, small, monkeypatch, ft):
    monkeypatch.setattr(fastpath.FastGenerator, "SMALL_CONV", small)
    calls = []
    apply = SmallSNConv.apply

    def counting(*args):
        calls.append(tuple(args[0].shape))
        return apply(*args)
    monkeypatch.setattr(SmallSNConv, "apply", counting)
    G, D = gan.G, gan.D
    D.requires_grad_(False)
    fg = FastGenerator(G, torch.float32, channels_last=True, layout_copies=True)
    fd = FastDiscriminator(D, torch.float32, channels_last=True)
    params = [p for group in G.group_params(False)[:ft] for p in fg.optimised(group)]
    for p in params:
        p.requires_grad_(True)
    fg.set_trainable(ft)
    z = torch.randn(1, gan.config.dim_z, generator=torch.Generator().manual_seed(4))
    c = G.shared(torch.tensor([2])).detach()
    x = fg(z, c)
    loss = sum(f.abs().mean() for f in fd.features(x))
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return x.detach(), grads, calls


@pytest.mark.parametrize("ft", [2, 5])
def test_fast_path_through_small_convs_is_the_same_function(monkeypatch, ft):
    """The 32 px tiny GAN's first G block runs at 8x8: with small convolutions on, its two tuned
    3x3 convolutions go through matrix products, and the image and every tuned gradient equal the
    oneDNN path's."""
    gan = perturbed_gan()
    x_on, g_on, calls_on = _fast_loss_and_grads(gan, True, monkeypatch, ft)
    x_off, g_off, calls_off = _fast_loss_and_grads(gan, False, monkeypatch, ft)
    assert [shape[-2:] for shape in calls_on] == [(8, 8), (8, 8)]  # G block 0's conv1 and conv2
    assert calls_off == []
    assert torch.allclose(x_on, x_off, atol=1e-5)
    scale = max(float(g.abs().max()) for g in g_off if g is not None)
    for a, b in zip(g_on, g_off):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.shape == b.shape and float((a - b).abs().max()) <= 1e-4 * scale
