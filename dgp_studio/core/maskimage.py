"""What a mask image means: one rule for the editor's "Load mask" and ``restore --mask``.

- Opaque image: its lightness; white = fill (what the editor's "Save mask" writes).
- With transparency and some opaque white paint: the white paint = fill (strokes painted
  on a clear layer); transparency only fades it.
- With transparency and only dark paint: the transparent part = fill (a hole erased out of
  a layer, as exported from GIMP / Photoshop).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import InputError

# EXIF orientations that swap width and height, and the transposition that shows the stored pixels upright
_EXIF_TURNS = {5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
               8: Image.Transpose.ROTATE_90}
TURNED_NOTE = ("the mask matches the photo's stored pixels, not the photo as shown: turned with the photo's "
               "EXIF orientation")


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


def fit_to_photo(cov: np.ndarray, size, orientation: int = 1) -> tuple[np.ndarray, bool]:
    """A mask's HxW coverage (0..255) at the photo's size as shown -> (uint8 coverage, turned).

    A mask of the photo's stored size, when its EXIF orientation swaps width and height, was
    drawn on the stored pixels (e.g. by a script that ignores EXIF): it is turned as the photo
    is.  Another size of the same aspect is resized; any other shape is refused (``InputError``)."""
    cov = np.asarray(cov)
    if cov.dtype != np.uint8:
        cov = np.clip(cov, 0, 255).astype(np.uint8)
    h, w = cov.shape
    W, H = size
    turn = _EXIF_TURNS.get(orientation)
    turned = turn is not None and (w, h) != (W, H) and abs(w / h - H / W) <= 0.01
    if turned:
        cov = np.asarray(Image.fromarray(cov).transpose(turn))
        h, w = cov.shape
    if (w, h) != (W, H):
        if abs(w / h - W / H) > 0.01:
            raise InputError(f"mask is {w}x{h} but the photo is {W}x{H}: draw the mask on the photo itself")
        cov = np.asarray(Image.fromarray(cov).resize((W, H), Image.NEAREST))
    return cov, turned


def read_fill_coverage(path) -> np.ndarray:
    """A mask file -> HxW uint8 coverage (255 = fill), orientation as the photo's intake."""
    from .intake import open_image  # intake imports a lot; masks are rare
    im = open_image(path)
    gray = np.asarray(im.rgb.convert("L"))
    return fill_coverage(gray, None if im.alpha is None else np.asarray(im.alpha))
