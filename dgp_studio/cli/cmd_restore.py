"""``dgp-studio restore``: one photo, several, or whole folders, headless."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import ProgressBar, UserError, add_model_args, load_model, pick_device

DESCRIPTION = """Restore photos with the Deep Generative Prior: the model's latent code and weights
are tuned until the generator explains your photo; the GAN's prior fills in what is missing.

tasks:
  colorize     add colour to a black-and-white photo; the result keeps the photo's size and
               its exact lightness (every detail stays); the whole frame is used
  inpaint      fill the white part of --mask; only those pixels change (with a soft seam)
  sr           super-resolution (--scale 2, 4 or 8) of the model's input square, model size /
               scale px (16 px for the bundled 64 px prior at x4, 64 px for BigGAN-256):
               small photos go through whole, otherwise the centred square (or --region)
  hybrid       colorize + x2 super-resolution (+ fill --mask if given) at once: the region
               at twice its size, with the photo's own lightness wherever it is not masked
  reconstruct  explain the photo as it is (for manipulations via --save-session)
  defend       remove adversarial noise (reconstruction that stops early)

The model works on a small square (e.g. 64 or 256 px) cut from the photo: colorize and hybrid
squeeze the whole frame into it, inpaint takes a square around the mask, the others the centred
square; choose another square with --region x,y,size. A mask larger than one square is
filled region by region: run again on the result with another --region."""

EXAMPLES = """examples:
  dgp-studio restore old.jpg --task colorize                 -> old_colorize.png
  dgp-studio restore wall.png --task inpaint --mask hole.png --save-session wall.dgps
  dgp-studio restore tiny.png --task sr --scale 4 --out big.png
  dgp-studio restore scans/ --task colorize --recursive --out-dir done/
  dgp-studio restore scans/ --task colorize --out-dir done/ --jobs 2   two photos at once (CPU)
  dgp-studio restore scans/ --task colorize --out-dir done/ --devices cuda:0,cuda:1
  dgp-studio restore scans/ --task colorize --out-dir done/ --device cuda --group 8   8 photos per loop
  dgp-studio restore old.jpg --task colorize --iters-scale 0.25   quick draft (4x fewer steps)

