"""The README's Python examples run as written (on a tiny random model, as the bundled prior's stand-in)."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from dgp_studio.core import presets

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_python_examples_run(tiny_model_dir, tmp_path, monkeypatch):
    blocks = python_blocks()
    assert len(blocks) == 2
    rng = np.random.default_rng(0)
    for name, size in (("old.jpg", (90, 60)), ("cat.jpg", (50, 50)), ("dog.jpg", (64, 40))):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(tmp_path / name)
    Image.open(tmp_path / "old.jpg").convert("L").save(tmp_path / "old.jpg")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DGP_STUDIO_MODEL", str(tiny_model_dir))
    full = presets.get  # the examples use the paper's schedules; a 2 % draft keeps the test fast
    monkeypatch.setattr(presets, "get", lambda name: replace(full(name).scaled(0.02), select_num=8))
    ns: dict = {}
    for code in blocks:  # the second block uses the first one's `gan`
        exec(compile(code, str(README), "exec"), ns)
    out = Image.open(tmp_path / "old_colorized.png")
    assert out.size == (90, 60) and out.mode == "RGB"
    r = ns["gan"].resolution
    assert len(ns["frames"]) == 5 and ns["frames"][0].shape == (1, 3, r, r)
    assert ns["variations"].shape == (8, 3, r, r)
    for single, grouped in ((ns["a"], ns["a2"]), (ns["b"], ns["b2"])):  # the grouped run gives the same photos
        assert grouped.class_id == single.class_id and grouped.steps_done == single.steps_done
        assert float((grouped.image - single.image).abs().max()) < 0.05


def test_restore_takes_a_path_or_a_pil_image_as_a_script_would_pass_it(tiny_model_dir, tmp_path):
    from dgp_studio.core import RestoreSettings, load_biggan, open_image, restore
    rng = np.random.default_rng(1)
    gray = rng.integers(20, 230, (30, 44), dtype=np.uint8)
    im = Image.fromarray(gray).convert("RGB")
    exif = im.getexif()
    exif[0x0112] = 6                                     # shown turned: 30x44 stored -> 30 wide, 44 high
    im.save(tmp_path / "old.jpg", exif=exif, quality=95)
    gan = load_biggan(tiny_model_dir)
    settings = RestoreSettings(task="colorize", iters_scale=0.02, candidates=4, seed=2)
    ref = restore(gan, open_image(tmp_path / "old.jpg"), settings)
    for given in (tmp_path / "old.jpg", str(tmp_path / "old.jpg"), (tmp_path / "old.jpg").read_bytes()):
        out = restore(gan, given, settings)
        assert out.image.size == (30, 44) and np.array_equal(np.asarray(out.image), np.asarray(ref.image))
    with Image.open(tmp_path / "old.jpg") as pil:         # an open PIL image: read the same way
        out = restore(gan, pil, settings)
    assert np.array_equal(np.asarray(out.image), np.asarray(ref.image))
