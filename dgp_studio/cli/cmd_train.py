"""``dgp-studio train DATA_DIR``: train a class-conditional BigGAN prior on a folder of class folders."""
from __future__ import annotations

import math
import shlex
import sys

from .common import UserError, output_folder, pick_device


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="train a BigGAN prior on your photos (a folder of class folders)",
        description="Train a class-conditional BigGAN (hinge loss, projection D, EMA generator, "
                    "differentiable augmentation) on DATA_DIR/<class>/<images>. Writes OUT/model "
                    "(usable with --model), OUT/checkpoint.pt (resume with --resume), sample grids "
                    "in OUT/samples and OUT/train_log.csv.")
    p.add_argument("data_dir", metavar="DATA_DIR", help="folder whose sub-folders are the classes "
                   "(sub-folders starting with '_' are ignored)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--resolution", type=int, choices=(64, 128), default=64)
    p.add_argument("--ch", type=int, default=32, help="width of G and D (BigGAN's ch; default 32)")
    p.add_argument("--G-ch", type=int, help="generator width (overrides --ch)")
    p.add_argument("--D-ch", type=int, help="discriminator width (overrides --ch)")
    p.add_argument("--dim-z", type=int, default=120)
    p.add_argument("--shared-dim", type=int, default=128, help="class embedding size")
    p.add_argument("--attn", default="32", help="resolution(s) with self-attention, e.g. 32 or 32,64; "
                   "'none' for none (default 32)")
    p.add_argument("--steps", type=int, default=10000, help="total generator steps (default 10000)")
    p.add_argument("--max-minutes", type=float, help="stop after this many minutes (checkpoint kept)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--D-steps", type=int, default=2, help="D steps per G step (default 2)")
    p.add_argument("--G-lr", type=float, default=1e-4)
    p.add_argument("--D-lr", type=float, default=4e-4)
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--augment", default="color,translation,cutout",
                   help="differentiable augmentation on real and fake images ('none' to disable)")
    p.add_argument("--min-scale", type=float, default=0.4,
                   help="smallest random crop, as a fraction of the photo's short side (default 0.4)")
    p.add_argument("--sample-every", type=int, default=500, help="sample grid every N steps")
    p.add_argument("--checkpoint-every", type=int, default=500, help="checkpoint + model export every N steps")
    p.add_argument("--samples-per-class", type=int, default=8, help="columns of the sample grids (default 8)")
    p.add_argument("--standing-batches", type=int, default=16,
                   help="train-mode batches averaged into the exported batch-norm statistics (default 16)")
    p.add_argument("--export-dtype", choices=("float32", "float16", "bfloat16"), default="float32",
                   help="storage type of the exported model (float16 halves its size)")
    p.add_argument("--name", default="", help="model name (default: the --out folder's name)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda if present)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: bf16 autocast on GPUs with bf16 units (Ampere on), fp32 otherwise (bf16 is CUDA-only); fp32: TF32 on CUDA, no autocast "
                        "(small nets are launch-bound on a GPU, so bf16 buys them little)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def _attn(spec: str) -> tuple:
    if spec.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(int(s) for s in spec.split(","))
    except ValueError:
        raise UserError(f"--attn must be resolutions like 32 or 32,64, not '{spec}'") from None


def _fmt_time(s: float) -> str:
    if not math.isfinite(s):
        return "--:--"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class _ProgressLine:
    """Step counter, rate, ETA and losses on stderr (rewritten in place on a terminal)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = -1.0

    def __call__(self, p) -> None:
        import time
        now = time.monotonic()
        if not p.message and now - self.last < (0.5 if self.tty else 30.0) and p.step < p.total:
            return
        self.last = now
        frac = p.step / p.total if p.total else 1.0
        bar = "#" * int(24 * frac) + "." * (24 - int(24 * frac))
        loss = " ".join(f"{k} {v:.3f}" for k, v in p.losses.items() if k in ("D_loss_real", "D_loss_fake", "G_loss"))
        line = (f"train [{bar}] {p.step}/{p.total} {p.steps_per_s:.2f} it/s "
                f"elapsed {_fmt_time(p.elapsed)} eta {_fmt_time(p.eta_s)} {loss} {p.message}")
        self.stream.write(("\r" + line.ljust(140)) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def run(args) -> int:
    import torch
    from dgp_studio.core.training import DatasetError, Trainer, TrainConfig

    if args.steps < 0 or args.batch_size < 2 or args.D_steps < 1:
        raise UserError("--steps must be >= 0, --batch-size >= 2 and --D-steps >= 1")
    G_ch, D_ch = args.G_ch or args.ch, args.D_ch or args.ch
    checks = [(min(G_ch, D_ch) >= 1, "--ch (and --G-ch/--D-ch) must be >= 1"),
              (args.dim_z >= 1 and args.shared_dim >= 1, "--dim-z and --shared-dim must be >= 1"),
              (args.G_lr > 0 and args.D_lr > 0, "--G-lr and --D-lr must be > 0"),
              (0 <= args.ema_decay < 1, "--ema-decay must be in [0, 1) (e.g. 0.999)"),
              (0 < args.min_scale <= 1, "--min-scale must be in (0, 1]"),
              (args.threads is None or args.threads >= 1, "--threads must be >= 1"),
              (args.max_minutes is None or args.max_minutes > 0, "--max-minutes must be > 0")]
    for ok, msg in checks:  # before the photos are read, not after
        if not ok:
            raise UserError(msg)
    output_folder(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    attn = _attn(args.attn)
    if attn and min(G_ch, D_ch) < 8:
        raise UserError("self-attention needs --ch (G and D) of at least 8; use --attn none for narrower nets")
    cfg = TrainConfig(
        data_dir=args.data_dir, out_dir=args.out, name=args.name, resolution=args.resolution,
        G_ch=G_ch, D_ch=D_ch, dim_z=args.dim_z, shared_dim=args.shared_dim, G_attn=attn, D_attn=attn,
        steps=args.steps, batch_size=args.batch_size, D_steps=args.D_steps, G_lr=args.G_lr,
        D_lr=args.D_lr, ema_decay=args.ema_decay, augment=args.augment, min_scale=args.min_scale,
        sample_every=args.sample_every, checkpoint_every=args.checkpoint_every,
        max_minutes=args.max_minutes, samples_per_class=max(1, args.samples_per_class),
        standing_batches=max(1, args.standing_batches), export_dtype=args.export_dtype, seed=args.seed, device=device,
        precision=args.precision,
        command="dgp-studio train " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        if len(sys.argv) > 1 and sys.argv[1] == "train" else "")
    bar = None if args.quiet else _ProgressLine()
    log = (lambda msg: print(f"\n{msg}" if bar and bar.tty else msg, file=sys.stderr))
    try:
        trainer = Trainer(cfg, resume=args.resume, progress=bar, log=log)
    except (DatasetError, FileNotFoundError, FileExistsError, ValueError) as e:
        raise UserError(str(e)) from None
    try:
        folder = trainer.train()
    except KeyboardInterrupt:
        trainer.save_checkpoint()
        log(f"interrupted at step {trainer.step}; checkpoint saved, continue with --resume")
        return 130
    finally:
        if bar:
            bar.close()
    print(folder)
    return 0
