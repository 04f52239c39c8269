"""Recorded iterations (CUDA graphs) on the fast path: the bookkeeping around them.

A real recording needs a GPU (bench/engine.py --modes fast-eager,fast-graph measures it there).
Here ``cuda_graphs="emulate"`` replays through static output buffers exactly as a graph does, so
a run must equal the plain fast run bit for bit: same losses per iteration (each replay's values
kept, not the buffer's last), same previews, same (z, theta), same stage semantics."""
from dataclasses import replace

import torch

from dgp_studio.core import presets
from dgp_studio.core.degradations import Colorization, Inpainting, SuperResolution, _gray_weights, _lanczos2_on
from dgp_studio.core.reconstructor import GRAPH_WARMUP, Reconstructor
from dgp_studio.core.stepgraph import StepGraph

from test_fastpath import perturbed_gan


def _run(gan, p, deg, img, **kw):
    events = []
    res = Reconstructor(gan, p, deg, preview_every=4, precision="fp32", sync_every=4, **kw).run(
        img, class_id=1, seed=0, progress=lambda e: e.phase == "optimise" and events.append(e))
    return res, events


def _same_run(a, b):
    (ra, ea), (rb, eb) = a, b
    assert torch.equal(ra.image, rb.image) and torch.equal(ra.z, rb.z)
    assert all(torch.equal(v, rb.generator_state[k]) for k, v in ra.generator_state.items())
    assert ra.history == rb.history
    assert [e.step for e in ea] == [e.step for e in eb]
    pa = [e.preview for e in ea if e.preview is not None]
    pb = [e.preview for e in eb if e.preview is not None]
    assert len(pa) == len(pb) > 2 and all(torch.equal(x, y) for x, y in zip(pa, pb))


def test_emulated_recording_is_the_plain_fast_run():
    gan = perturbed_gan()
    p = replace(presets.get("colorization"), iterations=(8, 2, 6, 5, 7), select_num=4)
    img = gan.sample(1, seed=9)
    plain = _run(gan, p, Colorization(), img)
    rec = _run(gan, p, Colorization(), img, cuda_graphs="emulate")
    _same_run(plain, rec)
    assert rec[0].timings["cuda_graphs"] == "emulate" and plain[0].timings["cuda_graphs"] == "off"
    # the losses do change from one replay to the next (a static buffer kept uncloned would not)
    stage1 = [h["total"] for h in rec[0].history if h["stage"] == 0]
    assert len(set(stage1[GRAPH_WARMUP:])) == len(stage1) - GRAPH_WARMUP
    # previews of one stage are distinct images, not one buffer seen several times
    prev = [e.preview for e in rec[1] if e.preview is not None and e.stage == 0]
    assert not torch.equal(prev[0], prev[1])


def test_emulated_recording_with_embedding_updates_and_other_tasks():
    gan = perturbed_gan(seed=1)
    img = gan.sample(2, seed=3)
    for p, deg in ((replace(presets.get("inpainting"), iterations=(6, 6, 6, 6, 6), select_num=4),
                    lambda: Inpainting.centered_hole(32)),
                   (replace(presets.get("super-resolution"), iterations=(5, 5, 5, 5, 5), select_num=4,
                            update_embed=True), lambda: SuperResolution(4))):
        _same_run(_run(gan, p, deg(), img), _run(gan, p, deg(), img, cuda_graphs="emulate"))


def test_failed_recording_falls_back_to_plain_iterations(monkeypatch):
    gan = perturbed_gan()
    p = replace(presets.get("colorization"), iterations=(6, 6, 6, 6, 6), select_num=4)
    img = gan.sample(1, seed=9)
    plain = _run(gan, p, Colorization(), img)

    def broken(self):
        raise RuntimeError("operation not permitted when stream is capturing")
    monkeypatch.setattr(StepGraph, "capture", broken)
    res = _run(gan, p, Colorization(), img, cuda_graphs="emulate")
    _same_run(plain, res)
    assert "recording failed" in res[0].timings["cuda_graphs"] and "capturing" in res[0].timings["cuda_graphs"]


def test_cuda_graphs_are_ignored_off_cuda_and_in_the_exact_path():
    gan = perturbed_gan()
    p = replace(presets.get("colorization"), iterations=(2, 2, 2, 2, 2), select_num=4)
    img = gan.sample(1, seed=9)
    assert Reconstructor(gan, p, Colorization(), cuda_graphs=True).run(img, class_id=1).timings["cuda_graphs"] == "off"
    assert Reconstructor(gan, p, Colorization(), exact=True,
                         cuda_graphs="emulate").run(img, class_id=1).timings["cuda_graphs"] == "off"


def test_degradation_constants_are_made_once_per_device_and_dtype():
    """No host-to-device copy inside an iteration (a recording could not contain one)."""
    x = torch.rand(1, 3, 16, 16)
    w = _gray_weights(x.device, x.dtype)
    assert _gray_weights(x.device, x.dtype) is w
    assert torch.allclose(Colorization()(x)[:, 0], (x * w).sum(1))
    assert _gray_weights(x.device, torch.float64).dtype == torch.float64
    k = _lanczos2_on(4, x.device, x.dtype)
    assert _lanczos2_on(4, x.device, x.dtype) is k
    assert k.shape == (16, 16) and abs(float(k.sum()) - 1) < 1e-6


def test_search_batch_follows_resolution_so_the_search_needs_no_more_memory_than_the_run():
    """10 candidates per batch at 256 px (SEARCH_PIXELS), 40 at 128, 50 (the cap) at 64 and below;
    an explicit value wins.  The batch size does not change which candidate wins."""
    from dgp_studio.core.biggan import build_biggan
    from conftest import tiny_config
    p = replace(presets.get("colorization"), iterations=(1, 1, 1, 1, 1), select_num=12)
    sizes = {}
    for res in (32, 128, 256):
        gan = build_biggan(tiny_config(resolution=res, G_ch=2, D_ch=2, G_attn=(), D_attn=()), seed=0)
        sizes[res] = Reconstructor(gan, p, Colorization()).search_batch
    assert sizes == {32: 50, 128: 40, 256: 10}
    gan = perturbed_gan()
    assert Reconstructor(gan, p, Colorization(), search_batch=3).search_batch == 3
    img = gan.sample(1, seed=9)
    runs = [Reconstructor(gan, p, Colorization(), exact=True, search_batch=b).run(img, class_id=1, seed=5)
            for b in (3, 12)]
    assert torch.equal(runs[0].z, runs[1].z) and abs(runs[0].search_loss - runs[1].search_loss) < 1e-6


def test_cuda_math_switches_are_opt_in_and_restored(monkeypatch):
    """fast_math leaves the CPU alone; the NHWC switch is read from the environment each time."""
    from dgp_studio.core import runtime
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    with runtime.fast_math("cpu"):
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark) == before
    assert runtime.channels_last("cpu")
    monkeypatch.setenv("DGP_STUDIO_CHANNELS_LAST", "0")
    assert not runtime.channels_last("cpu")
    gan = perturbed_gan()
    p = replace(presets.get("colorization"), iterations=(2, 2, 2, 2, 2), select_num=4)
    nchw = Reconstructor(gan, p, Colorization(), precision="fp32").run(gan.sample(1, seed=9), class_id=1)
    monkeypatch.delenv("DGP_STUDIO_CHANNELS_LAST")
    nhwc = Reconstructor(gan, p, Colorization(), precision="fp32").run(gan.sample(1, seed=9), class_id=1)
    assert float((nchw.image - nhwc.image).abs().max()) < 1e-3  # same maths, another layout
