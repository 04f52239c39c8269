"""How much of a fast CPU iteration is per-op overhead rather than arithmetic.

Times the last colorization stage (every group tuned) of the bundled prior against a model with
the same layers at almost no width (G_ch 2, D_ch 8: the same ops, tiny tensors), rounds
alternating; optionally with no generator weight tuned, one thread, and the loss traced by
``aot_eager``; and counts the ATen calls of one iteration with the profiler.

    python bench/overhead.py --threads 2 --rounds 2 --aot-eager
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from dgp_studio.core import presets  # noqa: E402
from dgp_studio.core.benchmark import make_input  # noqa: E402
from dgp_studio.core.biggan import BigGANConfig, build_biggan  # noqa: E402
from dgp_studio.core.checkpoint import load_biggan  # noqa: E402
from dgp_studio.core.reconstructor import Reconstructor  # noqa: E402


def ms_per_iteration(gan, iters: int, ft: int, backend=None, skip: int = 50) -> float:
    """Steady rate: wall time from iteration ``skip`` to the last, per iteration (skips warm-up and tracing)."""
    p = replace(presets.get("colorization"), select_num=1, iterations=(0, 0, 0, 0, iters),
                ft_num=(2, 3, 4, 5, ft))
    _, deg, obs = make_input(gan, p.task)
    stamps = []
    Reconstructor(gan, p, deg, preview_every=0, compile_backend=backend).run(
        obs, class_id=0, progress=lambda pr: stamps.append(time.perf_counter()) if pr.phase == "optimise" else None)
    return 1000 * (stamps[-1] - stamps[skip - 1]) / (len(stamps) - skip)


def aten_calls(gan, n: int = 10) -> float:
    from torch.profiler import ProfilerActivity, profile
    p = replace(presets.get("colorization"), select_num=1, iterations=(0, 0, 0, 0, n))
    _, deg, obs = make_input(gan, p.task)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        Reconstructor(gan, p, deg, preview_every=0).run(obs, class_id=0)
    return sum(e.count for e in prof.key_averages() if e.key.startswith("aten::")) / n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=250)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--aot-eager", action="store_true", help="also the bundled prior's loss traced by aot_eager")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    bundled = load_biggan(None)
    narrow = build_biggan(BigGANConfig(**{**bundled.config.to_dict(), "G_ch": 2, "D_ch": 8}), seed=0)
    cases = [("bundled prior, all groups tuned", bundled, 6, None, args.threads),
             ("narrow model, all groups tuned", narrow, 6, None, args.threads),
             ("narrow model, only z tuned", narrow, 0, None, args.threads),
             ("bundled prior, 1 thread", bundled, 6, None, 1)]
    if args.aot_eager:
        cases.append(("bundled prior, aot_eager trace", bundled, 6, "aot_eager", args.threads))
    times = {c[0]: [] for c in cases}
    for r in range(args.rounds):
        for name, gan, ft, backend, threads in (cases if r % 2 == 0 else cases[::-1]):
            torch.set_num_threads(threads)
            times[name].append(ms_per_iteration(gan, args.iters, ft, backend))
            print(f"round {r + 1}: {name}: {times[name][-1]:.1f} ms/iteration", flush=True)
    torch.set_num_threads(args.threads)
    print(f"ATen calls per iteration (profiler, nested calls included): {aten_calls(bundled):.0f}")
    for name, t in times.items():
        print(f"{name:40s} median {statistics.median(t):6.1f} ms/iteration  ({', '.join(f'{v:.1f}' for v in t)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
