"""The fast loss under torch.compile (opt-in, compiled.py).  Inductor's speed is a GPU question
(docs/results/gpu_next.sh); here the ``aot_eager`` backend traces the same graphs on the CPU
and runs them with eager kernels, so a run must keep the plain fast run's numbers, stage
changes included (Dynamo must retrace when the trainable set changes, or the second stage would
tune the first stage's parameters)."""
from dataclasses import replace

import pytest
import torch

from dgp_studio.core import presets, runtime
from dgp_studio.core.compiled import compiled_objective
from dgp_studio.core.degradations import Colorization
from dgp_studio.core.reconstructor import Reconstructor

from test_fastpath import perturbed_gan


def test_traced_runs_keep_the_fast_paths_numbers_across_stages():
    gan = perturbed_gan()
    # two stages that tune different groups (2, then all); the empty ones in between are skipped
    p = replace(presets.get("colorization"), iterations=(3, 0, 0, 0, 3), select_num=4)
    img = gan.sample(1, seed=9)

    def run(**kw):
        return Reconstructor(gan, p, Colorization(), preview_every=0, precision="fp32", **kw).run(
            img, class_id=1, seed=0)
    plain = run()
    traced = run(compile_backend="aot_eager", cuda_graphs="emulate")  # inside recorded steps, as on CUDA
    assert traced.timings["compile"] == "aot_eager" and "compile" not in plain.timings
    assert len(traced.history) == len(plain.history) == 6
    for a, b in zip(plain.history, traced.history):
        assert a["stage"] == b["stage"] and b["total"] == pytest.approx(a["total"], rel=1e-5)
    assert torch.allclose(traced.z, plain.z, atol=1e-6)
    for k, v in plain.generator_state.items():
        assert torch.allclose(traced.generator_state[k], v, atol=1e-6), k
    # the last stage really tuned the deep blocks (not the first stage's groups only)
    base = gan.G.state_dict()
    last = max(k for k in base if k.startswith("blocks.") and k.endswith("conv2.weight"))
    assert not torch.equal(traced.generator_state[last], base[last])


def test_the_switch(monkeypatch):
    for value, expected in (("", None), ("0", None), ("1", "inductor"), ("inductor", "inductor"),
                            ("aot_eager", "aot_eager")):
        monkeypatch.setenv("DGP_STUDIO_COMPILE", value)
        assert runtime.compile_backend() == expected
    with pytest.raises(ValueError, match="inductor, aot_eager"):
        compiled_objective(object(), "tensorrt")
