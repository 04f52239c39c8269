"""Photo -> model input -> result -> photo.

``model_input`` crops the square region and resizes it for the model; ``composite_back`` is
the one place where a result goes back into the full-resolution photo (the engine's
``composite`` module from issue 7 plugs in here; without it the editor shows the region at
the model's resolution, scaled onto the canvas).
"""
from __future__ import annotations

import numpy as np

from dgp_studio.core.degradations import make_degradation
from dgp_studio.core.imaging import fit_square

from .worker import Job


class InputError(ValueError):
    """Something the user must change before running (shown as a message)."""


def needs_mask(task: str, hybrid_parts=()) -> bool:
    return task == "inpainting" or (task == "hybrid" and "inpainting" in hybrid_parts)


def low_res(task: str, hybrid_parts=()) -> bool:
    return task == "super-resolution" or (task == "hybrid" and "sr" in hybrid_parts)


def input_side(resolution: int, task: str, factor: int = 4, hybrid_parts=()) -> int:
    """Side of the square the model sees: res/f for super-resolution, res otherwise."""
    return resolution // factor if low_res(task, hybrid_parts) else resolution


def model_input(doc, resolution: int, task: str, factor: int = 4, hybrid_parts=()):
    """(PIL image the model sees, hole mask at model resolution or None).

    Super-resolution treats the region as the low-resolution photo: it goes in at res/f."""
    box = doc.region
    image = fit_square(doc.image, input_side(resolution, task, factor, hybrid_parts), box=box)
    hole = None
    if needs_mask(task, hybrid_parts):
        hole = doc.mask.region_hole(box, resolution)
        if not hole.any():
            raise InputError("Paint the part to fill first: choose the brush (B) or rectangle (R) and paint "
                             "inside the blue square. The mask outside the square is not used.")
        if hole.all():
            raise InputError("The whole region is masked: leave some of the photo visible so the "
                             "model has something to match.")
    return image, hole


def degradation_for(task: str, hole=None, factor: int = 4, hybrid_parts=()):
    known = None if hole is None else (~hole).astype(np.float32)
    if task == "hybrid":
        if not hybrid_parts:
            raise InputError("Hybrid: tick at least one degradation to combine.")
        return make_degradation("hybrid", mask=known, scale=factor, hybrid_parts=hybrid_parts)
    if task == "super-resolution":
        return make_degradation("sr", scale=factor)
    return make_degradation(task, mask=known)


def build_job(doc, gan, task: str, preset, class_id, seed: int, factor: int = 4, hybrid_parts=(),
              label: str = "", with_composite: bool = True) -> Job:
    image, hole = model_input(doc, gan.resolution, task, factor, hybrid_parts)
    deg = degradation_for(task, hole, factor, hybrid_parts)
    box = tuple(doc.region)
    job = Job(doc.id, image, deg, preset, class_id, seed, task, box, hole, label)
    if with_composite:
        full = full_res_hole(doc, box) if hole is not None else None
        job.full_hole = full
        job.finalize = lambda result: composite_back(doc, result, box, task, full)  # runs on the worker
    return job


def composite_back(doc, result, box, task: str, hole=None):
    """The result written back into the full photo (PIL, the photo's size), or None when the
    task's result is the region itself (super-resolution, reconstruct) or the engine has no
    composite module.  The one place where issue 7's full-resolution composite plugs in.
    ``hole``: bool mask at the photo's size (True = filled) or at the model's."""
    try:
        from dgp_studio.core import composite
    except ImportError:
        return None
    fn = getattr(composite, "composite_result", None)
    if fn is None:
        return None
    try:
        return fn(doc.image, result, box, task=task, hole=hole)
    except Exception:  # noqa: BLE001 - fall back to the region view rather than lose the result
        return None


def full_res_hole(doc, box):
    """The painted mask at the photo's size, limited to the square ``box``."""
    left, top, side = box
    hole = np.zeros((doc.image.height, doc.image.width), dtype=bool)
    hole[top:top + side, left:left + side] = doc.mask.coverage()[top:top + side, left:left + side] >= 0.5
    return hole
