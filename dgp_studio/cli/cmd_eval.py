"""``dgp-studio eval``: the paper's tables (restoration metrics, baselines, ablation) for any model.

Clean photos are degraded on purpose (centre square at the model's resolution), restored by
DGP and by baselines, and scored; the report is report.md + report.json + one PNG sheet per task.
"""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from .common import ProgressBar, UserError, add_model_args, load_model, output_folder, pick_device

HELP_EPILOG = """tasks: reconstruct (PSNR/SSIM/MSE, DGP vs z-only inversion), colorize (Lab a/b error and
colourfulness vs gray and z-only), inpaint (PSNR/SSIM inside a centred hole of side min(H,W)//3, vs a
random-G deep image prior and z-only), sr4 (PSNR/RMSE of both SR presets vs bicubic and DIP),
ablation (MSE / discriminator / discriminator + progressive on --ablation-tasks).

classes: an image inside a folder named like one of the model's classes (e.g. DIR/animal/cat.png
for a model with an 'animal' class; '_' and '-' count as spaces) is restored with that class;
any other image gets the engine's search over classes.

resume: every finished run is kept in REPORT_DIR/runs (keyed by model weights, schedule, image, class
and seed), and the report is rewritten after each task; rerunning the same command after an
interruption skips the finished runs (--no-resume recomputes them; use it after changing
the engine's code between releases, since the key holds the package version, not the code).

split: `--shard 1/2` and `--shard 2/2` (two processes, or two machines sharing REPORT_DIR) each
restore half of the images; image i keeps seed + i, so the runs are the ones a single process would
make, and the command without --shard then reads them all back and writes the full report.

examples:
  dgp-studio eval --images photos/ --n 4 --out report/
  dgp-studio eval --model models/my-gan --images photos/ --tasks inpaint,sr4 --iters-scale 0.25
  dgp-studio eval --images photos/ --quick            2 images, 2% of each schedule (a smoke test)"""


def register(sub) -> None:
    import argparse
    p = sub.add_parser("eval", help="score restoration quality on a folder of clean photos",
                       description=__doc__, epilog=HELP_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(p)
    p.add_argument("--images", required=True, metavar="DIR",
                   help="folder of clean photos (searched recursively; PNG/JPEG/WebP/TIFF/BMP)")
    p.add_argument("--tasks", default="reconstruct,colorize,inpaint,sr4",
                   help="comma-separated: reconstruct,colorize,inpaint,sr4,ablation (default: all but ablation)")
    p.add_argument("--ablation-tasks", default="colorize,inpaint,sr4", metavar="TASKS",
                   help="tasks the ablation runs on (default: colorize,inpaint,sr4)")
    p.add_argument("--n", type=int, default=None, metavar="N",
                   help="use the first N images in sorted order (default: all; 2 with --quick)")
    p.add_argument("--out", metavar="REPORT_DIR", default=None,
                   help="report folder (default: ./eval-<model name>)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 2 images, iterations x0.02, 20 search candidates")
    p.add_argument("--iters-scale", type=float, default=None, metavar="F",
                   help="scale every preset's iterations (default 1; 0.02 with --quick)")
    p.add_argument("--select-num", type=int, default=None, metavar="N",
                   help="initial-latent candidates (default: the preset's 500; 20 with --quick)")
    p.add_argument("--seed", type=int, default=0, help="base seed; image i uses seed + i (default 0)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice; 1 is often fastest on a busy machine)")
    p.add_argument("--shard", metavar="K/N", default=None,
                   help="evaluate only images K, K+N, K+2N, ... (1-based) into REPORT_DIR/shard-K-of-N; "
                        "runs go to the shared REPORT_DIR/runs, so N processes or machines split the work "
                        "and the same command without --shard then assembles the full report")
    p.add_argument("--no-resume", action="store_true",
                   help="recompute every run even if REPORT_DIR/runs holds it from an interrupted evaluation")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def command_line(args, out) -> str:
    """The command as parsed (so it can be rerun), whatever way eval was called."""
    parts = ["dgp-studio", "eval"]
    for flag, v in (("--model", args.model), ("--images", args.images), ("--tasks", args.tasks),
                    ("--ablation-tasks", args.ablation_tasks if "ablation" in args.tasks else None),
                    ("--n", args.n), ("--iters-scale", args.iters_scale), ("--select-num", args.select_num),
                    ("--seed", args.seed), ("--device", args.device), ("--threads", args.threads),
                    ("--out", out), ("--shard", getattr(args, "shard", None))):
        if v is not None:
            parts += [flag, str(v)]
    if args.quick:
        parts.append("--quick")
    return " ".join(shlex.quote(p) for p in parts)


def run(args) -> int:
    import torch

    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(max(1, args.threads))
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)  # a caller in the same process keeps its setting


