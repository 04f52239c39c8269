"""bench/kernel_floor.py's recorder, on a tiny model: it sees every convolution an iteration
issues and files it under the right stage (the floor in docs/PERFORMANCE.md rests on that).

Speed is not asserted; the counts are checked against forward hooks on the modules."""
import importlib.util
from dataclasses import replace
from pathlib import Path

import torch

from dgp_studio.core import presets

aten = torch.ops.aten


def _kernel_floor():
    path = Path(__file__).resolve().parents[1] / "bench" / "kernel_floor.py"
    spec = importlib.util.spec_from_file_location("kernel_floor", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _per_iteration(rec, iters, label, func):
    return sum(c for k, c in rec.calls[label].items() if k[0] is func) / iters[label]


def _flops(kf, rec, iters, label):
    return sum(kf.flops_of(rec.example[k]) * c for k, c in rec.calls[label].items()) / iters[label]


def test_recorder_files_every_convolution_under_its_stage(tiny_gan):
    kf = _kernel_floor()
    G, D = tiny_gan.G, tiny_gan.D
    # independent count: the convolution modules one G forward and one D forward call
    calls = []
    hooks = [m.register_forward_hook(lambda *a: calls.append(1))
             for net in (G, D) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            x = G(torch.zeros(1, G.config.dim_z), G.shared(torch.tensor([0])))
            D(x)
    finally:
        for h in hooks:
            h.remove()
    per_pass = len(calls)
    assert per_pass > 10

    preset = replace(presets.get("colorization"), select_num=3)
    rec, iters = kf.record(tiny_gan, preset, exact=True, per_stage=3)
    stages = [f"stage {s + 1}" for s in range(preset.n_stages)]
    assert [iters[s] for s in stages] == [2] * preset.n_stages  # the first of 3 is each stage's start
    for s in stages:
        # exact: G and D(x_hat) forward once per iteration, every convolution differentiated
        assert _per_iteration(rec, iters, s, aten.convolution.default) == per_pass
        assert _per_iteration(rec, iters, s, aten.convolution_backward.default) == per_pass
    exact_flops = _flops(kf, rec, iters, "stage 5")

    rec, iters = kf.record(tiny_gan, preset, exact=False, per_stage=3)
    fast = [_flops(kf, rec, iters, s) for s in stages]
    # the colorization schedule tunes more groups stage by stage (ft 2, 3, 4, ...; this model has 4
    # groups, so stages 3-5 tune all): more weight gradients, and still fewer than exact, which
    # also differentiates D's and the output layer's weights
    assert len(G.group_modules()) == 4
    assert fast[0] < fast[1] < fast[2] == fast[3] == fast[4] < exact_flops
    assert rec.calls["search"]  # the candidate search is recorded apart
