"""Several photos in one optimisation loop (core/grouped.py, core/groupedrun.py): each photo's
result is what a single fast run gives it; the group only shares the work."""
import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from dgp_studio.cli.main import main
from dgp_studio.core import presets
from dgp_studio.core.batch import collect_inputs, plan, process_file, process_group
from dgp_studio.core.biggan import build_biggan
from dgp_studio.core.degradations import Colorization, Inpainting
from dgp_studio.core.export import read_record
from dgp_studio.core.grouped import GroupedGenerator, stacked_sn
from dgp_studio.core.groupedrun import GroupItem, GroupReconstructor
from dgp_studio.core.reconstructor import Reconstructor
from dgp_studio.core.restore import RestoreSettings

from conftest import tiny_config


@pytest.fixture(scope="module")
def gan():
    g = build_biggan(tiny_config(), seed=0)
    with torch.no_grad():  # non-zero attention gains, so the attention path counts
        for block in g.G.blocks:
            for layer in block[1:]:
                layer.gamma.fill_(0.6)
    return g


def _perturbed_copies(gg: GroupedGenerator, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for s in gg.stacked.values():
            s.add_(0.05 * s.abs().mean() * torch.randn(s.shape, generator=gen))


def test_stacked_spectral_norm_is_each_copys_own():
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(3, 6, 4, 3, 3, generator=gen)
    u0 = torch.randn(1, 6, generator=gen)
    got = stacked_sn(w, u0, 1e-6)
    for i in range(3):  # the layer's own code (spectral.py) on copy i
        mat = w[i].reshape(6, -1)
        v = torch.nn.functional.normalize(u0 @ mat, eps=1e-6)
        u = torch.nn.functional.normalize(v @ mat.t(), eps=1e-6)
        sigma = (v @ mat.t() @ u.t()).squeeze()
        torch.testing.assert_close(got[i], w[i] / sigma, rtol=1e-5, atol=1e-6)


def test_grouped_generator_is_each_images_generator_values_and_gradients(gan):
    G = gan.G
    n = 3
    gg = GroupedGenerator(G, n, update_embed=True)
    gg.set_trainable(99)
    _perturbed_copies(gg)
    z = torch.randn(n, G.config.dim_z, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 3, 4])
    out = gg(z, gg.embed(y))
    w_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
    (out * w_out).sum().backward()
    for i in range(n):
        Gi = copy.deepcopy(G)
        gg.copy_into(Gi, i)
        Gi.requires_grad_(True)
        ref = Gi(z[i:i + 1], Gi.shared(y[i:i + 1]))
        torch.testing.assert_close(out[i:i + 1], ref, rtol=1e-4, atol=2e-5)
        (ref * w_out[i:i + 1]).sum().backward()
        named = dict(Gi.named_parameters())
        for name, q in G.named_parameters():
            s = gg.stacked.get(id(q))
            if s is None or named[name].grad is None:
                continue
            torch.testing.assert_close(s.grad[i], named[name].grad, rtol=1e-3, atol=1e-5, msg=name)


def test_groups_not_yet_tuned_use_the_modules_weights(gan):
    gg = GroupedGenerator(gan.G, 2)
    gg.set_trainable(2)  # linear and block 0 tuned: their copies; blocks 1+ shared
    assert gg.W(gan.G.blocks[0][0].conv1)[1] is True
    assert gg.W(gan.G.blocks[1][0].conv1)[1] is False
    assert not gg.stacked[id(gan.G.blocks[1][0].conv1.weight)].requires_grad
    z = torch.randn(2, gan.G.config.dim_z)
    y = torch.tensor([1, 2])
    with torch.no_grad():
        torch.testing.assert_close(gg(z, gg.embed(y)), gan.G(z, gan.G.shared(y)), rtol=1e-4, atol=2e-5)


