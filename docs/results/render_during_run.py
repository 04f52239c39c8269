"""The editor's case on a GPU: renders (jitter grids of 8) from another thread while a fast run
records and replays its CUDA graphs.  Since the twelfth session a render waits while a graph is
being recorded (dgp_studio/core/devicelocks.py); this checks that the run then keeps its graphs,
ends as it does alone, and how long the renders take meanwhile.

    python docs/results/render_during_run.py --device cuda --random 256x96 --iters-scale 0.2
    python docs/results/render_during_run.py --random 64x8 --iters-scale 0.02 --select-num 8   # CPU smoke run
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from dgp_studio.core import manipulate, presets, runtime  # noqa: E402
from dgp_studio.core.benchmark import make_input, random_config  # noqa: E402
from dgp_studio.core.biggan import build_biggan  # noqa: E402
from dgp_studio.core.checkpoint import load_biggan  # noqa: E402
from dgp_studio.core.metrics import psnr, tensor01  # noqa: E402
from dgp_studio.core.reconstructor import Reconstructor  # noqa: E402


def one_run(gan, p, deg, obs):
    res = Reconstructor(gan, p, deg, preview_every=0).run(obs, class_id=0, seed=0)
    fit = psnr(tensor01(deg(res.image.to(gan.device)).cpu()), tensor01(res.target))
    return res, fit


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--random", metavar="RESxCH")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iters-scale", type=float, default=0.2)
    ap.add_argument("--select-num", type=int, default=None)
    ap.add_argument("--threads", default="auto")
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    runtime.configure(dev, args.threads)
    gan = build_biggan(random_config(args.random), device=dev, seed=0) if args.random else load_biggan(device=dev)
    p = presets.get("colorization").scaled(args.iters_scale)
    if args.select_num is not None:
        p = dataclasses.replace(p, select_num=args.select_num)
    _, deg, obs = make_input(gan, p.task, 0)
    one_run(gan, dataclasses.replace(p.scaled(1e-9), select_num=2), deg, obs)  # warm-up
    alone, fit_alone = one_run(gan, p, deg, obs)
    renderer = manipulate.Renderer(gan)
    manipulate.jitter(gan, alone, n=8, renderer=renderer)  # warm-up
    stop, times, errors = threading.Event(), [], []

    def render_loop():
        while not stop.is_set():
            t = time.perf_counter()
            try:
                manipulate.jitter(gan, alone, n=8, seed=len(times), renderer=renderer)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{type(e).__name__}: {e}")
                return
            times.append(1000 * (time.perf_counter() - t))
    th = threading.Thread(target=render_loop)
    th.start()
    try:
        busy, fit_busy = one_run(gan, p, deg, obs)
    finally:
        stop.set()
        th.join()
    print(f"{args.random or 'bundled prior'}, {runtime.configure(dev, args.threads).get('gpu', dev)}, "
          f"colorization x{args.iters_scale:g}, torch {torch.__version__}")
    print(f"  alone:        {alone.timings['total_s']:.2f} s, fit {fit_alone:.2f} dB, graphs {alone.timings['cuda_graphs']}")
    print(f"  with renders: {busy.timings['total_s']:.2f} s, fit {fit_busy:.2f} dB, graphs {busy.timings['cuda_graphs']}, "
          f"same z: {torch.equal(alone.z, busy.z)}")
    if times:
        print(f"  {len(times)} jitter grids of 8 meanwhile: median {statistics.median(times):.0f} ms, "
              f"max {max(times):.0f} ms")
    if errors:
        print("  render errors: " + "; ".join(errors))
    return 1 if errors or "failed" in str(busy.timings["cuda_graphs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
