"""Manipulations reproduce the reconstruction where they should; sessions round-trip; the CLI works."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from dgp_studio.cli.main import main
from dgp_studio.core.classes import class_names
from dgp_studio.core import manipulate, presets
from dgp_studio.core.checkpoint import load_biggan
from dgp_studio.core.degradations import Identity
from dgp_studio.core.reconstructor import Reconstructor
from dgp_studio.core.session import SessionError, load_session, save_session


@pytest.fixture(scope="module")
def gan_and_results(tiny_model_dir):
    gan = load_biggan(tiny_model_dir)
    p = replace(presets.get("morphing").scaled(0.05), select_num=8)
    ra = Reconstructor(gan, p, Identity()).run(gan.sample(1, seed=1), class_id=1, seed=0)
    rb = Reconstructor(gan, p, Identity()).run(gan.sample(3, seed=2), class_id=3, seed=0)
    return gan, ra, rb


def test_morph_endpoints_exact(gan_and_results):
    gan, a, b = gan_and_results
    frames = manipulate.morph(gan, a, b, [0.0, 0.5, 1.0])
    assert torch.equal(frames[0], a.image) and torch.equal(frames[2], b.image)
    assert not torch.equal(frames[1], a.image) and not torch.equal(frames[1], b.image)


def test_jitter_std_zero_is_the_reconstruction(gan_and_results):
    gan, a, _ = gan_and_results
    batch = manipulate.jitter(gan, a, n=4, std=0.0, seed=3)
    assert batch.shape[0] == 4
    assert torch.allclose(batch, a.image.expand(4, -1, -1, -1), atol=1e-5)
    varied = manipulate.jitter(gan, a, n=4, std=0.7, seed=3)
    assert (varied[0] - varied[1]).abs().mean() > 1e-3
    assert torch.equal(varied, manipulate.jitter(gan, a, n=4, std=0.7, seed=3))


def test_transfer_same_class_reproduces_and_blend(gan_and_results):
    gan, a, _ = gan_and_results
    same = manipulate.transfer(gan, a, a.class_id)
    assert torch.allclose(same, a.image, atol=1e-6)
    other = manipulate.transfer(gan, a, 4)
    assert (other - a.image).abs().mean() > 1e-4
    half = manipulate.transfer(gan, a, a.class_id, blend_with=4, blend=1.0)
    assert torch.allclose(half, other, atol=1e-6)


def test_session_roundtrip(tmp_path, gan_and_results):
    gan, a, _ = gan_and_results
    path = save_session(a, tmp_path / "a.dgps", gan)
    back, meta = load_session(path, gan)
    assert torch.equal(back.z, a.z) and back.class_id == a.class_id
    assert all(torch.equal(back.generator_state[k], v) for k, v in a.generator_state.items())
    assert back.preset == a.preset and meta["version"] == 1
    assert torch.equal(manipulate.morph(gan, back, back, [0.0])[0], a.image)


def test_session_errors(tmp_path, gan_and_results):
    gan, a, _ = gan_and_results
    junk = tmp_path / "junk.dgps"
    junk.write_bytes(b"\x00" * 5 + b"garbage")
    with pytest.raises(SessionError, match="not a DGP Studio session"):
        load_session(junk, gan)
    Image.new("RGB", (4, 4)).save(tmp_path / "photo.png")
    with pytest.raises(SessionError, match="is an image, not a DGP Studio session"):
        load_session(tmp_path / "photo.png", gan)
    other = load_biggan(gan.source)
    other.name = "another-model"
    path = save_session(a, tmp_path / "a.dgps", gan)
    with pytest.raises(SessionError, match="made with model"):
        load_session(path, other)


def test_a_damaged_session_or_cache_entry_is_refused_before_rendering(tmp_path, gan_and_results):
    """Sessions carry no checksum: a wrong-shaped z failed inside G ('mat1 and mat2 shapes cannot
    be multiplied') and a NaN rendered as a black image without a word."""
    import json

    from dgp_studio.core.cache import CacheError, CachedResult
    from dgp_studio.core.tensorfile import load_tensors, save_tensors
    gan, a, _ = gan_and_results
    tensors, raw = load_tensors(save_session(a, tmp_path / "a.dgps", gan))
    meta = json.loads(raw["dgp_studio"])
    dim_z, width = a.z.shape[1], a.class_embedding.shape[1]
    w_name = next(k for k in a.generator_state if k.endswith("weight") and a.generator_state[k].dim() == 4)
    cases = {
        "z": ({"z": torch.zeros(1, dim_z + 3)}, {}, rf"its z has shape \(1, {dim_z + 3}\), the model needs \(1, {dim_z}\)"),
        "nan": ({"z": torch.full((1, dim_z), float("nan"))}, {}, "its z holds values that are not finite"),
        "emb": ({"class_embedding": torch.zeros(1, width - 1)}, {}, "its class embedding has shape"),
        "cls": ({}, {"class_id": 99}, "its class 99 is not one of the model's 5 classes"),
        "inf": ({"G." + w_name: torch.full_like(a.generator_state[w_name], float("inf"))}, {},
                f"generator tensor '{w_name}' holds values that are not finite"),
    }
    for name, (t_edit, m_edit, message) in cases.items():
        path = tmp_path / f"{name}.dgps"
        save_tensors(dict(tensors, **t_edit), path, {"dgp_studio": json.dumps(dict(meta, **m_edit))})
        with pytest.raises(SessionError, match="damaged or not made for this model: " + message):
            load_session(path, gan)
    # the same check guards cached results (disk cache, projects): a NaN z is never rendered
    entry = CachedResult.from_result(replace(a, z=torch.full_like(a.z, float("nan"))), gan, key="ab" * 32)
    with pytest.raises(CacheError, match="does not fit the model: its z holds values that are not finite"):
        entry.to_result(gan)
    assert torch.equal(CachedResult.from_result(a, gan, key="cd" * 32).to_result(gan).z, a.z)


def test_cli_jitter_transfer_morph(tmp_path, tiny_model_dir, gan_and_results):
    gan, a, b = gan_and_results
    sa = save_session(a, tmp_path / "a.dgps", gan)
    sb = save_session(b, tmp_path / "b.dgps", gan)
    m = str(tiny_model_dir)
    assert main(["jitter", str(sa), "--n", "4", "--std", "0.5", "--model", m, "--device", "cpu",
                 "--out", str(tmp_path / "j.png")]) == 0
    assert Image.open(tmp_path / "j.png").size == (4 * 32, 32)  # the model's 32 px, as rendered
    assert main(["transfer", str(sa), "--to", "2", "--model", m, "--out", str(tmp_path / "t.png")]) == 0
    t = np.asarray(Image.open(tmp_path / "t.png"))
    ref = ((manipulate.transfer(gan, a, 2)[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    assert np.array_equal(t, ref)
    # --size enlarges for viewing, bicubic from the exact render
    assert main(["transfer", str(sa), "--to", "2", "--model", m, "--out", str(tmp_path / "t256.png"),
                 "--size", "256"]) == 0
    big = Image.open(tmp_path / "t256.png")
    assert big.size == (256, 256)
    assert np.array_equal(np.asarray(big), np.asarray(Image.fromarray(ref).resize((256, 256), Image.BICUBIC)))
    assert main(["jitter", str(sa), "--n", "6", "--model", m, "--out", str(tmp_path / "j6.png"), "--size", "64"]) == 0
    assert Image.open(tmp_path / "j6.png").size == (4 * 64, 2 * 64)  # rows of 4
    assert main(["morph", str(sa), str(sb), "--frames", "3", "--gif", "--strip", "--model", m,
                 "--out-dir", str(tmp_path / "mo")]) == 0
    assert sorted(p.name for p in (tmp_path / "mo").iterdir()) == ["morph.gif", "morph_000.png", "morph_001.png",
                                                                   "morph_002.png", "morph_strip.png"]
    with Image.open(tmp_path / "mo" / "morph.gif") as gif:  # the GIF is for viewing: 256 px, as the editor's
        assert gif.size == (256, 256) and gif.n_frames == 3 + 1 and gif.info["loop"] == 0  # A, mid, B, mid
    raw_a = ((a.image[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    raw_b = ((b.image[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "mo" / "morph_000.png")), raw_a)  # lambda 0 = A exactly
    assert np.array_equal(np.asarray(Image.open(tmp_path / "mo" / "morph_002.png")), raw_b)
    strip = np.asarray(Image.open(tmp_path / "mo" / "morph_strip.png"))  # A | middle | B in one row
    assert strip.shape == (32, 3 * 32, 3)
    assert np.array_equal(strip[:, :32], raw_a) and np.array_equal(strip[:, 64:], raw_b)
    assert np.array_equal(strip[:, 32:64], np.asarray(Image.open(tmp_path / "mo" / "morph_001.png")))
    assert main(["morph", str(sa), str(sb), "--frames", "2", "--gif", "--size", "48", "--model", m,
                 "--out-dir", str(tmp_path / "m48")]) == 0
    assert Image.open(tmp_path / "m48" / "morph_001.png").size == (48, 48)
    assert Image.open(tmp_path / "m48" / "morph.gif").size == (48, 48)  # --size applies to the GIF too
    for bad in (["jitter", str(sa)], ["transfer", str(sa), "--to", "1"], ["morph", str(sa), str(sb)]):
        assert main(bad + ["--size", "-1", "--model", m]) == 2, bad
    assert main(["transfer", str(sa), "--to", "zebra", "--model", m]) == 2  # unknown class: clear error
    # out of range: one line, before any work (NaN/inf noise rendered black images without a word;
    # a seed beyond 64 bits was "ValueError: Overflow when unpacking long long")
    for bad in (["jitter", str(sa), "--n", "0"], ["jitter", str(sa), "--std", "-1"],
                ["jitter", str(sa), "--std", "nan"], ["jitter", str(sa), "--std", "inf"],
                ["jitter", str(sa), "--seed", str(10 ** 25)],
                ["transfer", str(sa), "--to", "1", "--blend-with", "2", "--blend", "3"]):
        assert main(bad + ["--model", m, "--out", str(tmp_path / "never.png")]) == 2, bad
        assert not (tmp_path / "never.png").exists()
    # default name carries the class name; --out picks the format by extension; inputs are never targets
    name = class_names(gan.config)[2]
    assert main(["transfer", str(sa), "--to", name, "--model", m]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / f"a_to_{name.replace(' ', '_')}.png")), t)
    assert main(["jitter", str(sa), "--n", "2", "--model", m, "--out", str(tmp_path / "j.jpg")]) == 0
    assert Image.open(tmp_path / "j.jpg").format == "JPEG"
    before = sa.read_bytes()
    assert main(["jitter", str(sa), "--n", "2", "--model", m, "--out", str(sa)]) == 2
    assert sa.read_bytes() == before


def test_a_mistyped_command_is_named_not_opened_in_the_editor(capsys, monkeypatch):
    import dgp_studio.gui.app as app
    monkeypatch.setattr(app, "run_app", lambda argv: pytest.fail(f"the editor was started with {argv}"))
    for typo in (["restor", "x.jpg", "--task", "colorize"], ["frobnicate"]):
        assert main(typo) == 2
        err = capsys.readouterr().err
        assert f"'{typo[0]}' is neither a command" in err and "restore" in err and "--help" in err


def test_cli_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("jitter", "transfer", "morph", "examples"):
        assert word in out
