"""Engine speed: exact vs fast path, same process, same input; per stage ms/iteration, z search,
total, peak memory and the fast/exact ratio.  Same arguments as ``dgp-studio bench``:

    python bench/engine.py                                   # colorization, bundled prior, CPU
    python bench/engine.py --random 64x16 --iters-scale 0.2  # random weights shaped like the prior
    python bench/engine.py --device cuda --random 256x96     # BigGAN-256 ch96, random weights, GPU
    python bench/engine.py --preset colorization inpainting super-resolution --repeats 3 --manip

Numbers and the commands that made them: docs/PERFORMANCE.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dgp_studio.cli.cmd_bench import EXAMPLES, add_bench_args, cmd_bench  # noqa: E402
from dgp_studio.cli.common import UserError  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_args(p)
    args = p.parse_args(argv)
    try:
        return cmd_bench(args)
    except UserError as e:
        print(f"engine.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
