"""The twelfth session's concurrency check, kept as it ran (calls 2 and 3; the logs beside it).

K fast runs in K threads on one loaded model (each with its own generator copy, CUDA stream and
recorded graphs) against one run at a time, in one process.  Measured on the H200: recordings in
two threads broke each other, runs without graphs side by side gained nothing, one of four runs
was ruined.  Since then one reconstruction at a time runs per GPU in a process
(dgp_studio/core/devicelocks.py), so on today's code the K runs take turns and this prints ~x1.

    python docs/results/gpu_h200_s12/concurrent_runs.py --device cuda --random 256x96 --jobs 1,2,4 --iters-scale 0.1
    python docs/results/gpu_h200_s12/concurrent_runs.py --random 64x8 --jobs 1,2 --iters-scale 0.02 --select-num 8
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import torch  # noqa: E402

from dgp_studio.core import presets, runtime  # noqa: E402
from dgp_studio.core.benchmark import PeakMemory, make_input, random_config  # noqa: E402
from dgp_studio.core.biggan import build_biggan  # noqa: E402
from dgp_studio.core.checkpoint import load_biggan  # noqa: E402
from dgp_studio.core.metrics import psnr, tensor01  # noqa: E402
from dgp_studio.core.reconstructor import Reconstructor  # noqa: E402


def run_together(gan, preset, inputs, precision) -> tuple[float, list, int, list]:
    """All ``inputs`` at once, one thread each; wall seconds, fits (dB), peak bytes, and
    whether each run replayed CUDA graphs."""
    dev = gan.device
    fits = [None] * len(inputs)
    graphs = [None] * len(inputs)
    errors = []
    start = threading.Barrier(len(inputs))

    def job(i, deg, observed):
        try:
            rec = Reconstructor(gan, preset, deg, exact=False, preview_every=0, precision=precision)
            start.wait()
            # each run on its own stream: work on the legacy default stream would join every
            # other run's stream, which is not allowed while one of them records a graph
            with (torch.cuda.stream(torch.cuda.Stream(dev)) if dev.type == "cuda" else contextlib.nullcontext()):
                res = rec.run(observed, class_id=0, seed=i)
            fits[i] = psnr(tensor01(deg(res.image.to(dev)).cpu()), tensor01(res.target))
            graphs[i] = res.timings.get("cuda_graphs")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"run {i}: {type(e).__name__}: {e}")
            start.abort()
    with PeakMemory(dev) as mem:
        t = time.perf_counter()
        threads = [threading.Thread(target=job, args=(i, deg, obs)) for i, (deg, obs) in enumerate(inputs)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        wall = time.perf_counter() - t
    if errors:
        raise RuntimeError("; ".join(errors))
    return wall, fits, mem.peak_bytes, graphs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--random", metavar="RESxCH", help="random weights (default: the bundled prior)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="colorization")
    ap.add_argument("--jobs", default="1,2,4", help="comma-separated numbers of runs at once")
    ap.add_argument("--iters-scale", type=float, default=0.2)
    ap.add_argument("--select-num", type=int, default=None)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default=None, help="default: the device's")
    ap.add_argument("--threads", default="auto")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    settings = runtime.configure(dev, args.threads)
    gan = build_biggan(random_config(args.random), device=dev, seed=0) if args.random else load_biggan(device=dev)
    p = presets.get(args.preset).scaled(args.iters_scale)
    if args.select_num is not None:
        p = dataclasses.replace(p, select_num=args.select_num)
    ks = [int(v) for v in args.jobs.split(",")]
    inputs = [make_input(gan, p.task, seed)[1:] for seed in range(max(ks))]
    warm = dataclasses.replace(p.scaled(1e-9), select_num=2)
    run_together(gan, warm, inputs[:1], args.precision)  # allocator, kernels, lazy imports
    rows = []
    alone = {}
    for k in ks:
        wall, fits, peak, graphs = run_together(gan, p, inputs[:k], args.precision)
        if k == 1:
            alone[0] = fits[0]
        rows.append({"jobs": k, "wall_s": wall, "images_per_hour": 3600 * k / wall, "fits": fits,
                     "peak_mib": peak / 2 ** 20, "cuda_graphs": graphs})
    base = next((r for r in rows if r["jobs"] == 1), rows[0])
    print(f"{args.random or 'bundled prior'}, {settings.get('gpu', dev)}, {args.preset} x{args.iters_scale:g} "
          f"({p.total_iterations} iterations, {p.select_num} candidates), torch {torch.__version__}")
    for r in rows:
        r["ratio"] = r["images_per_hour"] / base["images_per_hour"]
        print(f"  {r['jobs']} at once: {r['wall_s']:.2f} s, {r['images_per_hour']:.0f} images/hour "
              f"(x{r['ratio']:.2f}), peak {r['peak_mib']:.0f} MiB, fits "
              + " ".join(f"{f:.2f}" for f in r["fits"]) + (f" (input 0 alone: {alone[0]:.2f})" if alone else "")
              + ("" if all(g in (None, "off") for g in r["cuda_graphs"]) else f"; graphs: {sorted(set(r['cuda_graphs']))}"),
              flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": settings, "preset": p.name,
                                               "iters_scale": args.iters_scale, "rows": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
