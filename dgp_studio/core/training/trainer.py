"""BigGAN training loop: hinge loss, projection D, EMA G, differentiable augmentation, resumable.

Output folder layout:
  checkpoint.pt        everything needed to resume (nets, EMA, optimisers, RNG states, step)
  train_log.csv        step, time, steps/s and losses every ``log_every`` steps
  samples/step_N.png   EMA sample grid (a row per class) every ``sample_every`` steps
  model/               the usable prior: config.json (with class names) + G_ema + D, card.json,
                       README.md, samples.png - written at every checkpoint and at the end
"""
from __future__ import annotations

import copy
import csv
from collections import deque
import math
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import runtime
from ..biggan import BigGAN, BigGANConfig, build_biggan
from ..checkpoint import atomic_torch_save, save_biggan
from .augment import augment, parse_policy
from .card import write_card
from .config import ARCH_FIELDS, TrainConfig
from .data import ClassFolderDataset
from .ema import EMA, standing_stats
from ..export import save_png
from .samples import generate_grid_tensor, grid_image

CHECKPOINT = "checkpoint.pt"
LOG_FIELDS = ["step", "elapsed_s", "steps_per_s", "D_loss_real", "D_loss_fake", "G_loss",
              "D_real_mean", "D_fake_mean"]
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class TrainProgress:
    step: int
    total: int
    elapsed: float        # seconds of training over all runs of this folder
    steps_per_s: float    # recent rate
    eta_s: float
    losses: dict
    message: str = ""     # e.g. "saved checkpoint"


def hinge_D(real_logit: torch.Tensor, fake_logit: torch.Tensor):
    return F.relu(1 - real_logit).mean(), F.relu(1 + fake_logit).mean()


def hinge_G(fake_logit: torch.Tensor) -> torch.Tensor:
    return -fake_logit.mean()


def hardware_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    name = "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {torch.get_num_threads()} thread(s)"


CHECKPOINT_KEYS = ("step", "elapsed", "config", "class_names", "G", "D", "G_ema", "opt_G", "opt_D",
                   "data_gen", "noise_gen")