Folders: files already done are skipped (--redo to redo them); a log
dgp_restore_log.csv/.json lists every file with its status, time, losses and settings (also
stored inside each result PNG). A file that fails is reported and skipped; the exit code is
1 if any file failed, 2 for a usage error."""


def _task(name: str) -> str:
    from dgp_studio.core.restore import RestoreError, canonical_task
    try:
        return canonical_task(name)  # also the long and British spellings (colorization, colourise...)
    except RestoreError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "restore", help="colorize, inpaint, super-resolve... photos or folders",
        description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="IMAGE|DIR", help="photo files and/or folders of photos")
    p.add_argument("--task", required=True, metavar="TASK", type=_task,
                   help="colorize, inpaint, sr, hybrid, reconstruct or defend (see above)")
    p.add_argument("--mask", metavar="PNG", help="inpaint: image of the photo's size, WHITE = pixels to fill "
                                                 "(a mask of an EXIF-rotated photo's stored size is turned with it)")
    p.add_argument("--scale", type=int, choices=[2, 4, 8], help="sr/hybrid factor (sr default 4, hybrid 2)")
    p.add_argument("--class", dest="class_spec", metavar="ID|NAME",
                   help="what the photo shows, as a class id or name (e.g. 'goldfinch'); default: searched")
    add_model_args(p)
    p.add_argument("--iters-scale", type=float, default=1.0, metavar="F",
                   help="multiply every stage's iterations (1 = the paper's schedule; 0.25 = a quick draft)")
    p.add_argument("--candidates", type=int, metavar="N",
                   help="random starting points tried before optimising (default 500; fewer = faster start)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed + settings = same result")
    p.add_argument("--exact", action="store_true",
                   help="the reference implementation's numerics to the letter (fp32, slower)")
    p.add_argument("--region", metavar="x,y,size",
                   help="the square to restore (top-left corner and side, in photo pixels), 'center' or "
                        "'full'; default: whole frame for colorize, around the mask for inpaint, centre otherwise")
    p.add_argument("--feather", type=int, metavar="PX", help="width in px of the soft seam around an inpainted hole (default: half a model "
                        "pixel, 2-16 px) or inside a colorized --region's edge (default: one model pixel)")
    p.add_argument("--chroma-smooth", type=float, metavar="PX", default=None,
                   help="colorize and hybrid: blur the model's colour by this sigma in model pixels before it is upsampled "
                        "along the photo's edges (default 2: muted, coherent colour; 0 = the model's raw chroma)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--out", metavar="FILE", help="output file (one input only): .png keeps transparency and the "
                                                   "settings record, .jpg/.webp/.tif also work; a folder gets "
                                                   "<name>_<task>.png; default <name>_<task>.png next to the "
                                                   "photo - the photo itself is never overwritten")
    out.add_argument("--out-dir", metavar="DIR", help="folder for the results (sub-folders are kept)")
    p.add_argument("--recursive", action="store_true", help="also process photos in sub-folders")
    p.add_argument("--devices", metavar="LIST",
                   help="spread a batch over devices, one worker process each, e.g. cuda:0,cuda:1")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="folders: work on N photos at once, each in its own process on --device with "
                        "the CPU cores split between them; on a CPU this gets through a folder faster "
                        "(one photo uses several cores poorly); each process holds its own model")
    p.add_argument("--group", type=int, default=1, metavar="N",
                   help="folders: optimise N photos together in one loop, each with its own weights (same "
                        "results as one at a time, up to rounding); meant for GPUs, where one photo leaves "
                        "it mostly idle (the speed-up there is not measured yet); on a CPU it brings "
                        "nothing; not with --exact or the defend task")
    p.add_argument("--redo", action="store_true", help="process again files whose result already exists")
    p.add_argument("--save-session", metavar="FILE",
                   help="save the tuned model state (one input only) for 'dgp-studio jitter', "
                        "'transfer' and 'morph'")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar (and, for several photos, no notes under each line: the log keeps them)")
    p.set_defaults(func=run)


def _progress_cb(bar: ProgressBar):
    def cb(p):
        if p.phase == "search":
            bar.update(0, p.total_steps, f"searching starting points {100 * p.elapsed:3.0f}%")
        else:
            loss = p.losses.get("total")
            bar.update(p.step, p.total_steps, f"stage {p.stage + 1}/{p.n_stages}"
                       + (f" loss {loss:.4f}" if loss is not None else ""))
    return cb


def _settings(args):
    from dgp_studio.core.restore import RestoreError, RestoreSettings
    if args.task == "inpaint" and not args.mask:
        raise UserError("--task inpaint needs --mask PNG (white = pixels to fill)")
    if args.mask and args.task not in ("inpaint", "hybrid"):
        raise UserError(f"--mask is used by inpaint and hybrid, not by {args.task}")
    if args.scale and args.task not in ("sr", "hybrid"):
        raise UserError(f"--scale is for sr and hybrid, not {args.task}")
    if args.mask and not Path(args.mask).is_file():
        raise UserError(f"{args.mask}: mask file not found")
    try:
        return RestoreSettings(task=args.task, scale=args.scale, class_spec=args.class_spec,
                               iters_scale=args.iters_scale, candidates=args.candidates, seed=args.seed,
                               exact=args.exact, region=args.region, feather=args.feather,
                               chroma_smooth=args.chroma_smooth)
    except RestoreError as e:
        raise UserError(str(e)) from None


def _devices(args) -> list[str]:
    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: give 1 or more")
    if args.jobs > 1 and args.devices:
        raise UserError("--jobs and --devices both choose the workers: give one of them "
                        "(--devices cpu,cpu is the same as --jobs 2 on the CPU)")
    if not args.devices:
        return [pick_device(args.device)] * args.jobs
    devs = [d.strip() for d in args.devices.split(",") if d.strip()]
    if not devs:
        raise UserError("--devices: give a comma-separated list, e.g. cuda:0,cuda:1")
    for d in devs:
        pick_device(d)  # a name torch knows, and a GPU that exists
    return devs


def _check_targets(items, mask, session) -> None:
    """Refused before any work: a result written over the mask, and a session written over the
    photo, the mask, the result or any file that is not an earlier session (a re-run may replace
    its own session)."""
    from dgp_studio.core.export import check_not_input, same_file
    from dgp_studio.core.session import is_session_file
    if mask:
        for it in items:
            if same_file(it.out, mask):
                raise UserError(f"{it.out}: is the mask file; choose another output name (inputs are never "
                                "overwritten)")
    if session:
        taken = [it.src for it in items] + [it.out for it in items] + ([mask] if mask else [])
        try:
            check_not_input(session, taken)
        except ValueError:
            raise UserError(f"--save-session {session}: is the photo, the mask or the result; choose another "
                            "name, e.g. ending in .dgps") from None
        if Path(session).exists() and not is_session_file(session):
            raise UserError(f"--save-session {session}: the file exists and is not a DGP Studio session; choose "
                            "another name (other files are never overwritten)")


def run(args) -> int:
    from dgp_studio.core.batch import BatchError, collect_inputs, plan, process_file, run_batch
    settings = _settings(args)
    try:
        inputs = collect_inputs(args.inputs, recursive=args.recursive,
                                exclude=[args.out_dir] if args.out_dir else [])
        if not inputs:
            raise BatchError("no photos found in " + ", ".join(args.inputs)
                             + ("" if args.recursive else " (add --recursive for sub-folders)"))
        items = plan(inputs, settings.task, out_dir=args.out_dir, out_file=args.out)
    except BatchError as e:
        raise UserError(str(e)) from None
    single = len(args.inputs) == 1 and not Path(args.inputs[0]).is_dir()
    if args.save_session and not single:
        raise UserError("--save-session works with one photo; run photos one at a time to keep sessions")
    if args.save_session and Path(args.save_session).is_dir():  # decided before the run, not after it
        args.save_session = str(Path(args.save_session) / f"{items[0].src.stem}.dgps")
    _check_targets(items, args.mask, args.save_session)
    devices = _devices(args)
    mask = args.mask
    if args.group < 1:
        raise UserError(f"--group {args.group}: give 1 or more")
    if args.group > 1 and len(devices) > 1:
        raise UserError("--group runs its photos in this process on one device: not with --jobs or --devices")
    if args.group > 1 and not single:
        from dgp_studio.core.batch import group_reason
        why = group_reason(settings)
        if why:
            print(f"note: {why}; --group is ignored", file=sys.stderr)

    if single:
        from dgp_studio.core.batch import foreign_output
        item = items[0]
        foreign = foreign_output(item)
        if foreign:  # refused before the model loads
            raise UserError(foreign)
        gan = load_model(args.model, devices[0], need_D=True)
        bar = ProgressBar(item.src.name, enabled=not args.quiet)
        try:
            rec = process_file(gan, item, settings, mask=mask, progress=_progress_cb(bar),
                               model_name=gan.name, device=devices[0], session_path=args.save_session)
        finally:
            bar.close()
        if rec["status"] != "ok":
            raise UserError(rec["error"])
        for n in rec.get("notes", []):
            print(f"note: {n}", file=sys.stderr)
        if args.save_session:
            print(f"session: {args.save_session}", file=sys.stderr)
        print(rec["output"])
        return 0

    log_dir = Path(args.out_dir) if args.out_dir else (
        Path(args.inputs[0]) if Path(args.inputs[0]).is_dir() else Path(args.inputs[0]).parent)
    gan = load_model(args.model, devices[0], need_D=True) if len(devices) == 1 else None

    bars = []

    def on_record(done, total, r):
        while bars:
            bars.pop().close()
        tag = {"ok": "ok", "skipped": "skipped (done)", "error": "FAILED"}[r["status"]]
        line = f"[{done}/{total}] {r.get('input')}: {tag}"
        if r["status"] == "ok":
            line += f" -> {r['output']} ({r.get('seconds', 0):.1f} s)"
        elif r["status"] == "error":
            line += f" - {_reason(r)}"
        if r["status"] == "ok" and not args.quiet:  # as a single photo's run says them (also in the log)
            line += "".join(f"\n    note: {n}" for n in r.get("notes") or [])
        print(line, file=sys.stderr, flush=True)

    def progress_factory(item, group=1):
        label = item.src.name + (f" and {group - 1} more" if group > 1 else "")
        bar = ProgressBar(label, enabled=not args.quiet)
        bars.append(bar)
        return _progress_cb(bar)

    try:
        report = run_batch(items, settings, gan=gan, model_path=args.model, devices=devices, mask=mask,
                           log_dir=log_dir, redo=args.redo, on_record=on_record,
                           progress_factory=progress_factory, group=args.group,
                           model_name=gan.name if gan is not None else (args.model or "bundled"))
    except BatchError as e:
        raise UserError(str(e)) from None
    except KeyboardInterrupt:
        while bars:
            bars.pop().close()
        print(f"dgp-studio: interrupted; finished files are kept (log in {log_dir}) - run the same command "
              "again to continue with the rest", file=sys.stderr)
        return 130
    print(f"{report.count('ok')} done, {report.count('skipped')} skipped (already done), "
          f"{report.count('error')} failed; log: {report.log_csv}", file=sys.stderr)
    for r in report.failed:
        print(f"failed: {r['input']}: {_reason(r)}", file=sys.stderr)
    return 1 if report.failed else 0


def _reason(record: dict) -> str:
    """A failure's message without the file name it starts with (the line names the file already)."""
    msg = str(record.get("error", ""))
    for name in (record.get("source"), record.get("input")):
        if name and msg.startswith(f"{name}: "):
            return msg[len(name) + 2:]
    return msg
