"""``dgp-studio eval``: the report's structure from a --quick run, and every metric on hand-made cases."""
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from dgp_studio.cli.main import main
from dgp_studio.core import presets
from dgp_studio.core.evaluation import EvalSettings, find_images, load_images
from dgp_studio.core.evaluation.baselines import (ablation_preset, bicubic_upsample, dip_gan, is_progressive,
                                                  z_only)
from dgp_studio.core.evaluation.colour_metrics import ab_error, colourfulness
from dgp_studio.core.evaluation.report import image_sheet
from dgp_studio.core.evaluation.tasks import TASKS
from dgp_studio.core.metrics import psnr, rmse, ssim
from dgp_studio.core.presets import ALL
from dgp_studio.core.reconstructor import Reconstructor

from conftest import tiny_config

ALL_TASKS = "reconstruct,colorize,inpaint,sr4,ablation"


def _photo_folder(root):
    """Three images in sorted order a.png, 'class 2/b.jpg', z.webp (--quick takes the first two)."""
    root.mkdir()
    yy, xx = np.mgrid[0:48, 0:40]
    grad = np.stack([xx * 6, yy * 5, 255 - xx * 6], -1).clip(0, 255).astype(np.uint8)
    Image.fromarray(grad).save(root / "a.png")
    (root / "class 2").mkdir()
    rng = np.random.default_rng(0)
    blob = (np.kron(rng.integers(0, 255, (5, 6, 3)), np.ones((8, 8, 1)))).astype(np.uint8)
    Image.fromarray(blob).save(root / "class 2" / "b.jpg", quality=95)
    Image.fromarray(grad[::-1]).save(root / "z.webp")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory, tiny_model_dir):
    base = tmp_path_factory.mktemp("eval")
    imgs = _photo_folder(base / "photos")
    out = base / "report"
    rc = main(["eval", "--model", str(tiny_model_dir), "--images", str(imgs), "--tasks", ALL_TASKS,
               "--quick", "--threads", "1", "--quiet", "--out", str(out)])
    assert rc == 0
    return out, json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


def test_quick_report_files_and_header(quick_report):
    out, rep, md = quick_report
    for key in ALL_TASKS.split(","):
        with Image.open(out / f"{key}.png") as im:
            assert im.width > 200 and im.height > 100
        assert "![" in md and f"({key}.png)" in md
    assert rep["format"] == "dgp-studio-eval"
    assert [im["name"] for im in rep["images"]] == ["a.png", "class 2/b.jpg"]  # sorted, --quick = 2
    assert rep["images"][0]["class_id"] is None and rep["images"][0]["class_source"] == "searched"
    assert rep["images"][1]["class_id"] == 2 and rep["images"][1]["class_source"] == "folder"
    assert rep["settings"]["quick"] and rep["settings"]["select_num"] == 20
    assert 0.02 <= rep["settings"]["iters_scale"] <= 0.05
    assert rep["device"] == "cpu" and "CPU" in rep["device_description"]
    assert rep["wall_s"] > 0 and "--quick" in rep["command"]
    # the schedules recorded are the scaled ones actually run
    full = presets.get("inpainting").iterations
    assert rep["schedules"]["inpainting"]["iterations"] == [max(1, round(i * rep["settings"]["iters_scale"]))
                                                            for i in full]


EXPECTED = {
    "reconstruct": ({"dgp", "z-only"}, {"psnr", "ssim", "mse"}),
    "colorize": ({"dgp", "z-only", "gray", "clean"}, {"ab_mae", "ab_rmse", "colourfulness"}),
    "inpaint": ({"dgp", "dip", "z-only"}, {"psnr_hole", "ssim_hole"}),
    "sr4": ({"dgp-d", "dgp-mse", "dip-d", "dip-mse", "bicubic"}, {"psnr", "rmse"}),
}