def _items(kind):
    gen = torch.Generator().manual_seed(5)
    imgs = [torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1 for _ in range(3)]
    if kind == "inpainting":  # each photo its own mask
        degs = [Inpainting.centered_hole(32), Inpainting(torch.rand(32, 32, generator=gen) > 0.3),
                Inpainting.from_hole(torch.arange(32)[None, :].expand(32, 32) < 10)]
    else:
        d = Colorization()
        degs = [d, d, d]
    # a searched class, a given class, a second seed
    return [GroupItem(imgs[0], degs[0], None, 0), GroupItem(imgs[1], degs[1], 2, 1),
            GroupItem(imgs[2], degs[2], None, 2)]


@pytest.mark.parametrize("kind", ["colorization", "inpainting"])
def test_group_run_gives_each_photo_its_single_run_result(gan, kind):
    p = replace(presets.get(kind), iterations=(3,) * 5, select_num=6)
    items = _items(kind)
    group = GroupReconstructor(gan, p, precision="fp32").run(items)
    assert len(group) == 3
    for it, g in zip(items, group):
        r = Reconstructor(gan, p, it.degradation, precision="fp32", preview_every=0).run(
            it.image, class_id=it.class_id, seed=it.seed)
        assert g.class_id == r.class_id and g.class_searched == (it.class_id is None)
        assert g.steps_done == r.steps_done == 15 and len(g.history) == 15
        assert g.search_loss == pytest.approx(r.search_loss, rel=1e-5)
        for hg, hr in zip(g.history, r.history):
            assert hg["total"] == pytest.approx(hr["total"], rel=1e-3, abs=1e-5)
        torch.testing.assert_close(g.z, r.z, rtol=0, atol=2e-4)
        torch.testing.assert_close(g.image, r.image, rtol=0, atol=2e-3)
        torch.testing.assert_close(g.final, r.final, rtol=0, atol=2e-3)
        for key, v in r.generator_state.items():
            torch.testing.assert_close(g.generator_state[key], v, rtol=0, atol=2e-4, msg=key)
        # the tuned weights differ from the model's: the run did change them
        assert any((r.generator_state[k] - v).abs().max() > 1e-5 for k, v in gan.G.state_dict().items())


def test_recorded_iterations_give_the_same_group_result(gan):
    p = replace(presets.get("colorization"), iterations=(6,) * 5, select_num=4)
    items = _items("colorization")[:2]
    plain = GroupReconstructor(gan, p, precision="fp32").run(items)
    rec = GroupReconstructor(gan, p, precision="fp32", cuda_graphs="emulate").run(items)
    assert rec[0].timings["cuda_graphs"] == "emulate"
    for a, b in zip(plain, rec):
        torch.testing.assert_close(a.image, b.image, rtol=0, atol=1e-5)
        assert [h["total"] for h in a.history] == pytest.approx([h["total"] for h in b.history], rel=1e-5)


def test_cancel_stops_every_photo_with_its_last_state(gan):
    p = replace(presets.get("colorization"), iterations=(5,) * 5, select_num=4)
    seen = []

    def progress(pr):
        seen.append(pr)

    stop_after = 7
    res = GroupReconstructor(gan, p).run(_items("colorization")[:2], progress=progress,
                                         should_stop=lambda: sum(pr.phase == "optimise" for pr in seen) >= stop_after)
    assert all(r.cancelled for r in res) and all(r.steps_done == stop_after for r in res)
    assert all(len(r.history) == stop_after for r in res) and res[0].stages_done == 1
    assert [pr.elapsed for pr in seen if pr.phase == "search"] == [0.5, 1.0]
    # each photo's partial state renders to its result image
    for r in res:
        G = copy.deepcopy(gan.G)
        G.load_state_dict(r.generator_state)
        with torch.no_grad():
            torch.testing.assert_close(G(r.z, r.class_embedding), r.image, rtol=0, atol=1e-5)


def test_presets_that_cannot_be_grouped_say_why(gan):
    with pytest.raises(ValueError, match="early"):
        GroupReconstructor(gan, presets.get("defence"))
    with pytest.raises(ValueError, match="instance norm"):
        GroupReconstructor(gan, replace(presets.get("colorization"), use_in=(True,) * 5))


