"""Region -> model -> full image: edge-aware chroma upsampling, exact lightness, inpainting that
touches only the (feathered) hole, super-resolution sizes."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from dgp_studio.core import composite as cp
from dgp_studio.core.biggan import build_biggan
from dgp_studio.core.classes import class_names
from dgp_studio.core.degradations import Inpainting, lanczos_down
from dgp_studio.core.imaging import to_pil
from dgp_studio.core.intake import open_image
from dgp_studio.core.restore import RestoreError, RestoreSettings, restore

from conftest import tiny_config

FAST = dict(iters_scale=0.02, candidates=4)


@pytest.fixture(scope="module")
def gan():
    return build_biggan(tiny_config(), seed=0)


def lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* (0-100) of sRGB uint8 pixels, written out here independently of the engine."""
    c = rgb.astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    Y = lin @ np.array([0.2126729, 0.7151522, 0.0721750])
    d = 6 / 29
    f = np.where(Y > d ** 3, np.cbrt(Y), Y / (3 * d * d) + 4 / 29)
    return 116 * f - 16


def chroma(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(np.float64)
    return c.max(axis=2) - c.min(axis=2)


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Chebyshev dilation by r pixels (numpy only)."""
    h, w = mask.shape
    p = np.pad(mask, r)
    out = np.zeros_like(mask)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out |= p[dy:dy + h, dx:dx + w]
    return out


def test_guided_upsampling_follows_the_guide_edges():
    H = W = 800
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    edge = (xx + 0.3 * yy) > 430
    guide = torch.where(edge, 0.7, 0.3).float()[None, None]
    truth = torch.where(edge, -20.0, 40.0).float()[None, None]
    low = F.interpolate(truth, size=(32, 32), mode="area")   # what a 32 px model would give
    guided = cp.guided_upsample(low, guide)
    bilinear = F.interpolate(low, size=(H, W), mode="bilinear", align_corners=False)
    e_g = (guided - truth).abs().mean().item()
    e_b = (bilinear - truth).abs().mean().item()
    assert e_g < 0.3 * e_b, (e_g, e_b)
    # where the guide is flat, a flat chroma stays flat (nothing is invented)
    const = torch.full((1, 2, 32, 32), 7.5)
    tex = torch.rand(1, 1, H, W)
    assert torch.allclose(cp.guided_upsample(const, tex), torch.full((1, 2, H, W), 7.5), atol=1e-3)


def test_3000x2000_colorization_keeps_size_and_lightness(gan, tmp_path):
    rng = np.random.default_rng(0)
    H, W = 2000, 3000
    yy, xx = np.mgrid[0:H, 0:W]
    g = 60 + 0.04 * xx + 30 * np.sin(yy / 90.0)
    g[(xx - 1800) ** 2 + (yy - 900) ** 2 < 400 ** 2] = 230        # a bright disc
    g[200:400, 300:2700] = 15                                       # a dark band
    g += rng.normal(0, 4, g.shape)
    gray = np.clip(g, 0, 255).astype(np.uint8)
    p = tmp_path / "old_photo.jpg"
    Image.fromarray(gray).save(p, quality=92)
    img = open_image(p)
    assert img.grayscale
    # the model part is cut to ~5 steps: this test is about the full-resolution composite
    out = restore(gan, img, RestoreSettings("colorize", iters_scale=0.005, candidates=2))
    assert out.image.size == (3000, 2000)
    assert out.region.covers((3000, 2000))
    res = np.asarray(out.image)
    dL = np.abs(lightness(res) - lightness(img.array()))
    assert dL.max() <= 0.5, dL.max()
    # the colour came from the model: at the model's scale, the result's chroma follows the
    # model output's chroma (lightness aside)
    model_c = chroma(np.asarray(to_pil(out.result.image)))
    small_c = chroma(np.asarray(Image.fromarray(res).resize((32, 32), Image.BOX)))
    assert small_c.mean() > 3
    assert np.corrcoef(model_c.ravel(), small_c.ravel())[0, 1] > 0.5


def test_colorize_names_the_searched_class_and_how_to_change_it(gan):
    rng = np.random.default_rng(7)
    gray = np.repeat(rng.integers(0, 255, (40, 40, 1), dtype=np.uint8), 3, axis=2)
    img = open_image(Image.fromarray(gray))
    out = restore(gan, img, RestoreSettings("colorize", **FAST))
    names = class_names(gan.config)
    said = [n for n in out.notes if "the search picked" in n]
    assert len(said) == 1 and f"'{names[out.result.class_id]}'" in said[0] and "--class" in said[0]
    given = restore(gan, img, RestoreSettings("colorize", class_spec=1, **FAST))
    assert given.result.class_id == 1 and not any("the search picked" in n for n in given.notes)


def test_colorize_square_region_leaves_the_rest_untouched(gan):
    rng = np.random.default_rng(1)
    gray = rng.integers(30, 220, (200, 300), dtype=np.uint8)
    img = open_image(Image.fromarray(gray))
    out = restore(gan, img, RestoreSettings("colorize", region="center", **FAST))
    assert out.region == cp.Region(50, 0, 200, 200)
    a, b = np.asarray(out.image), img.array()
    assert np.array_equal(a[:, :50], b[:, :50]) and np.array_equal(a[:, 250:], b[:, 250:])
    assert np.abs(lightness(a) - lightness(b)).max() <= 0.5
    assert chroma(a[:, 80:220]).mean() > chroma(a[:, 52:56]).mean()  # colour fades in at the seam


def photo_with_damage(colour):
    rng = np.random.default_rng(3)
    H, W = 180, 240
    yy, xx = np.mgrid[0:H, 0:W]
    a = np.dstack([40 + 0.7 * xx, 60 + 0.6 * yy, 120 + 40 * np.sin(xx / 13.0)]) + rng.normal(0, 3, (H, W, 3))
    a = np.clip(a, 0, 255).astype(np.uint8)
    hole = ((xx - 130) ** 2 + (yy - 95) ** 2 < 22 ** 2) | ((yy > 60) & (yy < 70) & (xx > 60) & (xx < 110))
    a[hole] = colour  # whatever sits in the hole must not matter
    return a, hole


def test_inpainting_changes_only_the_feathered_hole_and_never_reads_it(gan):
    feather = 4
    outs = []
    for colour in ((255, 0, 255), (0, 255, 0)):
        a, hole = photo_with_damage(colour)
        img = open_image(Image.fromarray(a))
        out = restore(gan, img, RestoreSettings("inpaint", feather=feather, **FAST), mask=hole)
        res = np.asarray(out.image)
        assert res.shape == a.shape
        changed = (res != a).any(axis=2)
        assert not (changed & ~dilate(hole, feather)).any()           # nothing outside hole + feather
        assert changed[hole].mean() > 0.99                              # the hole itself is replaced
        outs.append(res)
    # the two damaged photos differ only inside the hole, and so the fills are identical there:
    # the hole's pixels never reached the model
    assert np.array_equal(outs[0][hole], outs[1][hole])


def test_inpaint_composite_blends_only_within_feather():
    rgb = np.full((60, 80, 3), 100, np.uint8)
    hole = np.zeros((60, 80), bool)
    hole[20:40, 30:50] = True
    g = torch.zeros(1, 3, 16, 16)
    g[:, 0] = 1.0  # the "model" paints pure red (255, 127/128, 127/128)
    region = cp.Region(20, 10, 40, 40)
    out = cp.inpaint_composite(rgb, hole, g, region, feather=3)
    assert (out[hole] == [255, 128, 128]).all()
    band = dilate(hole, 3) & ~hole
    assert (out[band][:, 0] > 100).all() and (out[band][:, 0] < 255).all()  # a partial blend
    assert np.array_equal(out[~dilate(hole, 3)], rgb[~dilate(hole, 3)])
    a = cp.feathered_alpha(torch.from_numpy(hole), 3)[0, 0].numpy()
    assert (a[hole] == 1).all() and (a[~dilate(hole, 3)] == 0).all()
    row = a[30, 50:54]
    assert (np.diff(row) < 0).all()  # the seam ramps down monotonically


def test_inpaint_composite_fill_meets_the_photo_without_a_step():
    """The model paints the right picture 60 levels too bright: the task's finished image
    (Inpainting.postprocess, seam.py) takes the step out, and the editor's composite writes that
    one back, for a hole painted at the photo's size as well as at the model's."""
    yy, xx = np.mgrid[0:64, 0:64]
    rgb = np.stack([60 + 2 * xx, 80 + yy, 140 + xx - yy // 2], -1).astype(np.uint8)  # a smooth photo
    hole = np.zeros((64, 64), bool)
    hole[20:44, 18:46] = True
    region = cp.Region(0, 0, 64, 64)
    model_in = torch.from_numpy(rgb.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    known = torch.from_numpy((~hole).astype(np.float32))
    g = (model_in + 60 / 127.5).clamp(-1, 1)
    result = SimpleNamespace(image=g, final=Inpainting(known).postprocess(g, model_in))
    plain = cp.inpaint_composite(rgb, hole, g, region, feather=0).astype(int)
    assert np.abs(plain[hole] - rgb[hole]).mean() > 50
    for painted in (hole, hole[::2, ::2]):  # at the photo's size; at the model's (here 32 px)
        fixed = np.asarray(cp.composite_result(Image.fromarray(rgb), result, region, "inpainting",
                                               hole=painted, feather=0)).astype(int)
        assert np.abs(fixed[hole] - rgb[hole].astype(int)).max() <= 1
        assert np.array_equal(fixed[~hole], rgb[~hole])


def test_inpaint_region_choice(gan):
    a, hole = photo_with_damage((0, 0, 0))
    img = open_image(Image.fromarray(a))
    r = cp.region_around(hole, 32)
    ys, xs = np.nonzero(hole)
    assert r.left <= xs.min() and r.left + r.width > xs.max() and r.top <= ys.min() and r.top + r.height > ys.max()
    big = np.ones((180, 240), bool)
    big[:5, :5] = False
    with pytest.raises(RestoreError, match="region by region"):
        restore(gan, img, RestoreSettings("inpaint", **FAST), mask=big)
    out = restore(gan, img, RestoreSettings("inpaint", region="0,0,100", **FAST), mask=hole)
    assert any("outside the region" in n for n in out.notes)
    changed = (np.asarray(out.image) != a).any(axis=2)
    assert not changed[:, 100 + 2:].any() and not changed[100 + 2:].any()


def test_super_resolution_sizes(gan):
    rng = np.random.default_rng(4)
    img = open_image(Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)))
    out = restore(gan, img, RestoreSettings("sr", scale=2, region="10,10,40", **FAST))
    assert out.image.size == (80, 80) and out.model_input.size == (16, 16)
    small = open_image(Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)))
    out = restore(gan, small, RestoreSettings("sr", scale=2, **FAST))
    assert out.region.covers((16, 12)) and out.image.size == (32, 24)
    exact = open_image(Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)))
    out = restore(gan, exact, RestoreSettings("sr", scale=2, **FAST))
    assert np.array_equal(np.asarray(out.model_input), exact.array())   # went straight in
    assert np.array_equal(np.asarray(out.region_result), np.asarray(to_pil(out.result.final)))
    # the result is the back-projected one: shrunk as the photo was, it gives back the input
    down = lanczos_down(out.result.final, 2)
    raw_down = lanczos_down(out.result.image, 2)
    inp = torch.from_numpy(exact.array().astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    assert (down - inp).abs().mean() < 0.25 * (raw_down - inp).abs().mean()
    # the written image is back-projected once more, onto the same pixels: closer still, and
    # within a few levels of the region result
    written = torch.from_numpy(np.asarray(out.image).astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    assert (lanczos_down(written, 2) - inp).abs().mean() <= (down - inp).abs().mean()
    assert (written - out.result.final).abs().mean() < 4 / 127.5


def test_super_resolution_of_a_large_region_keeps_the_photo_detail(gan):
    """sr x2 on a 64 px region (4x the tiny model's 16 px input): the written image, shrunk x2, is
    the region again (before: the model's image enlarged, ~the photo blurred to 16 px); the note
    says what the model adds."""
    photo = _gray_detail(64, 3)
    photo[..., 0] = np.roll(photo[..., 0], 5, axis=1)  # some colour
    out = restore(gan, open_image(Image.fromarray(photo)), RestoreSettings("sr", scale=2, region="full", **FAST))
    assert out.model_input.size == (16, 16) and out.image.size == (128, 128)
    got = torch.from_numpy(np.asarray(out.image).astype(np.float32)).permute(2, 0, 1)[None]
    want = torch.from_numpy(photo.astype(np.float32)).permute(2, 0, 1)[None]
    err = (lanczos_down(got, 2) - want).abs()
    old = torch.from_numpy(np.asarray(cp.resize_result(out.result.final, (128, 128))).astype(np.float32))
    old_err = (lanczos_down(old.permute(2, 0, 1)[None], 2) - want).abs()
    assert err.mean() < 0.5 and old_err.mean() > 20 * err.mean()
    assert any("keeps the photo's own detail" in n for n in out.notes)


def test_regions_and_masks():
    assert cp.center_region((300, 200)) == cp.Region(50, 0, 200, 200)
    assert cp.parse_region("10,20,50", (300, 200)) == cp.Region(10, 20, 50, 50)
    assert cp.parse_region("full", (300, 200)) == cp.Region(0, 0, 300, 200)
    with pytest.raises(ValueError, match="inside"):
        cp.parse_region("280,0,50", (300, 200))
    with pytest.raises(ValueError, match="x,y,size"):
        cp.parse_region("a,b", (300, 200))
    hole = np.zeros((200, 300), bool)
    hole[101, 151] = True  # a single pixel must not vanish at the model's resolution
    m = cp.hole_to_model(hole, cp.Region(50, 0, 200, 200), 32)
    assert m.sum() >= 1 and m.shape == (32, 32)


def test_editor_hook_composites_a_result(gan):
    rng = np.random.default_rng(5)
    gray = Image.fromarray(rng.integers(0, 255, (64, 96), dtype=np.uint8)).convert("RGB")
    out = restore(gan, open_image(gray), RestoreSettings("colorize", region="16,0,64", **FAST))
    full = cp.composite_result(gray, out.result, (16, 0, 64), task="colorization")
    assert full.size == (96, 64) and np.array_equal(np.asarray(full), np.asarray(out.image))
    assert cp.composite_result(gray, out.result, (16, 0, 64), task="reconstruct") is None


def test_hybrid_reconstruct_defend_output_sizes(gan):
    rng = np.random.default_rng(6)
    a = rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)
    img = open_image(Image.fromarray(a))
    hole = np.zeros((50, 70), bool)
    hole[20:26, 30:36] = True
    out = restore(gan, img, RestoreSettings("hybrid", **FAST), mask=hole)
    assert out.region == cp.Region(0, 0, 70, 50)  # an old photo comes back whole, scratches filled
    assert out.image.size == (140, 100)
    assert out.model_input.size == (16, 16)  # hybrid's x2 SR: the model sees res/2
    # 70 px over a 32 px model: a model pixel covers > 2 photo px, the note says the fill is coarse
    assert any("filled at the model's scale" in n for n in out.notes)
    out = restore(gan, img, RestoreSettings("hybrid", region="20,10,30", **FAST), mask=hole)
    assert out.region == cp.Region(20, 10, 30, 30) and out.image.size == (60, 60)
    assert not any("filled at the model's scale" in n for n in out.notes)
    # no mask: the whole (non-square) frame, twice its size, the photo's lightness kept
    out = restore(gan, img, RestoreSettings("hybrid", **FAST))
    assert any("already has colour: the model's colours replace it" in n for n in out.notes)
    assert out.region == cp.Region(0, 0, 70, 50) and out.image.size == (140, 100)
    L = torch.from_numpy(lightness(np.asarray(out.image)))[None, None]
    err = (lanczos_down(L, 2)[0, 0] - torch.from_numpy(lightness(a))).abs()
    # pixel noise, the hardest case for back-projection (some pixels would need L* outside 0-100,
    # clamped, and the finest patterns converge slowest): the typical pixel within half a unit,
    # against ~20 for the model's image enlarged
    old = torch.from_numpy(lightness(np.asarray(cp.resize_result(out.result.final, (140, 100)))))[None, None]
    assert err.median() < 0.5 and (lanczos_down(old, 2)[0, 0] - torch.from_numpy(lightness(a))).abs().median() > 5
    for task in ("reconstruct", "defend"):
        out = restore(gan, img, RestoreSettings(task, **FAST))
        assert out.region == cp.Region(10, 0, 50, 50) and out.image.size == (50, 50)


def test_chroma_smoothing_mutes_speckled_colour_and_keeps_lightness():
    """A model output whose colour flips red/green every 4 model pixels (the blotchy colour a weak
    prior's texture gives) at one lightness: raw, the photo gets the blotches (the guided
    filter's own 3x3 boxes only smooth finer speckle); smoothed (sigma 2 model px),
    neighbouring reds and greens average out to a muted colour, the mean colour is kept, and L is
    the photo's own either way."""
    res, side = 32, 128
    yy, xx = np.mgrid[0:res, 0:res]
    checker = ((yy // 4 + xx // 4) % 2).astype(bool)
    red, green = np.array([200, 60, 60]), np.array([60, 160, 60])
    model = np.where(checker[..., None], red, green).astype(np.uint8)
    g_out = torch.from_numpy(model).permute(2, 0, 1)[None].float() / 127.5 - 1
    photo = np.full((side, side, 3), 128, np.uint8)  # flat gray photo, L* = 53.6
    region = cp.full_region((side, side))
    raw = cp.colorize_composite(photo, g_out, region, chroma_sigma=0)
    smooth = cp.colorize_composite(photo, g_out, region)  # default CHROMA_SIGMA
    assert cp.CHROMA_SIGMA == 2.0
    for out in (raw, smooth):
        assert np.abs(lightness(out) - lightness(photo)).max() <= 0.5
    inner = (slice(32, -32), slice(32, -32))  # away from the replicate-padded border
    lab_raw = cp.rgb_to_lab(torch.from_numpy(raw[inner]).permute(2, 0, 1)[None].double() / 255)[0, 1:]
    lab_smooth = cp.rgb_to_lab(torch.from_numpy(smooth[inner]).permute(2, 0, 1)[None].double() / 255)[0, 1:]
    # the raw a* swings by tens of units between blotches; smoothed, a Gaussian of sigma 2 passes
    # about exp(-2 pi^2 sigma^2 / 8^2) = 0.29 of a period-8 pattern's fundamental
    assert lab_raw[0].std() > 10 and lab_smooth[0].std() < 0.4 * lab_raw[0].std()
    # the average colour stays (a Gaussian preserves the mean of the chroma)
    assert torch.allclose(lab_smooth.mean(dim=(1, 2)), lab_raw.mean(dim=(1, 2)), atol=2.0)


def test_restore_settings_check_chroma_smooth():
    assert RestoreSettings("colorize", chroma_smooth=0).chroma_smooth == 0
    with pytest.raises(RestoreError, match="chroma-smooth"):
        RestoreSettings("colorize", chroma_smooth=-1)


def test_restore_hybrid_keeps_the_photo_lightness_where_it_was_seen(gan):
    """restore --task hybrid (colorization + x2 SR + a hole): the output is the finished image, whose
    lightness, shrunk as the photo was, gives back the gray input away from the hole."""
    yy, xx = np.mgrid[0:16, 0:16]
    gray = (128 + 90 * np.sin(xx / 3.0) * np.cos(yy / 4.0)).astype(np.uint8)
    img = open_image(Image.fromarray(np.stack([gray] * 3, -1)))
    hole = np.zeros((16, 16), bool)
    hole[6:10, 6:10] = True
    assert any("colorization suggested" in n for n in img.notes)
    out = restore(gan, img, RestoreSettings("hybrid", scale=2, **FAST), mask=hole)
    assert out.image.size == (32, 32)
    assert not any("colorization suggested" in n for n in out.notes)    # the hybrid colorizes already
    assert np.array_equal(np.asarray(out.region_result), np.asarray(to_pil(out.result.final)))
    # the written image: its L*, shrunk, is the photo's away from the hole (+ feather + footprint)
    L = torch.from_numpy(lightness(np.asarray(out.image)))[None, None]
    far = F.max_pool2d(torch.from_numpy(hole).float()[None, None], 2 * 4 + 1, stride=1, padding=4)[0, 0] == 0
    err = (lanczos_down(L, 2)[0, 0] - torch.from_numpy(lightness(np.asarray(img.rgb))))[far].abs()
    assert far.sum() > 100 and err.max() < 0.5
    light = lambda t: (t * torch.tensor([0.2989, 0.5870, 0.1140])[None, :, None, None]).sum(1, keepdim=True)  # noqa: E731
    inp = torch.from_numpy(gray.astype(np.float32) / 127.5 - 1)[None, None]
    big_hole = torch.zeros(1, 1, 32, 32)
    big_hole[..., 12:20, 12:20] = 1
    seen = 1 - F.max_pool2d(F.pad(big_hole, (3, 3, 3, 3), mode="replicate"), 8, stride=2)  # Lanczos-2 x2 footprint
    assert 0 < seen.sum() < 256
    miss = ((lanczos_down(light(out.result.final), 2) - inp) * seen).abs()
    raw = ((lanczos_down(light(out.result.image), 2) - inp) * seen).abs()
    assert miss.max() < 2 / 255 and raw.max() > 10 * miss.max()


def _gray_detail(side: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    g = 128 + 80 * np.sin(xx / 1.7) * np.cos(yy / 2.3) + rng.normal(0, 12, (side, side))
    return np.stack([np.clip(g, 0, 255).astype(np.uint8)] * 3, -1)


def _harmonic_numpy(values: np.ndarray, hole: np.ndarray, iters: int = 6000) -> np.ndarray:
    """Jacobi iteration of 'each hole pixel = mean of its 4 neighbours' (image edges replicated),
    written here independently of seam.harmonic_fill."""
    x = values.astype(np.float64).copy()
    x[hole] = values[~hole].mean()
    for _ in range(iters):
        p = np.pad(x, 1, mode="edge")
        avg = (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]) / 4
        x[hole] = avg[hole]
    return x


@pytest.mark.parametrize("f", [1, 2, 4])
def test_hybrid_composite_keeps_photo_lightness_model_colour_and_fill(f):
    """hybrid_composite: L*, shrunk f x (Lanczos), is the photo's away from the hole, though the
    photo has far more detail than the 16 px model output; the colour is the model's (a constant
    model colour comes out as that colour); in the hole the scratch's white is gone: with a flat
    model, the fill is the photo's rim continued smoothly inwards (harmonic, computed here)."""
    side, res = 48, 16
    photo = _gray_detail(side, f)
    hole = np.zeros((side, side), bool)
    hole[12:36, 14:38] = True
    rim_L = lightness(photo)
    photo[hole] = 255  # the scratch
    colour = np.array([150, 90, 60], np.uint8)  # an in-gamut brown, L* ~ 44
    g_out = torch.from_numpy(np.broadcast_to(colour, (res, res, 3)).copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    out = cp.hybrid_composite(photo, g_out, cp.full_region((side, side)), f, hole=hole)
    assert out.shape == (side * f, side * f, 3)
    L = torch.from_numpy(lightness(out))[None, None]
    down = (lanczos_down(L, f) if f > 1 else L)[0, 0]
    far = F.max_pool2d(torch.from_numpy(hole).float()[None, None], 2 * 5 + 1, stride=1, padding=5)[0, 0] == 0
    err = (down - torch.from_numpy(lightness(photo)))[far].abs()
    assert err.max() < 0.75 and err.mean() < 0.1  # 8-bit output, 8 back-projection steps (slowest at x4)
    # the old output (the model's image enlarged) is nowhere near the photo's detail
    flat = torch.full_like(down, float(lightness(colour[None, None])[0, 0]))
    assert (flat - torch.from_numpy(lightness(photo)))[far].abs().mean() > 10
    # the colour: the model's constant a*, b* (where L* leaves it in gamut: mid-tones)
    lab = cp.rgb_to_lab(torch.from_numpy(out).permute(2, 0, 1)[None].double() / 255)[0]
    want = cp.rgb_to_lab(torch.from_numpy(colour).double().view(1, 3, 1, 1) / 255)[0, 1:, 0, 0]
    mid = (lab[0] > 35) & (lab[0] < 65)
    assert mid.sum() > 100
    assert (lab[1:, mid] - want[:, None]).abs().max() < 3
    # the hole: the rim's lightness continued inwards, not the scratch's white (L* 100)
    fill = _harmonic_numpy(rim_L, hole)
    core = np.zeros_like(hole)
    core[15:33, 17:35] = True
    assert np.abs(down.numpy()[core] - fill[core]).max() < 1.0 and down.numpy()[core].max() < 80


def test_restore_hybrid_on_a_large_region_keeps_the_photo_detail(gan):
    """restore --task hybrid --region full on a photo 4x larger than the model's input: before,
    the output was the model's image enlarged (detail lost); now its L*, shrunk, is the photo's,
    --chroma-smooth reaches the colour, and the note says what the model adds."""
    photo = _gray_detail(64, 7)
    img = open_image(Image.fromarray(photo))
    kw = dict(task="hybrid", scale=2, region="full", **FAST)
    out = restore(gan, img, RestoreSettings(**kw))
    assert out.model_input.size == (16, 16) and out.image.size == (128, 128)
    L = torch.from_numpy(lightness(np.asarray(out.image)))[None, None]
    want = torch.from_numpy(lightness(photo))
    assert (lanczos_down(L, 2)[0, 0] - want).abs().max() < 0.5
    enlarged = np.asarray(cp.resize_result(out.result.final, (128, 128)))
    assert (lanczos_down(torch.from_numpy(lightness(enlarged))[None, None], 2)[0, 0] - want).abs().mean() > 3  # ~6 L* here, 10x the new error
    assert any("keeps the photo's lightness" in n for n in out.notes)
    assert not any("already has colour" in n for n in out.notes)  # a gray photo
    raw = restore(gan, img, RestoreSettings(chroma_smooth=0, **kw))
    assert np.array_equal(np.asarray(raw.region_result), np.asarray(out.region_result))  # same run
    a_raw, a_smooth = (chroma(np.asarray(o.image)) for o in (raw, out))
    assert np.abs(a_raw - a_smooth).max() > 1  # the smoothing reached the written image
    assert np.abs(lightness(np.asarray(raw.image)) - lightness(np.asarray(out.image))).max() < 1.0


def test_restore_hybrid_refuses_an_output_too_large(gan, monkeypatch):
    """The hybrid writes the region f x larger: past the output limit, a clear error before any run."""
    import sys
    monkeypatch.setattr(sys.modules["dgp_studio.core.restore"], "MAX_OUTPUT_PIXELS", 10_000)
    img = open_image(Image.fromarray(np.full((50, 70, 3), 90, np.uint8)))
    with pytest.raises(RestoreError, match=r"140x100 px .*--region"):
        restore(gan, img, RestoreSettings("hybrid", **FAST))
    assert restore(gan, img, RestoreSettings("hybrid", region="0,0,40", **FAST)).image.size == (80, 80)


@pytest.mark.parametrize("f", [1, 2, 4])
def test_back_projection_in_bands_equals_the_whole_image(f):
    """back_project_onto works in bands of photo rows (bounded memory on big photos): with the
    margin, the bands' result is the one-piece result; and it does not write into the model image
    it is given (at equal sizes the enlargement is a view)."""
    g = torch.Generator().manual_seed(f)
    photo = torch.rand(1, 3, 70, 50, generator=g) * 255
    model = torch.rand(1, 3, 16, 16, generator=g) * 255
    whole = cp.back_project_onto(model, photo, f, 255.0, band_rows=10 ** 6)
    bands = cp.back_project_onto(model, photo, f, 255.0, band_rows=12)
    assert whole.shape == (1, 3, 70 * f, 50 * f)
    assert (whole - bands).abs().max() < 1e-3
    same = torch.rand(1, 1, 20 * f, 20 * f, generator=g) * 100
    before = same.clone()
    cp.back_project_onto(same, torch.rand(1, 1, 20, 20, generator=g) * 100, f, 100.0, band_rows=7)
    assert torch.equal(same, before)