@pytest.mark.parametrize("task", list(EXPECTED))
def test_quick_report_task_numbers(quick_report, task):
    _, rep, md = quick_report
    t = rep["tasks"][task]
    methods, metrics = EXPECTED[task]
    assert {m["key"] for m in t["metrics"]} == metrics
    assert len(t["per_image"]) == 2
    for rec in t["per_image"]:
        assert set(rec["methods"]) == methods
        for m, vals in rec["methods"].items():
            assert metrics | {"time_s"} <= set(vals)
            assert vals["time_s"] >= 0
    # means are the plain average of the per-image numbers
    for m in methods:
        for k in metrics | {"time_s"}:
            vals = [r["methods"][m][k] for r in t["per_image"]]
            assert t["mean"][m][k] == pytest.approx(sum(vals) / len(vals))
    # the folder's class is the class the engine used for that image
    engine_runs = [m for m in methods if m not in ("gray", "clean", "bicubic")]
    assert all(t["per_image"][1]["methods"][m]["class_id"] == 2 for m in engine_runs)
    # Markdown: one means row per method and one per-image row per (image, method)
    section = md.split(f"## {t['title']}")[1].split("\n## ")[0]
    for m in t["methods"]:
        assert sum(line.startswith(f"| {m['label']} |") for line in section.splitlines()) == 1
    per_image_rows = [ln for ln in section.splitlines() if ln.startswith("| a.png |") or ln.startswith("| class 2/b.jpg |")]
    assert len(per_image_rows) == 2 * len(methods)


def test_quick_report_baselines_are_distinct_runs(quick_report):
    _, rep, _ = quick_report
    per = rep["tasks"]["inpaint"]["per_image"]
    assert any(r["methods"]["dip"]["psnr_hole"] != r["methods"]["dgp"]["psnr_hole"] for r in per)
    # leaving it gray: colourfulness exactly 0; the clean photo's own a/b error is 0
    for r in rep["tasks"]["colorize"]["per_image"]:
        assert r["methods"]["gray"]["colourfulness"] == pytest.approx(0, abs=1e-9)
        assert r["methods"]["clean"]["ab_rmse"] == 0
    # bicubic needs no optimisation
    assert all(r["methods"]["bicubic"]["steps"] == 0 for r in rep["tasks"]["sr4"]["per_image"])


def test_quick_report_ablation(quick_report):
    _, rep, md = quick_report
    t = rep["tasks"]["ablation"]
    variants = ["mse", "discriminator", "discriminator+progressive"]
    assert [s["key"] for s in t["subtasks"]] == ["colorize", "inpaint", "sr4"]
    for s in t["subtasks"]:
        o = t["ordering"][s["key"]]
        assert o["metric"] == s["metric"]
        means = [t["mean"][s["key"]][v][o["metric"]] for v in variants]
        assert o["means"] == pytest.approx(means)
        sign = 1 if o["higher_is_better"] else -1
        assert o["holds_on_means"] == (sign * (means[1] - means[0]) > 0 and sign * (means[2] - means[1]) > 0)
        per = [[r["methods"][s["key"]][v][o["metric"]] for v in variants] for r in t["per_image"]]
        assert o["images_holding"] == sum(sign * (p[1] - p[0]) > 0 and sign * (p[2] - p[1]) > 0 for p in per)
        row = next(ln for ln in md.splitlines() if ln.startswith(f"| {s['key']} | "))
        assert row.endswith(f"| {o['images_holding']}/2 |")
    # colorization's preset is progressive: its row reuses the colorize task's DGP run exactly
    col = rep["tasks"]["colorize"]["per_image"]
    for i, r in enumerate(t["per_image"]):
        assert r["methods"]["colorize"]["discriminator+progressive"]["ab_rmse"] == col[i]["methods"]["dgp"]["ab_rmse"]


# ---------------------------------------------------------------- metrics on hand-made cases

