"""Writing results: atomic PNG with the alpha re-attached and settings as PNG text metadata."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .fsutil import atomic_target

METADATA_KEY = "dgp_studio"  # PNG text chunk holding the JSON record of how the file was made


class OverwriteError(ValueError):
    """Refusing to write over the user's original."""


def same_file(a, b) -> bool:
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_not_input(out, inputs) -> None:
    for src in inputs:
        if same_file(out, src):
            raise OverwriteError(f"{out}: is the input photo itself; choose another output name "
                                 "(originals are never overwritten)")


def with_alpha(img: Image.Image, alpha: Image.Image | None) -> Image.Image:
    """RGB result + the original's alpha (resized to fit when the result's size differs)."""
    if alpha is None:
        return img
    if alpha.size != img.size:
        alpha = alpha.resize(img.size, Image.BILINEAR)
    out = img.convert("RGB")
    out.putalpha(alpha)
    return out


def save_png(img, path, alpha: Image.Image | None = None, record: dict | None = None,
             exif: bytes | None = None) -> Path:
    """Write ``img`` (PIL or HxWx3 uint8) to ``path`` atomically; ``record`` goes into the
    ``dgp_studio`` text chunk as JSON (readable with ``read_record``); ``exif``: the original's
    EXIF block (``IntakeImage.exif``), kept with the result."""
    path = Path(path)
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    img = with_alpha(img, alpha)
    info = PngInfo()
    info.add_text("Software", "DGP Studio")
    if record is not None:
        info.add_text(METADATA_KEY, json.dumps(record, default=str))
    with atomic_target(path) as tmp:  # creates the folder too
        img.save(tmp, format="PNG", pnginfo=info, **({"exif": exif} if exif else {}))
    return path


# what a result file may be, by extension; PNG keeps the record and the alpha, the others what they can
RESULT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF",
                  ".tiff": "TIFF", ".bmp": "BMP", ".gif": "GIF"}


def result_format(path) -> str:
    """PIL format for an output name; ValueError (one line) for an extension that is not an image type."""
    fmt = RESULT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"{Path(path).name}: unknown image type '{Path(path).suffix}' "
                         "(use .png, .jpg, .webp, .tif, .bmp or .gif)")
    return fmt


def save_result(img, path, alpha: Image.Image | None = None, record: dict | None = None,
                exif: bytes | None = None, format: str | None = None, **save_kw) -> Path:
    """``save_png`` for .png; otherwise the format the extension (or ``format``) names, written
    atomically (JPEG and WebP at quality 95, JPEG without alpha; the record only fits in a PNG)."""
    path = Path(path)
    fmt = format or result_format(path)
    if fmt == "PNG" and not save_kw:
        return save_png(img, path, alpha=alpha, record=record, exif=exif)
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    if fmt in ("PNG", "WEBP", "TIFF"):
        img = with_alpha(img, alpha)
    elif fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    if fmt in ("JPEG", "WEBP"):
        save_kw.setdefault("quality", 95)
    if exif and fmt in ("PNG", "JPEG", "WEBP"):  # where EXIF has a place
        save_kw["exif"] = exif
    with atomic_target(path) as tmp:
        img.save(tmp, format=fmt, **save_kw)
    return path


def read_record(path) -> dict | None:
    """The JSON record DGP Studio embedded in a PNG, or None (not ours / unreadable)."""
    try:
        with Image.open(path) as im:
            raw = im.info.get(METADATA_KEY)
            if raw is None and hasattr(im, "text"):
                raw = im.text.get(METADATA_KEY)
    except Exception:
        return None
    if not raw:
        return None
    try:
        rec = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None
