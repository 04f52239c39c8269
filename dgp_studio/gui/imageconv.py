"""Conversions between the engine's images (PIL, uint8 arrays, [-1, 1] tensors) and QImage.

QImage (not QPixmap) is safe to build in worker threads; views turn it into a pixmap.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage


def array_to_qimage(arr: np.ndarray) -> QImage:
    """HxWx3 (RGB) or HxW (gray) uint8 -> QImage that owns its pixels."""
    arr = np.ascontiguousarray(arr)
    if arr.ndim == 2:
        h, w = arr.shape
        return QImage(arr.data, w, h, w, QImage.Format_Grayscale8).copy()
    h, w, c = arr.shape
    if c == 4:
        return QImage(arr.data, w, h, 4 * w, QImage.Format_RGBA8888).copy()
    return QImage(arr.data, w, h, 3 * w, QImage.Format_RGB888).copy()


def pil_to_qimage(img: Image.Image) -> QImage:
    if img.mode not in ("RGB", "RGBA", "L"):
        img = img.convert("RGB")
    return array_to_qimage(np.asarray(img))


def tensor_to_qimage(t) -> QImage:
    from dgp_studio.core.imaging import to_uint8
    return array_to_qimage(to_uint8(t))


def _pixels(img: QImage, fmt, channels: int) -> np.ndarray:
    """HxWxchannels uint8 copy of ``img`` in ``fmt`` (rows are padded to bytesPerLine)."""
    img = img.convertToFormat(fmt)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, :channels * w].reshape(h, w, channels).copy()


def qimage_to_array(img: QImage) -> np.ndarray:
    """QImage -> HxWx3 uint8 RGB copy."""
    return _pixels(img, QImage.Format_RGB888, 3)


def qimage_to_rgba_array(img: QImage) -> np.ndarray:
    """QImage -> HxWx4 uint8 RGBA copy (non-premultiplied)."""
    return _pixels(img, QImage.Format_RGBA8888, 4)


def qimage_to_pil(img: QImage) -> Image.Image:
    return Image.fromarray(qimage_to_array(img))
