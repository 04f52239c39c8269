"""How much of a DGP-vs-baseline difference is the seed?  Reads several `dgp-studio eval` reports of
the same photos made with different ``--seed`` values and prints, per method, the mean over every
(photo, seed) run with its spread, and against a reference method the paired differences.

    python docs/results/seed_spread.py TASK METRIC REF REPORT_DIR [REPORT_DIR ...]
    python docs/results/seed_spread.py inpaint psnr_hole dgp seed0 seed1 seed2

A 64 px DGP run is chaotic at the level of single pixels (Adam turns rounding-sized differences
into different trajectories), so one seed per photo can rank two methods either way.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 4:
        print(__doc__)
        return 2
    task, metric, ref, dirs = argv[0], argv[1], argv[2], argv[3:]
    runs: dict[str, dict[tuple, float]] = {}
    seeds = []
    for d in dirs:
        rep = json.loads((Path(d) / "report.json").read_text())
        seeds.append(rep["settings"]["seed"])
        for row in rep["tasks"][task]["per_image"]:
            for m, nums in row["methods"].items():
                if nums.get(metric) is not None:
                    runs.setdefault(m, {})[(row["image"], rep["settings"]["seed"])] = float(nums[metric])
    print(f"{task} {metric}: {len(dirs)} report(s), base seeds {seeds}")
    for m, vals in runs.items():
        v = list(vals.values())
        per_seed = [statistics.mean(x for k, x in vals.items() if k[1] == s) for s in seeds]
        line = (f"  {m:10s} mean {statistics.mean(v):7.3f} over {len(v)} runs; per seed "
                + " ".join(f"{x:.2f}" for x in per_seed))
        if m != ref and ref in runs:
            keys = [k for k in vals if k in runs[ref]]
            diff = [runs[ref][k] - vals[k] for k in keys]
            means = [statistics.mean(runs[ref][k] - vals[k] for k in keys if k[1] == s) for s in seeds]
            wins = sum(x > 0 for x in diff)
            line += (f" | {ref} - {m}: mean {statistics.mean(diff):+.3f}, per seed "
                     + " ".join(f"{x:+.2f}" for x in means) + f", {ref} higher in {wins} of {len(diff)}")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
