"""The fast path's 3x3 convolutions on small maps as matrix products (smallconv.py, the default on
the CPU) against oneDNN's convolutions: time per fast iteration, both in one process, blocks of
iterations in alternating order, medians.

    python bench/small_conv.py                     # bundled prior, every group tuned, 1 and 2 threads
    python bench/small_conv.py --ft 2 --threads 2  # an early stage (groups 0-1 tuned)

Numbers: docs/PERFORMANCE.md (tenth session).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from dgp_studio.core import fastpath, runtime  # noqa: E402
from dgp_studio.core.benchmark import random_config  # noqa: E402
from dgp_studio.core.biggan import build_biggan  # noqa: E402
from dgp_studio.core.checkpoint import load_biggan  # noqa: E402
from sn_node import alternate, make_step  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--random", metavar="RESxCH", help="random weights (default: the bundled prior)")
    ap.add_argument("--ft", type=int, default=99, help="groups tuned (default: all)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--iters", type=int, default=15, help="iterations per timed block")
    ap.add_argument("--blocks", type=int, default=8, help="timed blocks per variant")
    args = ap.parse_args(argv)
    dev = torch.device("cpu")
    gan = build_biggan(random_config(args.random), seed=0) if args.random else load_biggan()
    ft = min(args.ft, gan.G.n_groups)
    dtype = runtime.fast_dtype(dev)
    for threads in args.threads.split(","):
        runtime.configure(dev, threads)
        steps = {}
        for small in (True, False):  # the switch is read when the fast networks are built
            fastpath.FastGenerator.SMALL_CONV = small
            steps["matrix products" if small else "oneDNN"] = make_step(gan, ft, dtype, True, dev)
        fastpath.FastGenerator.SMALL_CONV = True
        med = alternate(steps, args.blocks, args.iters, dev)
        print(f"{args.random or 'bundled prior'}, {str(dtype).split('.')[-1]}, groups tuned {ft}, "
              f"threads {torch.get_num_threads()}: matrix products {med['matrix products']:.1f} ms, "
              f"oneDNN {med['oneDNN']:.1f} ms per iteration; oneDNN / matrix products = "
              f"x{med['oneDNN'] / med['matrix products']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
