"""Images per hour: N photos one at a time (the fast path) vs the same N as one group
(core/groupedrun.py), same process, same inputs, same preset.  Prints each run, the
throughput ratio and how far each grouped result is from its one-at-a-time twin.

    python bench/grouped.py --threads 2 --group 4 --iters-scale 0.25
    python bench/grouped.py --device cuda --random 256x96 --group 8,16 --json out.json

(issue 6's batch stretch: images per hour on one GPU >= 3x the one-at-a-time path)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from dgp_studio.core import presets  # noqa: E402
from dgp_studio.core.benchmark import PeakMemory, _sync, make_input, random_config  # noqa: E402
from dgp_studio.core.biggan import build_biggan  # noqa: E402
from dgp_studio.core.checkpoint import load_biggan  # noqa: E402
from dgp_studio.core.groupedrun import GroupItem, GroupReconstructor  # noqa: E402
from dgp_studio.core.metrics import psnr, tensor01  # noqa: E402
from dgp_studio.core.reconstructor import Reconstructor  # noqa: E402


def _model(args):
    if args.random:  # built on the device, as bench/engine.py does (orthogonal init is slow on a CPU)
        gan = build_biggan(random_config(args.random), device=args.device, seed=0)
        gan.name = f"random {args.random}"
        return gan
    return load_biggan(args.model, device=args.device)


def _fit(result, deg) -> float:
    """PSNR of the degraded result against the target (what the run fits; bench/engine.py's "fit")."""
    return psnr(tensor01(deg(result.image.to(result.target.device)).cpu()), tensor01(result.target))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder (default: the bundled prior)")
    ap.add_argument("--random", default=None, metavar="RESxCH", help="random weights, e.g. 256x96")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="colorization")
    ap.add_argument("--group", default="4", help="group size(s), comma-separated; N = the largest")
    ap.add_argument("--iters-scale", type=float, default=1.0)
    ap.add_argument("--select-num", type=int, default=None)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gan = _model(args)
    p = presets.get(args.preset).scaled(args.iters_scale)
    if args.select_num is not None:
        p = replace(p, select_num=args.select_num)
    sizes = [int(s) for s in args.group.split(",")]
    n = max(sizes)
    inputs = []
    for i in range(n):
        _, deg, obs = make_input(gan, p.task, seed=i)
        inputs.append(GroupItem(obs, deg, class_id=0, seed=i))
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"grouped bench: {gan.name} ({gan.resolution} px), preset {p.name} x{args.iters_scale}, "
          f"{p.select_num} candidates, {name}, torch {torch.__version__}", flush=True)
    out = {"device": name, "model": gan.name, "preset": p.name, "iters_scale": args.iters_scale, "runs": []}

    # warm-up (allocator, kernels) on a short schedule so the first timed run is not penalised
    short = p.scaled(0.02)
    Reconstructor(gan, short, inputs[0].degradation, precision=args.precision, preview_every=0).run(
        inputs[0].image, class_id=0)
    GroupReconstructor(gan, short, precision=args.precision).run(inputs[:min(sizes)])

    singles, single_s = [], 0.0
    with PeakMemory(dev) as mem:
        for it in inputs:
            _sync(dev)
            t = time.perf_counter()
            r = Reconstructor(gan, p, it.degradation, precision=args.precision, preview_every=0).run(
                it.image, class_id=it.class_id, seed=it.seed)
            _sync(dev)
            dt = time.perf_counter() - t
            single_s += dt
            singles.append(r)
            print(f"  one at a time, image {len(singles)}: {dt:.2f} s", flush=True)
    per_single = single_s / n
    out["runs"].append({"mode": "single", "images": n, "seconds": single_s, "peak_mib": mem.peak_bytes / 2 ** 20})
    print(f"one at a time: {n} images in {single_s:.1f} s = {per_single:.2f} s/image "
          f"({3600 / per_single:.0f} images/hour), peak {mem.peak_bytes / 2 ** 20:.0f} MiB")
    for size in sizes:
        done, t_all, diffs, fits = 0, 0.0, [], []
        with PeakMemory(dev) as mem:
            while done < n:
                chunk = inputs[done:done + size]
                _sync(dev)
                t = time.perf_counter()
                res = GroupReconstructor(gan, p, precision=args.precision).run(chunk)
                _sync(dev)
                t_all += time.perf_counter() - t
                for j, r in enumerate(res):
                    diffs.append(psnr(tensor01(r.image), tensor01(singles[done + j].image)))
                    fits.append((_fit(singles[done + j], chunk[j].degradation), _fit(r, chunk[j].degradation)))
                done += len(chunk)
        per = t_all / n
        ratio = per_single / per
        out["runs"].append({"mode": "group", "group": size, "images": n, "seconds": t_all,
                            "peak_mib": mem.peak_bytes / 2 ** 20, "throughput_ratio": ratio,
                            "psnr_vs_single_db": diffs, "fit_db_single_group": fits})
        print(f"groups of {size}: {n} images in {t_all:.1f} s = {per:.2f} s/image ({3600 / per:.0f} images/hour), "
              f"x{ratio:.2f} the one-at-a-time throughput, peak {mem.peak_bytes / 2 ** 20:.0f} MiB; "
              f"result vs its single run: min PSNR {min(diffs):.1f} dB; mean fit to the target "
              f"{sum(f[1] for f in fits) / n:.2f} dB grouped, {sum(f[0] for f in fits) / n:.2f} dB single", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
