"""Floors under a restore's time: what its calls cost, each timed on its own.

Records every ATen call that one run of a preset issues (forward, backward, optimiser), per
stage and for the candidate search, then times each distinct call alone (same shapes, strides
and dtypes, random data, warm caches, median of several repeats) and adds them up over the
preset's full schedule.  Two floors come out:
- the convolutions and matrix products alone (with their GFLOP and rate): a run cannot beat
  this without doing less arithmetic or getting faster kernels;
- every call of the run: what it would take with nothing between its calls (no autograd or
  Python cost, no cache misses from the calls around it).
The engine's exact and fast paths are recorded on the same input; ``--run`` also runs the
whole preset in each mode, in the same process, for comparison.

    python bench/kernel_floor.py --threads 2 --run
    python bench/kernel_floor.py --threads 2 --preset inpainting --modes fast

Why: the issue's CPU target (colorization <= 60 s on 2 cores) was met on hosts whose fast path
runs in bf16 and missed on an AVX2 host without bf16 units (docs/PERFORMANCE.md); this says
whether that host could meet it at all with the schedule and the numerics fixed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils._pytree import tree_map  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from dgp_studio.core import presets  # noqa: E402
from dgp_studio.core.benchmark import make_input, run_once  # noqa: E402
from dgp_studio.core.checkpoint import load_biggan  # noqa: E402
from dgp_studio.core.reconstructor import Reconstructor  # noqa: E402

aten = torch.ops.aten
# the arithmetic-heavy ops; everything else a run issues is element-wise, reductions or copies
HEAVY = {aten.convolution.default, aten.convolution_backward.default, aten.mm.default,
         aten.mm.out, aten.addmm.default, aten.bmm.default, aten.baddbmm.default,
         aten.mv.default, aten.addmv.default, aten._convolution.default}


def _spec(a):
    if isinstance(a, torch.Tensor):
        return ("T", tuple(a.shape), tuple(a.stride()), a.dtype)
    if isinstance(a, (list, tuple)):
        return tuple(_spec(x) for x in a)
    return repr(a)


class Recorder(TorchDispatchMode):
    """Every ATen call of a run, counted per label; one example of each distinct call kept."""

    def __init__(self):
        super().__init__()
        self.pending: list = []
        self.calls: dict[str, Counter] = defaultdict(Counter)
        self.example: dict = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        key = (func, _spec(args), _spec(tuple(sorted(kwargs.items()))))
        self.pending.append(key)
        if key not in self.example:
            self.example[key] = (func, tree_map(_blank, args), tree_map(_blank, kwargs))
        return func(*args, **kwargs)

    def flush(self, label: str) -> None:
        """The calls since the last progress report belong to the iteration it reports."""
        self.calls[label].update(self.pending)
        self.pending = []


def _blank(a):
    if isinstance(a, torch.Tensor):
        # one buffer of the size the strides reach, so expanded (stride 0) inputs stay expanded
        n = 1 + sum((s - 1) * st for s, st in zip(a.shape, a.stride())) if a.numel() else 0
        base = torch.empty(n, dtype=a.dtype, device=a.device)
        # positive, moderate values: no NaN from sqrt/log, no denormals (both take slow paths)
        base = base.uniform_(0.5, 1.5) if base.is_floating_point() else base.zero_()
        return base.as_strided(a.shape, a.stride())
    return a


def time_call(example, repeats: int) -> float:
    func, args, kwargs = example
    for _ in range(3):
        func(*args, **kwargs)
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        func(*args, **kwargs)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def record(gan, preset, exact: bool, per_stage: int):
    """One short run: ``per_stage`` iterations per stage and the full candidate search."""
    p = replace(preset, iterations=tuple(per_stage if i else 0 for i in preset.iterations))
    _, deg, obs = make_input(gan, p.task)
    rec = Recorder()
    iters = Counter()

    def progress(pr):
        # a stage's first iteration also carries its set-up (and the first stage, the search's
        # re-scoring): counted once, apart from the steady iterations
        if pr.phase == "search":
            label = "search"
        else:
            label = f"stage {pr.stage + 1}" + (" start" if pr.iteration == 1 else "")
            iters[label] += 1
        rec.flush(label)

    with rec:
        Reconstructor(gan, p, deg, preview_every=0, exact=exact).run(obs, class_id=0, progress=progress)
    rec.flush("final render")
    return rec, iters


def flops_of(example) -> float:
    func, args, kwargs = example
    with FlopCounterMode(display=False) as fc:
        func(*args, **kwargs)
    return fc.get_total_flops()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--preset", default="colorization")
    ap.add_argument("--modes", default="exact,fast")
    ap.add_argument("--per-stage", type=int, default=4, help="iterations recorded per stage (>= 2)")
    ap.add_argument("--repeats", type=int, default=15, help="timings per distinct call (median)")
    ap.add_argument("--run", action="store_true", help="also run the whole preset in each mode, to compare")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    gan = load_biggan(None)
    preset = presets.get(args.preset)
    print(f"{args.preset}, bundled prior ({gan.resolution} px), {args.threads} threads, "
          f"torch {torch.__version__}; search {preset.select_num} candidates, iterations {preset.iterations}")
    floors = {}
    for mode in args.modes.split(","):
        rec, iters = record(gan, preset, exact=(mode == "exact"), per_stage=max(2, args.per_stage))
        cost, failed = {}, 0
        for k, ex in rec.example.items():
            try:
                cost[k] = time_call(ex, args.repeats)
            except Exception:  # a call that cannot run on random data (none seen so far) counts as free
                cost[k], failed = 0.0, failed + 1
        flop = {k: flops_of(ex) for k, ex in rec.example.items() if k[0] in HEAVY}
        rows: dict[str, list] = {}
        for label, calls in rec.calls.items():
            if label == "final render":
                continue
            steady = label.startswith("stage") and not label.endswith("start")
            n = iters[label] if steady else 1
            reps = preset.iterations[int(label.split()[1]) - 1] - 1 if steady else 1
            row = rows.setdefault(label if steady or label == "search" else "stage starts",
                                  [0.0] * 5 + [reps if steady else 1, 0.0, 0.0])
            heavy = {k: c / n for k, c in calls.items() if k[0] in HEAVY}
            other = {k: c / n for k, c in calls.items() if k[0] not in HEAVY}
            heavy_s = sum(cost[k] * c for k, c in heavy.items())
            other_s = sum(cost[k] * c for k, c in other.items())
            row[0] += sum(heavy.values())
            row[1] += sum(flop[k] * c for k, c in heavy.items()) / 1e9
            row[2] += heavy_s
            row[3] += sum(other.values())
            row[4] += other_s
            row[6] += heavy_s * reps
            row[7] += (heavy_s + other_s) * reps
        print(f"\n{mode}: {len(flop)} distinct convolutions / matrix products, "
              f"{len(cost) - len(flop)} distinct other calls" + (f" ({failed} not replayable)" if failed else ""))
        print(f"  {'part':<13} {'heavy':>6} {'GFLOP':>8} {'their ms':>9} {'GFLOP/s':>8} {'others':>7}"
              f" {'their ms':>9} {'times':>6} {'heavy s':>8} {'all s':>7}")
        for label, (calls, gf, sec, n_other, other_s, reps, heavy_total, total) in rows.items():
            print(f"  {label:<13} {calls:>6.0f} {gf:>8.3f} {1000 * sec:>9.2f} {gf / sec if sec else 0:>8.1f}"
                  f" {n_other:>7.0f} {1000 * other_s:>9.2f} {reps:>6} {heavy_total:>8.1f} {total:>7.1f}")
        heavy = sum(r[6] for r in rows.values())
        floor = sum(r[7] for r in rows.values())
        floors[mode] = floor
        print(f"  floor for the whole preset: convolutions and matrix products {heavy:.1f} s; "
              f"every call of the run, each timed alone, {floor:.1f} s")
        if args.run:
            _, deg, obs = make_input(gan, preset.task)
            ran = run_once(gan, preset, deg, obs, mode=mode)["total_s"]  # the engine bench's own run
            print(f"  the same preset run in this process: {ran:.1f} s ({ran / floor:.2f} x the all-calls floor)")
    if "exact" in floors and "fast" in floors:
        print(f"\nall-calls floor, exact / fast: x{floors['exact'] / floors['fast']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
