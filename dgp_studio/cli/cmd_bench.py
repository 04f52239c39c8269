"""``dgp-studio bench``: exact vs fast engine runs, same process, same input (core/benchmark.py).

Also ``python bench/engine.py`` with the same arguments."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import UserError, pick_device

EXAMPLES = """examples:
  dgp-studio bench                                   colorization on the bundled prior, CPU
  dgp-studio bench --random 64x16 --iters-scale 0.1  a random model shaped like the prior, short schedule
  dgp-studio bench --device cuda --random 256x96     BigGAN-256 ch96 (random weights) on the GPU
  dgp-studio bench --preset colorization inpainting super-resolution --repeats 3 --manip
  dgp-studio bench --modes exact,fast,reference      also against the release's per-iteration work
  dgp-studio bench --device cuda --random 256x96 --modes fast-eager,fast-graph   CUDA graphs off / on"""


def register(sub) -> None:
    import argparse
    p = sub.add_parser("bench", help="time the engine: exact vs fast path, per stage, search, memory",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_args(p)
    p.set_defaults(func=cmd_bench)


def add_bench_args(p) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", metavar="PATH", help="model folder or checkpoint (default: the bundled prior)")
    src.add_argument("--random", metavar="RESxCH", help="random weights, e.g. 64x16 or 256x96 (build_biggan)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1 ...")
    p.add_argument("--preset", nargs="+", default=["colorization"], help="preset name(s) (default: colorization)")
    p.add_argument("--iters-scale", type=float, default=1.0, help="scale every stage's iterations (default 1)")
    p.add_argument("--select-num", type=int, default=None, help="candidates in the z search (default: preset's)")
    p.add_argument("--repeats", type=int, default=1, help="exact/fast pairs per preset, order alternating")
    p.add_argument("--modes", default="exact,fast",
                   help="comma-separated: exact, fast, fast-fp32, fast-bf16, reference (default exact,fast); "
                        "reference = exact plus the authors' release's per-iteration recomputation of "
                        "D(x_hat) and D's spectral norms (same result, the release's work)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None, help="fast path dtype (default: per device)")
    p.add_argument("--search-batch", type=int, default=None, metavar="N",
                   help="candidates scored per batch in the z search (default: by resolution, 50 at 64 px, "
                        "10 at 256 px; fewer: less memory, more launches)")
    p.add_argument("--threads", default="auto", help="CPU threads: auto (cores not busy elsewhere) or a number")
    p.add_argument("--manip", action="store_true", help="also time a jitter grid of 8 and a morph frame")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write every number as JSON")


def cmd_bench(args) -> int:
    import torch

    from dgp_studio.core import benchmark, runtime
    from dgp_studio.core.biggan import build_biggan
    dev = pick_device(args.device)
    threads = args.threads if args.threads == "auto" else int(args.threads)
    settings = runtime.configure(dev, threads)
    if args.random:
        try:
            cfg = benchmark.random_config(args.random)
        except ValueError as e:
            raise UserError(str(e)) from None
        gan = build_biggan(cfg, device=dev, seed=args.seed)
        gan.name = f"random-{args.random}"
    else:
        from .common import load_model
        gan = load_model(args.model, dev)
    if args.search_batch is not None and args.search_batch < 1:
        raise UserError("--search-batch must be >= 1")
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if not modes or any(m not in benchmark.MODES for m in modes):
        raise UserError(f"--modes takes a comma-separated list of {', '.join(benchmark.MODES)}")
    c = gan.config
    header = (f"engine bench: model {gan.name} ({c.resolution} px, G_ch {c.G_ch}, D_ch {c.D_ch}), "
              f"presets {' '.join(args.preset)}, iters x{args.iters_scale:g}, "
              f"select_num {args.select_num if args.select_num is not None else 'preset'}\n"
              f"machine: {benchmark.machine_line(settings)}")
    print(header, flush=True)
    try:
        out = benchmark.run_benchmark(gan, args.preset, iters_scale=args.iters_scale, select_num=args.select_num,
                                      repeats=max(1, args.repeats), seed=args.seed, manip=args.manip,
                                      modes=modes, precision=args.precision, search_batch=args.search_batch,
                                      log=lambda s: print(s, file=sys.stderr, flush=True))
    except KeyError as e:
        raise UserError(str(e).strip("'\"")) from None
    print(benchmark.report(out, ""))
    if args.json:
        out["settings"] = settings
        out["header"] = header
        out["command"] = " ".join(sys.argv)
        from dgp_studio.core.fsutil import atomic_write_bytes
        atomic_write_bytes(Path(args.json), json.dumps(out, indent=1, default=float).encode())
    if dev.startswith("cuda"):
        torch.cuda.empty_cache()
    return 0
