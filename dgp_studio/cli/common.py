"""Shared CLI pieces: device choice, model loading with clear errors, a stderr progress bar."""
from __future__ import annotations

import sys
import time

import torch


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def output_folder(path, option: str = "--out"):
    """A folder the command will write into: refused up front (before any work) when it is a file."""
    from pathlib import Path
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"{option} {p}: is a file, not a folder")
    return p


def pick_device(name: str | None) -> str:
    if name in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"--device {name}: not a device name (cpu, cuda, cuda:1 ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but no CUDA GPU is available (use --device cpu)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UserError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                        f"numbered from 0")
    return name


def load_model(path, device, need_D: bool = False):
    """``need_D``: the command optimises (restore, eval), so a model without D fails here, once."""
    from dgp_studio.core.checkpoint import CheckpointError, load_biggan, require_discriminator
    try:
        gan = load_biggan(path, device=device)
        if need_D:
            require_discriminator(gan)
        return gan
    except CheckpointError as e:
        raise UserError(str(e)) from None


def add_model_args(p) -> None:
    p.add_argument("--model", metavar="PATH", help="model folder or checkpoint file "
                   "(default: the bundled prior, or $DGP_STUDIO_MODEL)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda if present)")


class ProgressBar:
    """One line on stderr, rewritten in place; silent when stderr is not a terminal unless forced."""

    def __init__(self, label: str = "", stream=None, enabled: bool = True, width: int = 28):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.label = label
        self.width = width
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, done: int, total: int, info: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < (0.1 if self._tty else 5.0) and done < total:
            return
        self._last = now
        frac = done / total if total else 1.0
        fill = int(self.width * frac)
        el = now - self.t0
        eta = el / frac - el if frac > 0 else 0
        line = (f"{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {done}/{total} "
                f"{el:5.1f}s eta {eta:5.1f}s {info}")
        if self._tty:
            self.stream.write("\r" + line[:150].ljust(150))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._tty:
            self.stream.write("\n")
            self.stream.flush()
