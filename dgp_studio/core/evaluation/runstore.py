"""Finished runs kept on disk, so an interrupted evaluation resumes where it stopped.

A run is stored under a hash of everything that determines its result (the model's weights,
the method's key, the schedule, the observed image, class and seed), so a changed setting can
never pick up a stale result; rerunning the same command simply skips finished runs.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from ..fsutil import atomic_target


def model_fingerprint(gan) -> str:
    """sha1 over G's and D's state (a few MB for our priors; one pass for ImageNet-size ones)."""
    h = hashlib.sha1()
    for net in (gan.G, gan.D):
        if net is None:
            continue
        for k, v in net.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


FORMAT_VERSION = 2  # bump when a stored run's meaning changes; old runs are then recomputed
# 2: an inpainting run's final image has the seamless fill (seam.py), a super-resolution run's
#    is back-projected onto the low-resolution input


def _engine_version() -> str:
    from dgp_studio import __version__
    return __version__


def run_fingerprint(model_fp: str, key, preset, observed: torch.Tensor, class_id, seed, generator: str,
                    finish: int = 1) -> str:
    """Everything that determines a run's result, including the store format and the package version
    (a development checkout between versions must use --no-resume after changing the engine).
    ``finish``: the degradation's ``finish_version``; only versions after 1 enter the hash, so
    that a changed finish redoes that task's runs and keeps every other stored run."""
    h = hashlib.sha1()
    spec = {"format": FORMAT_VERSION, "engine": _engine_version(), "model": model_fp, "key": list(map(str, key)),
            "preset": preset.to_dict(), "class_id": class_id, "seed": seed, "generator": generator}
    if finish > 1:
        spec["finish"] = finish
    h.update(json.dumps(spec, sort_keys=True, default=str).encode())
    h.update(observed.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()


class RunStore:
    """``folder/<hash>.pt`` = {'final': tensor, 'time_s', 'class_id', 'steps'}; writes are atomic."""

    def __init__(self, folder, read: bool = True):
        self.folder = Path(folder)
        self.read = read  # False: recompute everything (still writes, so a later run can resume)

    def _path(self, fp: str) -> Path:
        return self.folder / f"{fp}.pt"

    def load(self, fp: str) -> dict | None:
        p = self._path(fp)
        if not self.read or not p.exists():
            return None
        try:
            d = torch.load(p, map_location="cpu", weights_only=True)
        except Exception:  # a damaged file is just redone
            return None
        ok = (isinstance(d, dict) and isinstance(d.get("final"), torch.Tensor) and d["final"].is_floating_point()
              and isinstance(d.get("time_s"), (int, float)) and isinstance(d.get("steps", 0), int)
              and isinstance(d.get("class_id"), (int, type(None))) and bool(torch.isfinite(d["final"]).all()))
        return d if ok else None  # anything odd is redone, like a damaged file

    def save(self, fp: str, record: dict) -> None:
        with atomic_target(self._path(fp)) as tmp:
            torch.save(record, tmp)