def test_psnr_mse_rmse_of_known_error():
    a = torch.full((1, 3, 16, 16), 0.5, dtype=torch.float64)
    b = a + 0.1  # MSE 0.01 -> PSNR 20 dB
    assert psnr(a, b) == pytest.approx(20.0)
    assert rmse(a, b) == pytest.approx(0.1)
    # the task's scorer works on [-1, 1] engine images: a 0.2 offset there is 0.1 in [0, 1]
    s = TASKS["reconstruct"].score(torch.zeros(1, 3, 16, 16) + 0.2, torch.zeros(1, 3, 16, 16), None)
    assert s["psnr"] == pytest.approx(20.0, abs=1e-5) and s["mse"] == pytest.approx(0.01, abs=1e-7)
    s = TASKS["sr4"].score(torch.zeros(1, 3, 16, 16) - 0.2, torch.zeros(1, 3, 16, 16), None)
    assert s["rmse"] == pytest.approx(0.1, abs=1e-6)


def test_ssim_identical_and_constant_images():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.random((1, 3, 20, 20)))
    assert ssim(x, x) == pytest.approx(1.0)
    # flat images: only the luminance term is left, (2ab + c1) / (a^2 + b^2 + c1)
    a, b, c1 = 0.5, 0.6, 0.01 ** 2
    got = ssim(torch.full((1, 3, 20, 20), a), torch.full((1, 3, 20, 20), b))
    assert got == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1))


def test_inpainting_scored_inside_the_centred_hole_only():
    res = 30
    task = TASKS["inpaint"]
    deg = task.degradation(res)
    hole = 1 - deg.mask[0, 0]
    side = res // 3
    assert int(hole.sum()) == side * side
    a = (res - side) // 2
    assert bool(hole[a:a + side, a:a + side].all())
    clean = torch.zeros(1, 3, res, res)
    out = torch.where(hole.bool(), clean + 0.2, clean + 1.0)  # wrong everywhere, 0.1 in [0,1] inside
    s = task.score(out, clean, deg)
    assert s["psnr_hole"] == pytest.approx(20.0, abs=1e-4)
    assert s["ssim_hole"] < 1.0
    same_hole = torch.where(hole.bool(), clean, clean + 1.0)  # exact in the hole, wrong outside
    assert task.score(same_hole, clean, deg)["ssim_hole"] == pytest.approx(1.0)


def test_lab_ab_error_of_gray_against_red():
    red = np.zeros((1, 1, 3), np.uint8)
    red[..., 0] = 255
    gray = np.full((1, 1, 3), 128, np.uint8)
    # CIE Lab (D65) of sRGB red: a = 80.09, b = 67.20; any neutral gray has a = b = 0
    e = ab_error(gray, red)
    assert e["mae"] == pytest.approx((80.09 + 67.20) / 2, abs=0.3)
    assert e["rmse"] == pytest.approx(math.sqrt((80.09 ** 2 + 67.20 ** 2) / 2), abs=0.3)
    assert ab_error(red, red) == {"mae": 0.0, "rmse": 0.0}


def test_colourfulness_hasler_susstrunk():
    gray = torch.full((1, 3, 8, 8), 0.4)
    assert colourfulness(gray) == pytest.approx(0.0, abs=1e-9)
    # two pixels, pure red and pure blue: rg = (255, 0), yb = (127.5, -255)
    img = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)
    rg, yb = np.array([255.0, 0.0]), np.array([127.5, -255.0])
    want = math.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * math.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    assert colourfulness(img) == pytest.approx(want)
    flat_red = np.zeros((4, 4, 3), np.uint8)
    flat_red[..., 0] = 255
    assert colourfulness(flat_red) == pytest.approx(0.3 * math.sqrt(255 ** 2 + 127.5 ** 2))


# ---------------------------------------------------------------- baselines and variants

