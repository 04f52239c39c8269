"""What a mask image means: one rule for the editor's "Load mask" and ``restore --mask``.

- Opaque image: its lightness; white = fill (what the editor's "Save mask" writes).
- With transparency and some opaque white paint: the white paint = fill (strokes painted
  on a clear layer); transparency only fades it.
- With transparency and only dark paint: the transparent part = fill (a hole erased out of
  a layer, as exported from GIMP / Photoshop).
"""
from __future__ import annotations

import numpy as np


def fill_coverage(gray: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """HxW lightness (and alpha, or None) 0..255 -> HxW uint8 coverage, 255 = fill."""
    g = np.asarray(gray, dtype=np.float32)
    if alpha is None or int(np.min(alpha)) == 255:
        cov = g
    else:
        a = np.asarray(alpha, dtype=np.float32)
        white_paint = (g > 127) & (a > 127)
        cov = g * (a / 255.0) if white_paint.any() else 255.0 - a
    return np.clip(cov + 0.5, 0, 255).astype(np.uint8)


def read_fill_coverage(path) -> np.ndarray:
    """A mask file -> HxW uint8 coverage (255 = fill), orientation as the photo's intake."""
    from .intake import open_image  # intake imports a lot; masks are rare
    im = open_image(path)
    gray = np.asarray(im.rgb.convert("L"))
    return fill_coverage(gray, None if im.alpha is None else np.asarray(im.alpha))
