"""The fast path's loss under ``torch.compile`` (opt-in: ``DGP_STUDIO_COMPILE=inductor``).

Why: on an H200 a recorded BigGAN-256 iteration is bound by its kernels' own time (twelfth
session, docs/PERFORMANCE.md): ~1,000 of its ~1,500 kernels are small elementwise and reduction
kernels of 2-5 us each.  Inductor fuses such chains into few generated kernels, and the result
still runs inside the stage's recorded CUDA graph (stepgraph.py).  Whether that reaches the
issue's <= 10 s per image is not measured yet (docs/results/gpu_next.sh), so it stays off.

What it costs: Dynamo specialises on the trainable set and on the stage's loss weights, so every
stage compiles once per process (``RECOMPILE_LIMIT`` leaves room for several runs, each
with new objects); Inductor keeps its generated code in its on-disk cache, so a later process
compiles faster.  ``aot_eager`` traces the same graphs and runs them with eager kernels: the
tests use it on the CPU to check that tracing keeps the fast path's numbers.  Inductor is used
on CUDA only: on a 2-core CPU (thirteenth session, docs/PERFORMANCE.md) it took 457 s to
compile one stage of the bundled prior's loss, then ran 70.6 ms per iteration against 77.6 ms
plain (``bench/cuda_profile.py --compile none,inductor``).
"""
from __future__ import annotations

import torch

BACKENDS = ("inductor", "aot_eager")
RECOMPILE_LIMIT = 64  # graphs per code object: 5 stages x several runs (the default 8 falls back to eager)


def compiled_objective(fast, backend: str):
    """``fast(z, c, k, w_D, w_mse, w_nll)`` compiled with ``backend``; same outputs."""
    if backend not in BACKENDS:
        raise ValueError(f"compile backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    import torch._dynamo.config as dynamo_config
    for name in ("recompile_limit", "cache_size_limit"):  # the name changed across releases
        if hasattr(dynamo_config, name):
            setattr(dynamo_config, name, max(getattr(dynamo_config, name), RECOMPILE_LIMIT))
    return torch.compile(fast.__call__, backend=backend, dynamic=False)