@pytest.fixture
def one_thread():
    """Engine runs in this file use one thread: much faster than two on a busy 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_z_only_never_changes_the_generator(tiny_gan, one_thread):
    before = {k: v.clone() for k, v in tiny_gan.G.state_dict().items()}
    from dataclasses import replace
    p = z_only(replace(presets.get("inpainting").scaled(0.02), select_num=4))
    assert p.G_lrs == (0.0,) * p.n_stages and set(p.ft_num) == {0} and not p.update_embed
    z0 = torch.randn(1, tiny_gan.config.dim_z) * 0.3
    res = Reconstructor(tiny_gan, p, TASKS["inpaint"].degradation(32)).run(
        tiny_gan.sample(1, seed=3), class_id=1, z_init=z0)
    assert all(torch.equal(before[k], res.generator_state[k]) for k in before)
    assert float((res.z - z0).abs().max()) > 0  # z itself was optimised


@pytest.mark.parametrize("task", ["inpaint", "sr4"])
def test_shared_search_gives_the_same_result_as_a_plain_run(tiny_gan, one_thread, task):
    from dgp_studio.core.evaluation.tasks import Context
    ctx = Context(tiny_gan, iters_scale=0.02, select_num=12)
    t = TASKS[task]
    deg = t.degradation(32)
    obs = t.observe(tiny_gan.sample(2, seed=9), deg)
    p = ctx.preset(t.preset_name)
    shared = ctx.restore((task, "dgp", "img"), tiny_gan, p, deg, obs, None, 3)
    plain = Reconstructor(tiny_gan, p, deg).run(obs, class_id=None, seed=3)
    assert torch.equal(shared.final, plain.final) and shared.class_id == plain.class_id
    ctx.restore((task, "z-only", "img"), tiny_gan, z_only(p), deg, obs, None, 3)
    ctx.restore((task, "dip", "img"), ctx.dip(), p, deg, obs, None, 3)
    assert len(ctx._searches) == 2  # one search per generator, shared by DGP and z-only


def test_dip_generator_is_random_and_keeps_the_trained_D(tiny_gan):
    dip = dip_gan(tiny_gan, seed=0)
    assert dip.D is tiny_gan.D and dip.G is not tiny_gan.G
    w, w_dip = tiny_gan.G.linear.weight, dip.G.linear.weight
    assert w.shape == w_dip.shape and not torch.equal(w, w_dip)
    assert torch.equal(dip_gan(tiny_gan, seed=0).G.linear.weight, w_dip)  # reproducible


def test_ablation_variants():
    col, inp = presets.get("colorization"), presets.get("inpainting")
    mse = ablation_preset(col, "mse")
    assert set(mse.w_D_loss) == {0.0} and set(mse.w_mse) == {1.0} and set(mse.ft_num) == {ALL}
    assert ablation_preset(inp, "mse").w_mse == inp.w_mse  # the preset's pixel weight is kept
    d = ablation_preset(col, "discriminator")
    assert set(d.ft_num) == {ALL} and d.w_D_loss == col.w_D_loss and d.iterations == col.iterations
    assert ablation_preset(col, "discriminator+progressive") is col
    prog = ablation_preset(inp, "discriminator+progressive")  # inpainting's preset is flat: ramp it
    assert not is_progressive(inp) and is_progressive(prog)
    assert list(prog.ft_num) == sorted(prog.ft_num) and prog.ft_num[-1] == ALL
    with pytest.raises(ValueError):
        ablation_preset(col, "perceptual")


def test_bicubic_baseline():
    lr = torch.full((1, 3, 8, 8), 0.25)
    up = bicubic_upsample(lr, 32)
    assert up.shape == (1, 3, 32, 32) and torch.allclose(up, torch.full_like(up, 0.25), atol=1e-6)
    spiky = torch.zeros(1, 3, 8, 8)
    spiky[..., ::2, ::2] = 1.0
    assert float(bicubic_upsample(spiky, 32).max()) <= 1.0  # overshoot clipped


# ---------------------------------------------------------------- images and settings

def test_find_and_load_images(tmp_path):
    root = tmp_path / "p"
    (root / "sub" / "indoor-object").mkdir(parents=True)
    (root / ".hidden").mkdir()
    wide = np.zeros((30, 60, 3), np.uint8)
    wide[:, :15] = (255, 0, 0)
    wide[:, 15:45] = (0, 0, 255)  # the centre square of the short side
    wide[:, 45:] = (0, 255, 0)
    Image.fromarray(wide).save(root / "B.PNG")
    Image.fromarray(wide).save(root / "sub" / "indoor-object" / "a.bmp")
    Image.fromarray(wide).save(root / ".hidden" / "x.png")
    (root / "c.jpg").write_bytes(b"not really a jpeg")
    (root / "d.txt").write_text("x")
    assert [p.relative_to(root).as_posix() for p in find_images(root)] == ["B.PNG", "c.jpg",
                                                                           "sub/indoor-object/a.bmp"]
    cfg = tiny_config(n_classes=3, class_names=["animal", "indoor_object", "landscape"])
    skipped = []
    ims = load_images(root, cfg, warn=skipped.append)
    assert [im.name for im in ims] == ["B.PNG", "sub/indoor-object/a.bmp"] and len(skipped) == 1
    assert ims[0].class_id is None and ims[1].class_id == 1 and ims[1].class_name == "indoor_object"
    blue = torch.tensor([-1.0, -1.0, 1.0])[None, :, None, None]
    assert ims[0].clean.shape == (1, 3, 32, 32)
    assert torch.allclose(ims[0].clean, blue.expand_as(ims[0].clean), atol=0.02)
    assert len(load_images(root, cfg, n=1)) == 1
    assert "c.jpg" in skipped[0] and "not an image file" in skipped[0]  # the intake's one line


def test_evaluation_reads_deep_and_turned_photos_as_restore_does(tmp_path):
    # 16-bit and float files were clipped to white / black by a plain convert("RGB"), and an
    # EXIF-turned photo must be scored upright: the eval reads through the same intake as restore
    rng = np.random.default_rng(3)
    gray8 = rng.integers(20, 235, (40, 40), dtype=np.uint8)
    root = tmp_path / "p"
    root.mkdir()
    Image.fromarray(gray8).save(root / "a8.png")
    Image.fromarray(gray8.astype(np.uint16) * 257).save(root / "b16.png")
    Image.fromarray(gray8.astype(np.float32) / 255).save(root / "c_float.tif")
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:, :20] = (250, 10, 10)                    # red on the stored left ...
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6                                  # ... shown at the top (turned 90° clockwise)
    im.save(root / "d_turned.png", exif=exif)
    cfg = tiny_config(n_classes=3)
    ims = {i.name: i for i in load_images(root, cfg)}
    ref = ims["a8.png"].clean
    assert torch.allclose(ims["b16.png"].clean, ref, atol=1e-6)
    assert torch.allclose(ims["c_float.tif"].clean, ref, atol=2 / 255)
    turned = ims["d_turned.png"]
    assert turned.source_size == (40, 60)
    top, bottom = turned.clean[0, 0, :8].mean().item(), turned.clean[0, 0, -8:].mean().item()
    assert top > 0.5 and bottom < -0.5                # red at the top of the square, none at the bottom


def test_settings_quick_defaults_and_overrides():
    s = EvalSettings.make("inpaint,sr", quick=True)
    assert s.tasks == ("inpaint", "sr4") and s.select_num == 20 and 0.02 <= s.iters_scale <= 0.05
    s = EvalSettings.make("reconstruct", quick=True, iters_scale=0.5, select_num=7)
    assert (s.iters_scale, s.select_num) == (0.5, 7)
    full = EvalSettings.make("reconstruct")
    assert full.iters_scale == 1.0 and full.select_num is None
    with pytest.raises(ValueError):
        EvalSettings.make("reconstruct,deblur")
    assert EvalSettings.make("ablation", ablation_tasks="sr,inpainting").ablation_tasks == ("sr4", "inpaint")
    with pytest.raises(ValueError, match="ablation runs on"):
        EvalSettings.make("ablation", ablation_tasks="reconstruct")
    # values that would run forever or overflow torch's 64-bit seed (seed + image index) are refused
    with pytest.raises(ValueError, match="at most 100"):
        EvalSettings.make("reconstruct", iters_scale=1e9)
    with pytest.raises(ValueError, match="--seed must be between"):
        EvalSettings.make("reconstruct", seed=10 ** 20)
    with pytest.raises(ValueError, match="--candidates must be between 0 and 100,000"):
        EvalSettings.make("reconstruct", select_num=10 ** 9)
    assert EvalSettings.make("reconstruct", iters_scale=100, seed=2 ** 62).seed == 2 ** 62


def test_interrupted_evaluation_resumes_from_stored_runs(tmp_path, tiny_model_dir, monkeypatch):
    from dgp_studio.core.evaluation import tasks as tasks_mod
    imgs = tmp_path / "photos"
    imgs.mkdir()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (32, 32, 3), np.uint8)).save(imgs / "a.png")
    out = tmp_path / "rep"
    args = ["eval", "--model", str(tiny_model_dir), "--images", str(imgs), "--tasks", "reconstruct,sr4",
            "--quick", "--iters-scale", "0.01", "--threads", "1", "--quiet", "--out", str(out)]
    real_run, calls, kill_at = Reconstructor.run, [], [4]

    def dying_run(self, *a, **k):  # the 4th engine run is "killed"
        calls.append(1)
        if len(calls) == kill_at[0]:
            raise KeyboardInterrupt
        return real_run(self, *a, **k)

    monkeypatch.setattr(tasks_mod.Reconstructor, "run", dying_run)
    assert main(args) == 130
    partial = json.loads((out / "report.json").read_text())
    assert partial["complete"] is False and list(partial["tasks"]) == ["reconstruct"]
    assert "Partial report" in (out / "report.md").read_text()
    assert len(list((out / "runs").glob("*.pt"))) == 3
    calls.clear()
    kill_at[0] = 0
    assert main(args) == 0
    final = json.loads((out / "report.json").read_text())
    assert final["complete"] and final["resumed_runs"] == 3 and len(calls) == 3  # 6 runs, 3 redone
    rec = final["tasks"]["reconstruct"]["per_image"][0]["methods"]
    assert rec["dgp"]["psnr"] == partial["tasks"]["reconstruct"]["per_image"][0]["methods"]["dgp"]["psnr"]
    assert rec["dgp"]["resumed"] and not final["tasks"]["sr4"]["per_image"][0]["methods"]["dgp-mse"]["resumed"]
    # stored runs that are odd (a wrong-sized image, no time, NaN) are redone: never used, never fatal
    odd = [{"final": torch.zeros(1, 3, 5, 5), "time_s": 1.0}, {"final": torch.zeros(1, 3, 32, 32)},
           {"final": torch.full((1, 3, 32, 32), float("nan")), "time_s": 1.0}]
    for path, rec in zip(sorted((out / "runs").glob("*.pt")), odd):
        torch.save(rec, path)
    calls.clear()
    assert main(args) == 0 and len(calls) == 3
    assert json.loads((out / "report.json").read_text())["resumed_runs"] == 3
    # a changed super-resolution finish redoes the super-resolution runs only
    from dgp_studio.core.degradations import SuperResolution
    calls.clear()
    monkeypatch.setattr(SuperResolution, "finish_version", SuperResolution.finish_version + 1)
    assert main(args) == 0
    again = json.loads((out / "report.json").read_text())
    assert again["resumed_runs"] == 2 and len(calls) == 4      # reconstruct: 2 runs, sr4: 4
    assert again["tasks"]["reconstruct"]["per_image"][0]["methods"]["dgp"]["resumed"]
    assert not any(m["resumed"] for m in again["tasks"]["sr4"]["per_image"][0]["methods"].values()
                   if isinstance(m, dict) and "resumed" in m)
    calls.clear()
    assert main(args + ["--no-resume"]) == 0 and len(calls) == 6


def test_sharded_evaluation_assembles_the_single_process_report(tmp_path, tiny_model_dir, monkeypatch):
    from dgp_studio.core.evaluation import tasks as tasks_mod
    imgs = tmp_path / "photos"
    imgs.mkdir()
    rng = np.random.default_rng(5)
    for name in ("a", "b", "c"):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)).save(imgs / f"{name}.png")
    base = ["eval", "--model", str(tiny_model_dir), "--images", str(imgs), "--tasks", "reconstruct",
            "--iters-scale", "0.01", "--select-num", "4", "--seed", "7", "--threads", "1", "--quiet"]
    real_run, calls = Reconstructor.run, []

    def counted_run(self, *a, **k):
        calls.append(k.get("seed"))
        return real_run(self, *a, **k)

    monkeypatch.setattr(tasks_mod.Reconstructor, "run", counted_run)
    shared = tmp_path / "rep"
    assert main(base + ["--out", str(shared), "--shard", "1/2"]) == 0
    s1 = json.loads((shared / "shard-1-of-2" / "report.json").read_text())
    assert [im["name"] for im in s1["images"]] == ["a.png", "c.png"]
    assert [im["seed"] for im in s1["images"]] == [7, 9]  # global index, not position in the shard
    assert s1["command"].endswith(f"--out {shared} --shard 1/2")  # rerunnable as typed
    assert main(base + ["--out", str(shared), "--shard", "2/2"]) == 0
    s2 = json.loads((shared / "shard-2-of-2" / "report.json").read_text())
    assert [(im["name"], im["seed"]) for im in s2["images"]] == [("b.png", 8)]
    assert len(calls) == 6  # 3 images x (DGP, z-only)
    calls.clear()
    assert main(base + ["--out", str(shared)]) == 0
    full = json.loads((shared / "report.json").read_text())
    assert calls == [] and full["resumed_runs"] == 6
    one = tmp_path / "single"  # the same evaluation in one process, from scratch
    assert main(base + ["--out", str(one)]) == 0
    single = json.loads((one / "report.json").read_text())
    per = {r["image"]: r["methods"] for r in full["tasks"]["reconstruct"]["per_image"]}
    for r in single["tasks"]["reconstruct"]["per_image"]:
        for m in ("dgp", "z-only"):
            assert per[r["image"]][m]["psnr"] == pytest.approx(r["methods"][m]["psnr"], abs=1e-6)
    assert main(base + ["--out", str(shared), "--shard", "3/2"]) == 2


def test_cli_errors(tmp_path, tiny_model_dir, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ["eval", "--model", str(tiny_model_dir), "--quiet", "--out", str(tmp_path / "r")]
    assert main(base + ["--images", str(tmp_path / "missing")]) == 2
    assert main(base + ["--images", str(empty)]) == 2
    assert main(base + ["--images", str(empty), "--tasks", "deblur"]) == 2
    err = capsys.readouterr().err
    assert "not a folder" in err and "no readable images" in err and "unknown task 'deblur'" in err
    assert not (tmp_path / "r").exists()
    # a folder holding someone's report.md / colorize.png is not written over (an earlier report of ours is)
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (40, 40), (90, 120, 60)).save(photos / "a.png")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "report.md").write_text("my notes")
    Image.new("RGB", (4, 4)).save(busy / "colorize.png")
    run = ["eval", "--model", str(tiny_model_dir), "--quiet", "--images", str(photos), "--tasks", "reconstruct",
           "--quick", "--out", str(busy)]
    assert main(run) == 2
    assert "report.md, colorize.png" in capsys.readouterr().err and (busy / "report.md").read_text() == "my notes"
    ours = tmp_path / "ours"
    assert main(run[:-1] + [str(ours)]) == 0 and main(run[:-1] + [str(ours)]) == 0  # a rerun rewrites its own


def test_image_sheet_layout():
    rows = [("one", [("clean", torch.zeros(1, 3, 32, 32)), ("x", torch.ones(1, 3, 32, 32))]),
            ("two", [("clean", -torch.ones(1, 3, 32, 32)), ("x", torch.zeros(1, 3, 32, 32))])]
    sheet = image_sheet(["clean", "x"], rows, min_cell=64)
    px = np.asarray(sheet)
    assert sheet.size == (150 + 2 * 68 + 4, 34 + 2 * 68 + 4)
    # second row, second column is the all-zero image -> mid gray; first row there is white
    assert tuple(px[34 + 4 + 68 + 10, 150 + 4 + 68 + 10]) in ((127, 127, 127), (128, 128, 128))
    assert tuple(px[34 + 4 + 10, 150 + 4 + 68 + 10]) == (255, 255, 255)
