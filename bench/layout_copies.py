"""A/B of the fast path's layout copies (fastpath.FastGenerator): the same fast run with and
without them, alternating order, in one process; prints each run and the median ratio.

    python bench/layout_copies.py --threads 2 --iters-scale 0.3 --pairs 4
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from dgp_studio.core import presets  # noqa: E402
from dgp_studio.core.benchmark import make_input, run_once  # noqa: E402
from dgp_studio.core.checkpoint import load_biggan  # noqa: E402
from dgp_studio.core.fastpath import FastObjective  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder (default: the bundled prior)")
    ap.add_argument("--preset", default="colorization")
    ap.add_argument("--iters-scale", type=float, default=0.3)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    gan = load_biggan(args.model)
    p = presets.get(args.preset).scaled(args.iters_scale)
    _, deg, observed = make_input(gan, p.task)
    times = {True: [], False: []}
    for pair in range(args.pairs):
        for copies in ((True, False) if pair % 2 == 0 else (False, True)):
            FastObjective.LAYOUT_COPIES = copies
            r = run_once(gan, p, deg, observed, "fast", precision=args.precision)
            times[copies].append(r["optimise_s"])
            print(f"pair {pair + 1} {'copies   ' if copies else 'no copies'}: optimise {r['optimise_s']:.2f} s, "
                  f"fit {r['psnr_fit']:.2f} dB", flush=True)
    FastObjective.LAYOUT_COPIES = True
    a, b = statistics.median(times[True]), statistics.median(times[False])
    print(f"median optimise: copies {a:.2f} s, no copies {b:.2f} s, speed-up x{b / a:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
