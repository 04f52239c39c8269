"""Checked readers for user files: every failure is an ``InputError`` with one line.

- ``read_image(src)``: path or bytes -> 8-bit RGB PIL image (EXIF orientation applied).
  When ``dgp_studio.core.intake`` (the full intake: 16-bit, CMYK, alpha notes) is in use,
  prefer it; this is the minimal checked path the project files and tests rely on.
- ``read_mask(src, size=None)``: path, bytes or array -> HxW float32 array, 1 = known pixel
  (the engine's convention; white in a PNG = known).  ``size`` resizes it (nearest) to (w, h).

Untrusted files can make the decoder fail in many ways (truncation, bad headers, huge sizes);
all of them become ``InputError``; none is allowed to escape as a crash.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError

MAX_PIXELS = 200_000_000  # refuse decompression bombs above this many pixels


def _name(src, name=None) -> str:
    return name or (str(src) if isinstance(src, (str, Path)) else "image data")


def _open(src):
    if isinstance(src, (bytes, bytearray, memoryview)):
        return Image.open(io.BytesIO(bytes(src)))
    p = Path(src)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not an image")
    return Image.open(p)


def _decode(src, mode: str, name: str | None = None) -> Image.Image:
    name = _name(src, name)
    try:
        with _open(src) as im:
            w, h = im.size
            if w <= 0 or h <= 0:
                raise InputError(f"{name}: image has no pixels")
            if w * h > MAX_PIXELS:
                raise InputError(f"{name}: {w}x{h} is too large to open ({w * h / 1e6:.0f} megapixels)")
            im = ImageOps.exif_transpose(im)
            out = im.convert(mode)
            out.load()
            return out
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{name}: not an image, or a format this program cannot read") from None
    except Exception as e:  # noqa: BLE001 - decoders raise anything on hostile input
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{name}: not a readable image, or truncated ({detail})") from None


def read_image(src, name: str | None = None) -> Image.Image:
    """``name``: how to call the source in messages (default: the path)."""
    return _decode(src, "RGB", name)


def read_mask(src, size: tuple[int, int] | None = None, name: str | None = None) -> np.ndarray:
    if isinstance(src, np.ndarray):
        arr = src
        if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
            arr = arr[..., 0]
        if arr.ndim != 2 or arr.size == 0:
            raise InputError(f"mask must be a 2-D array, got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
            raise InputError(f"mask must hold numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise InputError("mask holds NaN or infinite values")
        if arr.max(initial=0) > 1:
            arr = arr / 255.0
        img = Image.fromarray(((arr > 0.5) * 255).astype(np.uint8), "L")
    else:
        img = _decode(src, "L", name)
    if size is not None and img.size != tuple(size):
        img = img.resize(tuple(size), Image.NEAREST)
    return (np.asarray(img, dtype=np.uint8) > 127).astype(np.float32)
