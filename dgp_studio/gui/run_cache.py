"""The disk result cache as the editor uses it: one key per run, a hit skips the optimisation.

The key covers exactly what the worker hands the engine (model-resolution pixels, the hole
mask, the region box, task, preset, class, seed and the model's weights), so two editor
windows, or two sessions, asking for the same restoration share one stored result.
``core.cache.ResultCache`` holds the lock that makes sharing one folder safe.

Results travel with two tags (plain attributes on the ``ReconstructionResult``): the cache
key they belong to and, once built, their compact ``CachedResult`` — project saves reuse it
instead of computing the fp16 deltas again.
"""
from __future__ import annotations

import warnings

from dgp_studio.core.cache import ResultCache, cache_key

from . import settings

KEY_ATTR = "_dgp_cache_key"
ENTRY_ATTR = "_dgp_cached_entry"
DEFAULT_DISK_GB = 10.0
MAX_DISK_GB = 100_000.0


def open_result_cache() -> ResultCache | None:
    """The user's result cache (``DGP_STUDIO_CACHE`` or the user cache dir), sized from the
    settings (``cache/disk_gb``, default 10; ``cache/enabled`` false turns it off)."""
    if not settings.value("cache/enabled", True, bool):
        return None
    gb = settings.value("cache/disk_gb", DEFAULT_DISK_GB, float)
    if gb is None or not 0 < gb <= MAX_DISK_GB:  # NaN, infinite, negative or absurd: the editor did not start
        gb = DEFAULT_DISK_GB
    try:
        return ResultCache(disk_budget=int(gb * (1 << 30)))
    except OSError as e:  # an unusable cache folder must not stop the editor
        warnings.warn(f"result cache disabled: {e}", RuntimeWarning)
        return None


def job_key(job, gan) -> str:
    """The cache key of a worker ``Job`` (see the module docstring for what it covers)."""
    return cache_key(job.image, preset=job.preset, seed=job.seed, class_id=job.class_id, model=gan,
                     degradation=job.degradation, mask=job.hole, region=job.box, extra={"task": job.task})


def tag(result, key: str | None = None, entry=None):
    if key is not None:
        setattr(result, KEY_ATTR, key)
    if entry is not None:
        setattr(result, ENTRY_ATTR, entry)
    return result


def key_of(result) -> str | None:
    return getattr(result, KEY_ATTR, None)


def entry_of(result):
    return getattr(result, ENTRY_ATTR, None)


def history_rows(result) -> list:
    """The loss rows the timeline shows, rebuilt from a result's history (a cached result has
    no live progress): (step, stage, total, ftr, mse)."""
    rows = []
    for i, h in enumerate(result.history or []):
        rows.append((i + 1, int(h.get("stage", 0)), float(h.get("total", 0.0)), float(h.get("ftr", 0.0)),
                     float(h.get("mse", 0.0))))
    return rows
