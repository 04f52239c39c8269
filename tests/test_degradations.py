"""Degradations, colour conversion, presets and metrics against hand-computed values."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from dgp_studio.core import presets
from dgp_studio.core.color import CHROMA_SIGMA, lab_to_rgb, recombine_lightness, rgb_to_lab
from dgp_studio.core.degradations import (Colorization, Inpainting, SuperResolution, gray3, lanczos2_kernel, lanczos_down,
                                          lab_recombine, make_degradation)
from dgp_studio.core.metrics import mse, psnr, ssim


def test_lab_known_values():
    rgb = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0], [0, 0, 1]], dtype=torch.float64).T[None, :, :, None]
    lab = rgb_to_lab(rgb)[0, :, :, 0].T
    # reference values for sRGB/D65 (CIE 1976)
    assert lab[0].tolist() == pytest.approx([100, 0, 0], abs=0.01)
    assert lab[1].tolist() == pytest.approx([53.24, 80.09, 67.20], abs=0.05)
    assert lab[2].tolist() == pytest.approx([0, 0, 0], abs=0.01)
    assert lab[3].tolist() == pytest.approx([32.30, 79.19, -107.86], abs=0.05)
    assert torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-6)


def test_recombination_keeps_lightness_even_out_of_gamut():
    g = torch.Generator().manual_seed(0)
    L = torch.rand(1, 1, 8, 8, generator=g, dtype=torch.float64) * 100
    ab = (torch.rand(1, 2, 8, 8, generator=g, dtype=torch.float64) - 0.5) * 250  # often out of gamut
    out = recombine_lightness(L, ab)
    assert out.min() >= 0 and out.max() <= 1
    assert torch.allclose(rgb_to_lab(out)[:, :1], L, atol=0.02)


def test_colorization_phi_and_final_lightness():
    g = torch.Generator().manual_seed(1)
    color = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    deg = Colorization()
    gray = deg(color)
    expected = 0.2989 * color[:, 0] + 0.5870 * color[:, 1] + 0.1140 * color[:, 2]
    assert torch.allclose(gray[:, 1], expected) and torch.equal(gray[:, 0], gray[:, 2])
    observed = deg.simulate(color)
    other = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    final = deg.postprocess(other, observed)
    L_obs = rgb_to_lab(((observed + 1) / 2).double())[:, :1]
    L_fin = rgb_to_lab(((final + 1) / 2).double())[:, :1]
    assert (L_obs - L_fin).abs().max() < 0.05


def test_colorization_final_colour_is_smoothed_like_the_composite():
    """The final image's a/b are the generator's blurred by CHROMA_SIGMA px (what the full-size
    colorization shows): a speckled chroma is calmed, a smooth one kept, the lightness untouched."""
    yy, xx = torch.meshgrid(torch.arange(32.), torch.arange(32.), indexing="ij")
    observed = (0.4 * torch.sin(xx / 5) * torch.cos(yy / 7)).expand(1, 3, 32, 32)
    lab = torch.zeros(1, 3, 32, 32, dtype=torch.float64)
    lab[:, 0] = 50
    lab[:, 1] = 20 + 15 * ((xx + yy) % 2 * 2 - 1)               # a checkerboard of a* (speckle)
    lab[:, 2] = 10.0                                              # constant b*
    g_out = lab_to_rgb(lab).float() * 2 - 1
    final = Colorization().postprocess(g_out, observed)
    ab = rgb_to_lab(((final + 1) / 2).double())[:, 1:]
    inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))
    assert (ab[:, 0][inner[0], inner[2], inner[3]] - 20).abs().max() < 1.0     # checkerboard averaged out
    assert (ab[:, 1] - 10).abs().max() < 0.5                                      # constant b* kept
    # without the blur the speckle would stay: the same recombination, sigma 0
    raw = rgb_to_lab(((lab_recombine(g_out, observed) + 1) / 2).double())[:, 1:]
    assert (raw[:, 0][inner[0], inner[2], inner[3]] - 20).abs().max() > 10
    L_obs = rgb_to_lab(((observed + 1) / 2).double())[:, :1]
    assert (rgb_to_lab(((final + 1) / 2).double())[:, :1] - L_obs).abs().max() < 0.05


def test_lanczos_kernel_and_downsampler():
    for f in (2, 4, 8):
        k = lanczos2_kernel(f)
        assert k.shape == (4 * f, 4 * f)
        assert float(k.sum()) == pytest.approx(1.0, abs=1e-6)
        assert torch.allclose(k, k.flip(0)) and torch.allclose(k, k.T)
    # hand-computed 1-D tap at distance d: sinc(d)*sinc(d/2) with sinc(x)=sin(pi x)/(pi x)
    k = lanczos2_kernel(2)
    d = [abs(i + 1 + 0.5 - 5.0) / 2 for i in range(8)]  # centre (4f + 2) / 2 = 5, phase 0.5
    one_d = np.array([2 * math.sin(math.pi * x) * math.sin(math.pi * x / 2) / (math.pi ** 2 * x * x) for x in d])
    outer = np.outer(one_d, one_d)
    assert np.allclose(k.numpy(), outer / outer.sum(), atol=1e-7)
    flat = torch.full((1, 3, 32, 32), 0.25)
    assert torch.allclose(lanczos_down(flat, 4), torch.full((1, 3, 8, 8), 0.25), atol=1e-6)


def test_super_resolution_shapes_and_targets():
    deg = SuperResolution(4)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    lr = deg.simulate(x)
    assert lr.shape == (1, 3, 8, 8)
    assert deg(x).shape == x.shape
    # target from the low-res input equals phi of the clean image (same down, same up)
    assert torch.allclose(deg.target(lr, 32), deg(x), atol=1e-6)
    with pytest.raises(ValueError):
        SuperResolution(3)


def test_inpainting_mask_and_hole():
    deg = Inpainting.centered_hole(30)
    assert float((deg.mask == 0).sum()) == 100  # side 30 // 3 = 10
    hole = torch.zeros(30, 30)
    hole[:5] = 1
    d2 = Inpainting.from_hole(hole)
    x = torch.ones(1, 3, 30, 30)
    assert float(d2(x)[0, 0, :5].abs().sum()) == 0 and float(d2(x)[0, 0, 5:].min()) == 1


def test_hybrid_order_and_make():
    mask = torch.ones(32, 32)
    mask[10:20, 10:20] = 0
    h = make_degradation("hybrid", mask=mask)
    assert [p.name for p in h.parts] == ["colorization", "super-resolution", "inpainting"]
    assert h.parts[1].factor == 2
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    y = h(x)
    assert float(y[..., 10:20, 10:20].abs().sum()) == 0
    assert torch.equal(y[:, 0], y[:, 1])
    assert isinstance(make_degradation("sr", scale=8), SuperResolution) and make_degradation("sr", scale=8).factor == 8
    with pytest.raises(ValueError, match="mask"):
        make_degradation("inpaint")


def test_presets_numbers_replace_and_clip():
    p = presets.get("colorization")
    assert p.iterations == (200, 200, 300, 400, 300) and p.total_iterations == 1400
    assert p.z_lrs == (2e-3, 1e-3, 5e-4, 5e-5, 2e-5) and p.lr_ratio == (0.7, 0.7, 0.8, 0.9, 1.0)
    assert presets.get("inpaint").update_embed and presets.get("defend").stop_mse == 5e-3
    with pytest.raises(Exception):
        p.w_nll = 1.0  # frozen
    q = replace(p, iterations=(1, 2, 3, 4, 5))
    assert q.total_iterations == 15 and p.total_iterations == 1400
    with pytest.raises(ValueError, match="stages"):
        replace(p, iterations=(1, 2))
    c = presets.get("inpainting").clipped(n_groups=4, n_features=5)
    assert c.ft_num == (4,) * 5 and c.ftr_num == (5,) * 5
    assert presets.get("morph").update_embed and not presets.get("jitter").update_embed
    assert presets.Preset.from_dict(p.to_dict()) == p
    with pytest.raises(KeyError, match="unknown preset"):
        presets.get("nope")


def test_metrics_hand_made():
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 51, np.uint8)  # 0.2 -> MSE 0.04 -> PSNR 10*log10(1/0.04)
    assert mse(a, b) == pytest.approx(0.04)
    assert psnr(a, b) == pytest.approx(10 * math.log10(25))
    x = torch.rand(1, 3, 16, 16)
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim(x, 1 - x) < 0.5
    m = np.zeros((8, 8))
    m[:4] = 1
    c = a.copy()
    c[4:] = 255  # differs only outside the mask
    assert psnr(a, c, mask=m) == float("inf")


def test_super_resolution_final_gives_back_the_low_resolution_input():
    """Back-projection: the final image, shrunk the way the photo was, is the input again; the
    generator's own image was far from it; whatever the input cannot see is left alone."""
    yy, xx = torch.meshgrid(torch.arange(64.), torch.arange(64.), indexing="ij")
    clean = (0.6 * torch.sin(xx / 5 + torch.cos(yy / 7)) * torch.cos(yy / 11)).expand(1, 3, 64, 64).clone()
    clean[:, 1] *= -0.5
    g_out = 0.3 * torch.cos(xx / 3 - yy / 8).expand(1, 3, 64, 64)  # some other picture
    for f in (2, 4, 8):
        deg = SuperResolution(f)
        lr = deg.simulate(clean)
        assert (lanczos_down(g_out, f) - lr).abs().max() > 0.25
        final = deg.postprocess(g_out, lr)
        assert final.shape == g_out.shape
        assert (lanczos_down(final, f) - lr).abs().max() < 1 / 255
        # the same when the user's observation is the blurred full-size photo
        full = deg.postprocess(g_out, clean)
        assert (lanczos_down(full, f) - lr).abs().max() < 1 / 255
        # a consistent image is left as it is
        assert torch.allclose(deg.postprocess(clean, lr), clean, atol=2e-3)
    # an observation of another size is not the generator's input: nothing to project onto
    assert torch.equal(SuperResolution(4).postprocess(g_out, torch.zeros(1, 3, 10, 10)), g_out)


