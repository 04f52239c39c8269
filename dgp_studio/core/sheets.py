"""Several rendered images written as one file: a grid sheet or an animated GIF.

The generator renders at its own resolution (64 px for the bundled prior).  Stills keep those
exact pixels unless asked otherwise; a GIF, which is only for looking at, is enlarged to
VIEW_SIZE first.  The editor and the command line write jitter grids, morph sequences and
timeline GIFs through these functions, so a morph exported from either looks the same.
"""
from __future__ import annotations

import math
from pathlib import Path

from PIL import Image

from .export import save_result

VIEW_SIZE = 256  # side of an exported GIF's frames (the editor's), and the CLI's --size example


def enlarge(img: Image.Image, size: int | None) -> Image.Image:
    """``img`` enlarged (bicubic) so that its long side is ``size`` px; an image already that
    large, or ``size`` None or 0, is kept as rendered."""
    w, h = img.size
    if not size or max(w, h) >= size:
        return img
    scale = size / max(w, h)
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)


def grid_sheet(images, cols: int | None = None, background=(0, 0, 0)) -> Image.Image:
    """The images (all of one size) in rows of ``cols`` (default: as square as possible)."""
    images = list(images)
    if not images:
        raise ValueError("nothing to put on a sheet")
    cols = max(1, min(cols or math.ceil(math.sqrt(len(images))), len(images)))
    rows = math.ceil(len(images) / cols)
    w, h = images[0].size
    sheet = Image.new("RGB", (cols * w, rows * h), background)
    for i, im in enumerate(images):
        sheet.paste(im.convert("RGB"), ((i % cols) * w, (i // cols) * h))
    return sheet


def write_gif(frames, path, duration_ms=90, pingpong: bool = False) -> Path:
    """An endlessly looping GIF, written atomically.  ``duration_ms``: one value or one per
    frame; ``pingpong``: play forward, then back (a morph that returns to its start without a jump)."""
    frames = [f.convert("RGB") for f in frames]
    if not frames:
        raise ValueError("no frames to write")
    durations = list(duration_ms) if isinstance(duration_ms, (list, tuple)) else [duration_ms] * len(frames)
    if len(durations) != len(frames):
        raise ValueError(f"{len(durations)} durations for {len(frames)} frames")
    if pingpong:  # A .. B .. (without repeating either end)
        frames = frames + frames[-2:0:-1]
        durations = durations + durations[-2:0:-1]
    # one adaptive palette per frame: the colours of a morph drift from A's to B's
    pal = [f.convert("P", palette=Image.ADAPTIVE) for f in frames]
    return save_result(pal[0], path, format="GIF", save_all=True, append_images=pal[1:],
                       duration=durations, loop=0)


def frame_path(stem, i: int) -> Path:
    """The ``i``-th of a numbered sequence: ``<stem>_000.png``, ``<stem>_001.png`` ..."""
    stem = Path(stem)
    return stem.with_name(f"{stem.name}_{i:03d}.png")


def write_frames(frames, stem) -> list[Path]:
    """Numbered PNGs ``frame_path(stem, i)`` (each atomic)."""
    return [save_result(f, frame_path(stem, i)) for i, f in enumerate(frames)]
