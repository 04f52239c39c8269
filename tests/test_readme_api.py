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
