"""Writing images the user asked for: atomic, never silently over the original photo."""
from __future__ import annotations

from pathlib import Path

from ..core.export import same_file, save_result
from ..core.intake import IMAGE_EXTENSIONS

__all__ = ["EXPORT_FILTER", "OPEN_FILTER", "OPEN_SUFFIXES", "atomic_save", "default_export_name", "same_file"]

EXPORT_FILTER = "PNG (*.png);;JPEG (*.jpg *.jpeg);;WebP (*.webp)"
OPEN_SUFFIXES = set(IMAGE_EXTENSIONS)  # what the CLI reads, the editor opens
OPEN_FILTER = f"Images ({' '.join('*' + e for e in IMAGE_EXTENSIONS)});;All files (*)"

atomic_save = save_result  # the editor's exports: format by extension (or format=), atomic, EXIF where it fits


def default_export_name(original, task: str, suffix: str = ".png") -> Path:
    """``photo.jpg`` -> ``photo_colorization.png`` next to it, numbered if taken."""
    original = Path(original)
    base = original.with_name(f"{original.stem}_{task}{suffix}")
    n = 2
    while base.exists():
        base = original.with_name(f"{original.stem}_{task}_{n}{suffix}")
        n += 1
    return base