def test_hybrid_final_keeps_what_was_observed():
    """Hybrid (colorization + x2 SR, with and without a hole): the final image's lightness, shrunk
    the way the photo was, is the gray low-resolution input wherever that input did not see the
    hole; the correction is the same for R, G and B (the colours stay the generator's); the hole's
    fill meets the known pixels without a step."""
    yy, xx = torch.meshgrid(torch.arange(64.), torch.arange(64.), indexing="ij")
    clean = torch.stack([0.5 * torch.sin(xx / 6 + yy / 9), 0.4 * torch.cos(yy / 7) - 0.1,
                         0.3 * torch.sin(xx / 4) * torch.cos(yy / 10)])[None]
    g_out = torch.stack([0.2 * torch.cos(xx / 3 - yy / 8), 0.1 + 0.0 * xx, -0.2 + 0.1 * torch.sin(yy / 5)])[None]
    light = lambda x: gray3(x)[:, :1]  # noqa: E731
    for with_hole in (False, True):
        known = torch.ones(64, 64)
        known[22:40, 18:44] = 0
        deg = make_degradation("hybrid", mask=known if with_hole else None, scale=2,
                               hybrid_parts=("colorization", "sr", "inpainting") if with_hole else ("colorization", "sr"))
        lr = deg.simulate(clean)                        # what the user has: a small gray photo
        assert lr.shape[-1] == 32 and torch.equal(lr[:, 0], lr[:, 2])
        final = deg.postprocess(g_out, lr)
        sr = SuperResolution(2)
        seen = torch.ones(1, 1, 32, 32) if not with_hole else 1 - sr.footprint_hit(1 - known[None, None])
        if with_hole:  # the hole's footprint by hand: rows/cols within 3 px (pad) + 8 px (kernel) of it
            ys = [i for i in range(32) if not (2 * i - 3 + 7 < 22 or 2 * i - 3 > 39)]
            xs = [j for j in range(32) if not (2 * j - 3 + 7 < 18 or 2 * j - 3 > 43)]
            hand = torch.ones(32, 32)
            hand[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1] = 0
            assert torch.equal(seen[0, 0], hand)
        miss_before = ((lanczos_down(light(g_out), 2) - light(lr)) * seen).abs().max()
        miss_after = ((lanczos_down(light(final), 2) - light(lr)) * seen).abs().max()
        assert miss_before > 0.2 and miss_after < 1 / 255
        # same correction in every channel where nothing was clamped: the colours are the
        # generator's, smoothed as colorization's are (keeping their lightness)
        g_s = lab_recombine(g_out, g_out, CHROMA_SIGMA)
        assert (lab_recombine(g_out, g_out) - g_out).abs().max() < 1e-4
        delta = final - g_s
        ok = (final.abs() < 0.999).all(1)
        assert (delta[:, 0] - delta[:, 1])[ok].abs().max() < 1e-5
        assert (delta[:, 1] - delta[:, 2])[ok].abs().max() < 1e-5
        if with_hole:
            hole = known < 0.5
            bp = SuperResolution(2).back_project(g_s, lr, gray=True, hole=(1 - known)[None, None])
            assert torch.equal(final[..., ~hole], bp[..., ~hole])   # known pixels: back-projected
            # the fill is the generator's, shifted smoothly: across the rim the final image steps
            # no more than the generator's own image does
            rim_step = (final[..., 22, 18:44] - final[..., 21, 18:44]).abs().mean()
            g_step = (g_s[..., 22, 18:44] - g_s[..., 21, 18:44]).abs().mean()
            assert rim_step < g_step + 0.01
            inner = (final - g_s)[..., 24:38, 20:42]         # ... and smoothly: the shift is harmonic
            lap = 4 * inner[..., 1:-1, 1:-1] - inner[..., :-2, 1:-1] - inner[..., 2:, 1:-1] \
                - inner[..., 1:-1, :-2] - inner[..., 1:-1, 2:]
            assert lap.abs().max() < 1e-3
        else:
            assert torch.equal(final, SuperResolution(2).back_project(g_s, lr, gray=True))
