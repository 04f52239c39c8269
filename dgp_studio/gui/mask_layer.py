"""The inpainting mask: painted in image pixels, undoable stroke by stroke, shown as an overlay.

The mask is one ARGB32 image the size of the photo: its alpha channel is the coverage
(255 = pixel to fill), its colour only the overlay tint.  It lives in image coordinates, so
the region selector decides which part of it goes to the model (``region_hole``).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QRadialGradient, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QGraphicsItem

from ..core.fsutil import atomic_target
from ..core.maskimage import fit_to_photo, read_fill_coverage

DEFAULT_COLOUR = QColor(255, 40, 90)


def alpha_view(img: QImage) -> np.ndarray:
    """HxW view of the alpha bytes of an ARGB32 image (little-endian BGRA), no copy."""
    h, bpl = img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl // 4, 4)
    return buf[:, :img.width(), 3]


def flood_region(free: np.ndarray, x: int, y: int) -> np.ndarray:
    """Scanline flood fill: the 4-connected part of ``free`` (bool HxW) that holds (x, y)."""
    h, w = free.shape
    out = np.zeros_like(free, dtype=bool)
    if not (0 <= x < w and 0 <= y < h) or not free[y, x]:
        return out
    stack = [(x, y)]
    while stack:
        sx, sy = stack.pop()
        if out[sy, sx] or not free[sy, sx]:
            continue
        row = free[sy]
        left_block = np.flatnonzero(~row[:sx])
        left = int(left_block[-1]) + 1 if left_block.size else 0
        right_block = np.flatnonzero(~row[sx:])
        right = sx + int(right_block[0]) if right_block.size else w
        out[sy, left:right] = True
        for ny in (sy - 1, sy + 1):
            if 0 <= ny < h:
                cand = free[ny, left:right] & ~out[ny, left:right]
                if cand.any():
                    edges = np.diff(np.concatenate(([False], cand)).astype(np.int8))
                    stack.extend((left + int(s), ny) for s in np.flatnonzero(edges == 1))
    return out


class _PatchCommand(QUndoCommand):
    """Swaps a rectangle of the mask between its before and after pixels."""

    def __init__(self, layer: "MaskLayer", rect: QRect, before: QImage, after: QImage, text: str):
        super().__init__(text)
        self.layer, self.rect, self.before, self.after = layer, QRect(rect), before, after
        self._first = True

    def _paste(self, patch: QImage) -> None:
        p = QPainter(self.layer.image)
        p.setCompositionMode(QPainter.CompositionMode_Source)
        p.drawImage(self.rect.topLeft(), patch)
        p.end()
        self.layer._recolour_rect(self.rect)
        self.layer.changed.emit(self.rect)

    def redo(self) -> None:
        if self._first:  # the edit is already on the image when the command is pushed
            self._first = False
            return
        self._paste(self.after)

    def undo(self) -> None:
        self._paste(self.before)


class MaskLayer(QObject):
    changed = Signal(QRect)          # image-pixel rectangle that changed

    def __init__(self, width: int, height: int, parent=None):
        super().__init__(parent)
        self.image = QImage(width, height, QImage.Format_ARGB32_Premultiplied)
        self.image.fill(Qt.transparent)
        self.colour = QColor(DEFAULT_COLOUR)
        self.brush_size = max(4.0, round(min(width, height) / 20))
        self.hardness = 0.8
        self.undo_stack = QUndoStack(self)
        self._before: QImage | None = None
        self._dirty = QRect()
        self._last: QPointF | None = None
        self._erase = False

    # -- basics ---------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        return self.image.width(), self.image.height()

    def coverage(self) -> np.ndarray:
        """HxW float32 in [0, 1]: 1 = pixel to fill."""
        return alpha_view(self.image).astype(np.float32) / 255.0

    def is_empty(self) -> bool:
        return not alpha_view(self.image).any()

    def hole_fraction(self, box=None) -> float:
        a = alpha_view(self.image)
        if box is not None:
            left, top, side = box
            a = a[top:top + side, left:left + side]
        return float((a >= 128).mean()) if a.size else 0.0

    def region_hole(self, box, size: int) -> np.ndarray:
        """Bool size x size: True = hole, the mask under the square ``box`` (left, top, side)
        resampled to the model's resolution (area average, then half coverage)."""
        left, top, side = box
        crop = np.ascontiguousarray(alpha_view(self.image)[top:top + side, left:left + side])
        small = Image.fromarray(crop, "L").resize((size, size), Image.BOX)
        return np.asarray(small) >= 128

    def set_colour(self, colour: QColor) -> None:
        self.colour = QColor(colour)
        self.colour.setAlpha(255)
        self._recolour_rect(self.image.rect())
        self.changed.emit(self.image.rect())

    def _recolour_rect(self, rect: QRect) -> None:
        p = QPainter(self.image)
        p.setCompositionMode(QPainter.CompositionMode_SourceIn)
        p.fillRect(rect, self.colour)
        p.end()

    # -- strokes --------------------------------------------------------------------------
    def begin_stroke(self, pos: QPointF, erase: bool = False) -> None:
        self._before = self.image.copy()
        self._dirty = QRect()
        self._erase = erase
        self._last = QPointF(pos)
        self._dab_line(pos, pos)

    def stroke_to(self, pos: QPointF) -> None:
        if self._before is None:
            return
        self._dab_line(self._last, pos)
        self._last = QPointF(pos)

    def end_stroke(self) -> None:
        if self._before is None:
            return
        rect = self._dirty.intersected(self.image.rect())
        if not rect.isEmpty():
            self._push(rect, self._before.copy(rect), "Erase" if self._erase else "Brush stroke")
        self._before = None
        self._last = None

    def _painter(self) -> QPainter:
        p = QPainter(self.image)
        p.setRenderHint(QPainter.Antialiasing)
        p.setPen(Qt.NoPen)
        p.setCompositionMode(QPainter.CompositionMode_DestinationOut if self._erase
                             else QPainter.CompositionMode_SourceOver)
        return p

    def _dab_line(self, a: QPointF, b: QPointF) -> None:
        r = self.brush_size / 2
        dist = math.hypot(b.x() - a.x(), b.y() - a.y())
        spacing = max(0.5, r * (0.15 if self.hardness < 0.99 else 0.3))
        n = max(1, int(dist / spacing))
        p = self._painter()
        steps = [0.0] if dist == 0 else [i / n for i in range(1, n + 1)]
        for t in steps:
            c = QPointF(a.x() + (b.x() - a.x()) * t, a.y() + (b.y() - a.y()) * t)
            if self.hardness >= 0.99:
                p.setBrush(self.colour)
            else:
                g = QRadialGradient(c, r)
                g.setColorAt(0.0, self.colour)
                g.setColorAt(max(0.0, min(0.98, self.hardness)), self.colour)
                edge = QColor(self.colour)
                edge.setAlpha(0)
                g.setColorAt(1.0, edge)
                p.setBrush(QBrush(g))
            p.drawEllipse(c, r, r)
        p.end()
        left, right = min(a.x(), b.x()) - r - 2, max(a.x(), b.x()) + r + 2
        top, bottom = min(a.y(), b.y()) - r - 2, max(a.y(), b.y()) + r + 2
        rect = QRect(int(left), int(top), int(right - left) + 1, int(bottom - top) + 1)
        self._dirty = self._dirty.united(rect)
        self.changed.emit(rect)

    # -- whole-mask and shape operations (each one undo step) ---------------------------
    def _edit(self, text: str, rect: QRect, fn) -> None:
        rect = QRect(rect).intersected(self.image.rect())
        if rect.isEmpty():
            return
        before = self.image.copy(rect)
        fn()
        self._push(rect, before, text)
        self.changed.emit(rect)

    def _push(self, rect: QRect, before: QImage, text: str) -> None:
        self.undo_stack.push(_PatchCommand(self, rect, before, self.image.copy(rect), text))

    def fill_rect(self, rect: QRect, erase: bool = False) -> None:
        rect = QRect(rect).normalized()

        def do():
            p = QPainter(self.image)
            p.setCompositionMode(QPainter.CompositionMode_Source)
            p.fillRect(rect, Qt.transparent if erase else self.colour)
            p.end()
        self._edit("Erase rectangle" if erase else "Rectangle", rect, do)

    def fill_all(self) -> None:
        self._edit("Fill mask", self.image.rect(), lambda: self.image.fill(self.colour))

    def clear(self) -> None:
        if not self.is_empty():
            self._edit("Clear mask", self.image.rect(), lambda: self.image.fill(Qt.transparent))

    def invert(self) -> None:
        def do():
            old = self.image.copy()
            self.image.fill(self.colour)
            p = QPainter(self.image)
            p.setCompositionMode(QPainter.CompositionMode_DestinationOut)
            p.drawImage(0, 0, old)
            p.end()
        self._edit("Invert mask", self.image.rect(), do)

    def bucket(self, pos: QPointF, erase: bool = False) -> bool:
        """Fill the enclosed unpainted area under ``pos`` (or clear the painted one with erase)."""
        x, y = int(pos.x()), int(pos.y())
        a = alpha_view(self.image)
        free = (a >= 128) if erase else (a < 128)
        region = flood_region(free, x, y)
        if not region.any():
            return False
        ys, xs = np.nonzero(region.any(axis=1))[0], np.nonzero(region.any(axis=0))[0]
        rect = QRect(int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1))

        def do():
            self._set_alpha(region, 0 if erase else 255)
        self._edit("Erase fill" if erase else "Fill area", rect, do)
        return True

    def _set_alpha(self, where: np.ndarray, value: int) -> None:
        h, bpl = self.image.height(), self.image.bytesPerLine()
        buf = np.frombuffer(self.image.bits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl // 4, 4)
        px = buf[:, :self.image.width()]
        if value:
            c = self.colour
            px[where] = (c.blue(), c.green(), c.red(), 255)
        else:
            px[where] = 0

    def set_from_array(self, coverage: np.ndarray, text: str = "Load mask") -> None:
        """Replace the mask with a HxW array (bool or 0..255/0..1), as one undo step."""
        a = np.asarray(coverage)
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        elif a.dtype != np.uint8:
            a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
        w, h = self.size
        if a.shape != (h, w):
            a = np.asarray(Image.fromarray(a, "L").resize((w, h), Image.NEAREST))

        def do():
            self.image.fill(Qt.transparent)
            h_, bpl = self.image.height(), self.image.bytesPerLine()
            buf = np.frombuffer(self.image.bits(), dtype=np.uint8, count=bpl * h_).reshape(h_, bpl // 4, 4)
            px = buf[:, :w]
            alpha = a.astype(np.uint16)
            c = self.colour  # premultiplied: colour scaled by coverage
            px[..., 0] = (alpha * c.blue() // 255).astype(np.uint8)
            px[..., 1] = (alpha * c.green() // 255).astype(np.uint8)
            px[..., 2] = (alpha * c.red() // 255).astype(np.uint8)
            px[..., 3] = a
        self._edit(text, self.image.rect(), do)

    # -- files ----------------------------------------------------------------------------
    def save_png(self, path) -> Path:
        """White = pixels to fill, as ``dgp-studio restore --mask`` reads it.  Atomic write."""
        path = Path(path)
        img = Image.fromarray(np.ascontiguousarray(alpha_view(self.image)), "L")
        with atomic_target(path) as tmp:
            img.save(tmp, format="PNG")
        return path

    def load_png(self, path, orientation: int = 1) -> bool:
        """Any image, read as ``restore --mask`` reads it (core.maskimage: white or erased = fill,
        the same size or aspect as the photo, or its stored size when ``orientation``, the photo's
        EXIF orientation, turned it; ``InputError`` otherwise).  True when it was turned."""
        cov, turned = fit_to_photo(read_fill_coverage(path), self.size, orientation)
        self.set_from_array(cov, "Load mask")
        return turned


class MaskItem(QGraphicsItem):
    """Draws the mask over the photo with a see-through tint."""

    def __init__(self, layer: MaskLayer, opacity: float = 0.5):
        super().__init__()
        self.layer = layer
        self.overlay_opacity = opacity
        self.clip_right: float | None = None   # draw only left of this x (the 'before' side)
        self.setZValue(2)
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption, True)
        layer.changed.connect(self._on_changed)

    def _on_changed(self, rect: QRect) -> None:
        self.update(QRectF(rect))

    def boundingRect(self) -> QRectF:
        return QRectF(self.layer.image.rect())

    def paint(self, painter: QPainter, option, widget=None) -> None:
        r = option.exposedRect.toAlignedRect().intersected(self.layer.image.rect())
        if self.clip_right is not None:
            r.setRight(min(r.right(), int(self.clip_right) - 1))
        if r.isEmpty():
            return
        painter.save()
        painter.setOpacity(self.overlay_opacity)
        painter.drawImage(r.topLeft(), self.layer.image, r)
        painter.restore()