def _read_checkpoint(path: Path) -> dict:
    """The saved training state, or ValueError with one line (truncated, junk, another file)."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch's unpickler raises many types on junk
        why = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if isinstance(e, (KeyError, EOFError, pickle.UnpicklingError)) or not why:  # bare opcode numbers
            why = "not a PyTorch file, or cut short"
        raise ValueError(f"{path}: cannot be read ({why[:200]}); the run cannot resume from it") from None
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(ck, dict) or k not in ck]
    if missing:
        raise ValueError(f"{path}: not a DGP Studio training checkpoint (no '{missing[0]}')")
    return ck


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False, progress=None, log=print):
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        self.log = log or (lambda *a: None)
        ck_path = self.out / CHECKPOINT
        ck = None
        if resume:
            if not ck_path.exists():
                raise FileNotFoundError(f"{ck_path}: no checkpoint to resume from")
            ck = _read_checkpoint(ck_path)
            try:
                saved = TrainConfig.from_dict(ck["config"])
            except (TypeError, AttributeError, KeyError) as e:
                raise ValueError(f"{ck_path}: damaged training checkpoint (its settings: {e})") from None
            changed = [f for f in ARCH_FIELDS if getattr(saved, f) != getattr(cfg, f)]
            if changed:
                self.log(f"resume: keeping the checkpoint's {', '.join(changed)}")
            for f in ARCH_FIELDS:
                setattr(cfg, f, getattr(saved, f))
            cfg.data_dir = cfg.data_dir or saved.data_dir
        elif ck_path.exists():
            raise FileExistsError(f"{ck_path} exists: pass resume=True (--resume) or choose another folder")
        else:  # a new run writes these names: whatever already has them is someone's, never overwritten
            taken = [n for n in ("model", "samples", "train_log.csv") if (self.out / n).exists()]
            if taken:
                raise FileExistsError(f"{self.out} already holds {', '.join(taken)}, which a new run would write "
                                      "over: choose an empty or new folder")
        self.cfg = cfg
        self.device = torch.device(cfg.device)
        # auto: bf16 autocast where the GPU has bf16 units (emulated bf16 would be slower than TF32)
        self.amp = self.device.type == "cuda" and (
            cfg.precision == "bf16" or (cfg.precision == "auto" and runtime.cuda_has_bf16_units(self.device)))
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.policy = parse_policy(cfg.augment)

        t0 = time.perf_counter()
        self.data = ClassFolderDataset(cfg.data_dir, cfg.resolution, cfg.min_scale, cfg.flip)
        self.log(f"data: {len(self.data)} images in {self.data.n_classes} classes "
                 f"({', '.join(f'{k} {v}' for k, v in self.data.class_counts().items())}), "
                 f"loaded in {time.perf_counter() - t0:.1f}s"
                 + (f"; skipped {len(self.data.skipped)} unreadable" if self.data.skipped else ""))
        for line in self.data.skipped[:20]:  # which ones, so the user can fix or remove them
            self.log(f"  skipped {line}")
        if len(self.data.skipped) > 20:
            self.log(f"  ... and {len(self.data.skipped) - 20} more")
        if ck is not None and ck["class_names"] != self.data.class_names:
            raise ValueError(f"{cfg.data_dir}: classes {self.data.class_names} differ from the checkpoint's "
                             f"{ck['class_names']}")

        self.gan_config = BigGANConfig(resolution=cfg.resolution, G_ch=cfg.G_ch, D_ch=cfg.D_ch,
                                       dim_z=cfg.dim_z, shared_dim=cfg.shared_dim,
                                       n_classes=self.data.n_classes, G_attn=cfg.G_attn, D_attn=cfg.D_attn,
                                       class_names=list(self.data.class_names))
        gan = build_biggan(self.gan_config, seed=cfg.seed, device=self.device)
        self.G, self.D = gan.G.train(), gan.D.train()
        self.ema = EMA(self.G, cfg.ema_decay, cfg.ema_warmup)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.G_lr, betas=cfg.betas, eps=cfg.adam_eps)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.D_lr, betas=cfg.betas, eps=cfg.adam_eps)
        self.data_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.noise_gen = torch.Generator().manual_seed(cfg.seed + 2)
        self.step = 0
        self.elapsed = 0.0
        self.last_losses: dict = {}
        self.recent: deque = deque(maxlen=100)  # per-step losses behind the card's "final_losses"
        if ck is not None:
            try:
                self._restore(ck)
            except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
                why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ValueError(f"{ck_path}: damaged training checkpoint ({why[:300]}); the run cannot "
                                 "resume from it") from None
            self.log(f"resumed at step {self.step} ({self.elapsed / 60:.1f} min trained so far)")

    # ---- state -------------------------------------------------------------------------------
    def state(self) -> dict:
        return {"step": self.step, "elapsed": self.elapsed, "config": self.cfg.to_dict(),
                "class_names": list(self.data.class_names),
                "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.ema.model.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
                "data_gen": self.data_gen.get_state(), "noise_gen": self.noise_gen.get_state(),
                "last_losses": dict(self.last_losses)}

    def _restore(self, ck: dict) -> None:
        self.G.load_state_dict(ck["G"])
        self.D.load_state_dict(ck["D"])
        self.ema.model.load_state_dict(ck["G_ema"])
        self.opt_G.load_state_dict(ck["opt_G"])
        self.opt_D.load_state_dict(ck["opt_D"])
        for opt, lr in ((self.opt_G, self.cfg.G_lr), (self.opt_D, self.cfg.D_lr)):
            for g in opt.param_groups:  # a resumed run may change the learning rates
                g["lr"] = lr
        self.data_gen.set_state(ck["data_gen"])
        self.noise_gen.set_state(ck["noise_gen"])
        self.step = int(ck["step"])
        self.elapsed = float(ck["elapsed"])
        self.last_losses = dict(ck.get("last_losses", {}))

    def save_checkpoint(self) -> Path:
        path = self.out / CHECKPOINT
        atomic_torch_save(self.state(), path)
        return path

    # ---- one training step -------------------------------------------------------------------
    def _latents(self, n: int):
        z = torch.randn(n, self.gan_config.dim_z, generator=self.noise_gen).to(self.device)
        y = torch.randint(0, self.data.n_classes, (n,), generator=self.noise_gen).to(self.device)
        return z, y

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp)

    def train_step(self) -> dict:
        cfg, B = self.cfg, self.cfg.batch_size
        self.D.requires_grad_(True)
        for _ in range(cfg.D_steps):
            x, y_real = self.data.sample(B, self.data_gen)
            x, y_real = x.to(self.device), y_real.to(self.device)
            z, y_fake = self._latents(B)
            with torch.no_grad(), self._autocast():
                fake = self.G(z, self.G.shared(y_fake))
            with self._autocast():
                both = augment(torch.cat([x, fake.to(x.dtype)]), self.policy, self.noise_gen)
                logits, _ = self.D(both, torch.cat([y_real, y_fake]))
            logits = logits.float()
            loss_real, loss_fake = hinge_D(logits[:B], logits[B:])
            self.opt_D.zero_grad(set_to_none=True)
            (loss_real + loss_fake).backward()
            self.opt_D.step()
        self.D.requires_grad_(False)
        z, y = self._latents(B)
        with self._autocast():
            fake = self.G(z, self.G.shared(y))
            logit, _ = self.D(augment(fake, self.policy, self.noise_gen), y)
        loss_G = hinge_G(logit.float())
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        self.opt_G.step()
        self.step += 1
        self.ema.update(self.step)
        logits = logits.detach()
        return {"D_loss_real": loss_real.item(), "D_loss_fake": loss_fake.item(), "G_loss": loss_G.item(),
                "D_real_mean": logits[:B].mean().item(), "D_fake_mean": logits[B:].mean().item()}

    # ---- outputs -----------------------------------------------------------------------------
    def save_grid(self, path=None, train_mode: bool = True, G=None) -> Path:
        G = G if G is not None else self.ema.model
        imgs = generate_grid_tensor(G, self.data.n_classes, self.cfg.samples_per_class,
                                    self.gan_config.dim_z, train_mode=train_mode)
        path = path or (self.out / "samples" / f"step_{self.step:06d}.png")
        return save_png(grid_image(imgs, self.data.n_classes, labels=self.data.class_names), path)

    def export_model(self, folder=None) -> Path:
        """EMA generator with standing BN statistics + current D, in the loader's format."""
        folder = Path(folder or self.out / "model")
        G = copy.deepcopy(self.ema.model)
        standing_stats(G, self.data.n_classes, self.gan_config.dim_z, batches=self.cfg.standing_batches,
                       batch_size=max(16, self.cfg.batch_size), device=self.device, seed=self.cfg.seed)
        D = copy.deepcopy(self.D).eval()
        name = self.cfg.name or self.out.resolve().name
        gan = BigGAN(G, D, self.gan_config, name=name)
        save_biggan(gan, folder, dtype=DTYPES[self.cfg.export_dtype],
                    extra={"training": {"steps": self.step, "data": str(self.cfg.data_dir)}})
        self.save_grid(folder / "samples.png", train_mode=False, G=G)
        write_card(folder, self._card())
        return folder

    def _card(self) -> dict:
        params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {
            "name": self.cfg.name or self.out.resolve().name,
            "architecture": "BigGAN (hierarchical z, shared class embedding, projection discriminator)",
            "resolution": self.cfg.resolution, "class_names": list(self.data.class_names),
            "class_counts": self.data.class_counts(), "n_images": len(self.data),
            "data_dir": str(self.cfg.data_dir), "steps": self.step,
            "wall_time_s": round(self.elapsed, 1), "hardware": hardware_description(self.device),
            "torch": torch.__version__, "command": self.cfg.command,
            "G_params": params(self.G), "D_params": params(self.D),
            "final_losses": self._final_losses(), "final_losses_steps": len(self.recent) or None,
            "train_config": self.cfg.to_dict(),
        }

    def _final_losses(self) -> dict:
        """Mean over the last (up to 100) steps of this run; the last logged values otherwise."""
        if not self.recent:
            return dict(self.last_losses)
        return {k: sum(r[k] for r in self.recent) / len(self.recent) for k in self.recent[0]}

    def _append_log(self, row: dict) -> None:
        path = self.out / "train_log.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            if new:
                w.writeheader()
            w.writerow({k: (f"{row[k]:.5g}" if isinstance(row[k], float) else row[k]) for k in LOG_FIELDS})

    # ---- the loop ----------------------------------------------------------------------------
    def train(self, should_stop=None) -> Path:
        """Train up to ``cfg.steps`` (or ``max_minutes``); checkpoint + export at the end."""
        cfg = self.cfg
        t_start = time.perf_counter()
        deadline = t_start + cfg.max_minutes * 60 if cfg.max_minutes else math.inf
        base_elapsed = self.elapsed
        window: list[tuple[float, int]] = [(t_start, self.step)]
        acc: dict = {}
        n_acc = 0
        reason = "done"
        self._report(0.0, "start")
        while self.step < cfg.steps:
            if time.perf_counter() >= deadline:
                reason = f"time limit ({cfg.max_minutes:g} min)"
                break
            if should_stop and should_stop():
                reason = "stopped"
                break
            losses = self.train_step()
            self.recent.append(losses)
            for k, v in losses.items():
                acc[k] = acc.get(k, 0.0) + v
            n_acc += 1
            now = time.perf_counter()
            self.elapsed = base_elapsed + now - t_start
            window = (window + [(now, self.step)])[-50:]
            rate = (window[-1][1] - window[0][1]) / max(1e-9, window[-1][0] - window[0][0])
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                self.last_losses = {k: v / n_acc for k, v in acc.items()}
                acc, n_acc = {}, 0
                self._append_log({"step": self.step, "elapsed_s": self.elapsed, "steps_per_s": rate,
                                  **self.last_losses})
            msg = ""
            if cfg.sample_every and self.step % cfg.sample_every == 0:
                self.save_grid()
                msg = "samples"
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and self.step < cfg.steps:
                self.save_checkpoint()
                self.export_model()
                msg = "checkpoint"
            self._report(rate, msg)
        if n_acc:
            self.last_losses = {k: v / n_acc for k, v in acc.items()}
        self.save_checkpoint()
        self.save_grid()
        folder = self.export_model()
        self.log(f"{reason} at step {self.step} after {self.elapsed / 60:.1f} min; model in {folder}")
        return folder

    def _report(self, rate: float, message: str) -> None:
        if self.progress:
            left = max(0, self.cfg.steps - self.step)
            eta = left / rate if rate > 0 else math.nan
            self.progress(TrainProgress(self.step, self.cfg.steps, self.elapsed, rate, eta,
                                        dict(self.last_losses), message))
