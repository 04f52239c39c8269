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


def qimage_to_array(img: QImage) -> np.ndarray:
    """QImage -> HxWx3 uint8 RGB copy."""
    img = img.convertToFormat(QImage.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, :3 * w].reshape(h, w, 3).copy()


def qimage_to_pil(img: QImage) -> Image.Image:
    return Image.fromarray(qimage_to_array(img))