def _photos(root, n):
    root.mkdir()
    rng = np.random.default_rng(4)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (30 + 4 * i, 40), dtype=np.uint8)).save(root / f"s{i}.png")
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return root


def test_process_group_writes_each_photo_as_process_file_does(gan, tmp_path):
    src = _photos(tmp_path / "in", 2)
    settings = RestoreSettings("colorize", iters_scale=0.02, candidates=4, seed=1)
    items = plan(collect_inputs([src]), "colorize", out_dir=tmp_path / "g")
    recs = process_group(gan, items, settings, device="cpu")
    assert [r["status"] for r in recs] == ["error", "ok", "ok"]  # bad.png sorts first
    assert "bad.png" in recs[0]["error"]
    singles = plan(collect_inputs([src]), "colorize", out_dir=tmp_path / "s")
    for item, single_item, r in zip(items[1:], singles[1:], recs[1:]):
        one = process_file(gan, single_item, settings, device="cpu")
        a = np.asarray(Image.open(item.out)).astype(int)
        b = np.asarray(Image.open(single_item.out)).astype(int)
        assert a.shape == b.shape and np.abs(a - b).max() <= 2  # same result up to rounding
        stored = read_record(item.out)
        assert any("group of 2" in n for n in stored["notes"]) and stored["class_id"] == one["class_id"]
        assert r["seconds"] > 0 and r["input"] == item.rel


def test_cli_group_option(tiny_model_dir, tmp_path, capsys):
    src = _photos(tmp_path / "scans", 3)
    out = tmp_path / "done"
    base = ["restore", str(src), "--task", "colorize", "--model", str(tiny_model_dir), "-q",
            "--iters-scale", "0.02", "--candidates", "4", "--device", "cpu"]
    assert main(base + ["--out-dir", str(out), "--group", "2"]) == 1  # finished, bad.png failed
    err = capsys.readouterr().err
    assert "3 done, 0 skipped (already done), 1 failed" in err
    assert sorted(p.name for p in out.glob("*.png")) == [f"s{i}_colorize.png" for i in range(3)]
    notes = [read_record(out / f"s{i}_colorize.png")["notes"] for i in range(3)]
    # files go in twos (bad.png + s0, then s1 + s2); a group left with one photo says nothing
    assert not any("group" in n for n in notes[0])
    assert all(any("group of 2" in n for n in notes[i]) for i in (1, 2))
    assert main(base + ["--out-dir", str(tmp_path / "x"), "--group", "0"]) == 2
    assert "--group 0" in capsys.readouterr().err
    assert main(base + ["--out-dir", str(tmp_path / "y"), "--group", "2", "--jobs", "2"]) == 2
    assert "not with --jobs" in capsys.readouterr().err
    assert main(base + ["--out-dir", str(tmp_path / "z"), "--group", "2", "--exact"]) == 1
    err = capsys.readouterr().err
    assert "--exact runs one photo at a time; --group is ignored" in err and "3 done" in err


def test_a_group_out_of_memory_is_redone_one_photo_at_a_time(gan, tmp_path, monkeypatch):
    from dgp_studio.core import groupedrun

    def no_memory(self, items, **kw):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    monkeypatch.setattr(groupedrun.GroupReconstructor, "run", no_memory)
    src = _photos(tmp_path / "in", 2)
    settings = RestoreSettings("colorize", iters_scale=0.02, candidates=4, seed=1)
    items = plan(collect_inputs([src]), "colorize", out_dir=tmp_path / "g")
    recs = process_group(gan, items[1:], settings, device="cpu")
    assert [r["status"] for r in recs] == ["ok", "ok"]
    assert all(any("ran out of memory: restored on its own" in n for n in r["notes"]) for r in recs)
    assert all(item.out.is_file() for item in items[1:])
