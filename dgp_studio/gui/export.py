"""Writing images the user asked for: atomic, never silently over the original photo."""
from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from ..core.fsutil import atomic_target
from ..core.intake import IMAGE_EXTENSIONS

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
           ".bmp": "BMP", ".gif": "GIF"}
EXPORT_FILTER = "PNG (*.png);;JPEG (*.jpg *.jpeg);;WebP (*.webp)"
OPEN_SUFFIXES = set(IMAGE_EXTENSIONS)  # what the CLI reads, the editor opens
OPEN_FILTER = f"Images ({' '.join('*' + e for e in IMAGE_EXTENSIONS)});;All files (*)"


def same_file(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve() or (Path(b).exists() and os.path.samefile(a, b))
    except OSError:
        return False


def format_for(path) -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"{Path(path).name}: choose .png, .jpg or .webp")
    return fmt


def atomic_save(img: Image.Image, path, **kwargs) -> Path:
    """Save through a temporary file in the same folder, then rename over the target."""
    path = Path(path)
    fmt = kwargs.pop("format", None) or format_for(path)
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    if fmt == "JPEG":
        kwargs.setdefault("quality", 95)
    if fmt == "WEBP":
        kwargs.setdefault("quality", 95)
    if not kwargs.get("exif") or fmt not in ("PNG", "JPEG", "WEBP"):  # where EXIF has a place
        kwargs.pop("exif", None)
    with atomic_target(path) as tmp:
        img.save(tmp, format=fmt, **kwargs)
    return path


def default_export_name(original, task: str, suffix: str = ".png") -> Path:
    """``photo.jpg`` -> ``photo_colorization.png`` next to it, numbered if taken."""
    original = Path(original)
    base = original.with_name(f"{original.stem}_{task}{suffix}")
    n = 2
    while base.exists():
        base = original.with_name(f"{original.stem}_{task}_{n}{suffix}")
        n += 1
    return base