def _run(args) -> int:
    from dgp_studio.core.evaluation import EvalSettings, load_images, run_evaluation, write_report
    from dgp_studio.core.evaluation.runstore import RunStore

    try:
        settings = EvalSettings.make(args.tasks, args.ablation_tasks, quick=args.quick,
                                     iters_scale=args.iters_scale, select_num=args.select_num, seed=args.seed)
    except ValueError as e:
        raise UserError(str(e)) from None
    if args.n is not None and args.n < 1:
        raise UserError("--n must be at least 1")
    if args.select_num is not None and args.select_num < 0:
        raise UserError("--select-num must be >= 0")
    shard = parse_shard(args.shard) if args.shard else None
    if args.out:
        output_folder(args.out)
    root = Path(args.images)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    gan = load_model(args.model, pick_device(args.device), need_D=True)

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    n = args.n if args.n is not None else (2 if args.quick else None)
    images = load_images(root, gan.config, n=n, warn=log)
    if not images:
        raise UserError(f"{root}: no readable images (PNG/JPEG/WebP/TIFF/BMP)")
    out = Path(args.out) if args.out else Path(f"eval-{gan.name}")
    command = command_line(args, out)  # as typed: a shard's report names the shared folder and --shard
    runs_dir = out / "runs"
    if shard:
        k, n_shards = shard
        images = [im for im in images if im.index % n_shards == k - 1]
        if not images:
            raise UserError(f"--shard {k}/{n_shards}: no image falls in this shard")
        out = out / f"shard-{k}-of-{n_shards}"
    _refuse_foreign_report(out)
    log(f"evaluating {gan.name} on {len(images)} image(s), tasks {','.join(settings.tasks)}, "
        f"iterations x{settings.iters_scale:g} -> {out}")

    def progress_factory(label):
        bar = ProgressBar(label=label[:48])

        def cb(p):
            if p.phase == "optimise":
                bar.update(p.step, p.total_steps, f"loss {p.losses.get('total', 0):.4f}")
        return cb, bar.close

    def save_partial(report, sheets):
        report["command"] = command
        write_report(report, sheets, out)

    t0 = time.perf_counter()
    store = RunStore(runs_dir, read=not args.no_resume)
    report, sheets = run_evaluation(gan, images, settings, log=log, store=store, on_task_done=save_partial,
                                    progress_factory=None if args.quiet else progress_factory)
    report["command"] = command
    report["wall_s"] = time.perf_counter() - t0
    paths = write_report(report, sheets, out)
    print(paths["markdown"])
    return 0


def _refuse_foreign_report(out: Path) -> None:
    """A report rewrites report.md/.json and one <task>.png per task: over an earlier evaluation's,
    fine; over files that are not one (no report.json of ours beside them), refused before any work."""
    import json

    from dgp_studio.core.evaluation import TASK_NAMES
    names = ["report.md", "report.json"] + [f"{t}.png" for t in TASK_NAMES]
    taken = [n for n in names if (out / n).exists()]
    if not taken:
        return
    try:
        ours = json.loads((out / "report.json").read_text()).get("format") == "dgp-studio-eval"
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise UserError(f"{out} already holds {', '.join(taken)}, not from an earlier evaluation; a report would "
                        "write over them: choose an empty or new folder (--out)")


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 1 <= K <= N."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UserError(f"--shard takes K/N, e.g. 1/2 (got '{text}')") from None
    if not 1 <= k <= n:
        raise UserError(f"--shard {text}: K must be between 1 and N")
    return k, n
