"""Small image widgets for the manipulation views: one scaled image with a caption, and a grid."""
from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .painting import paints


class ImageView(QWidget):
    """Draws one image as large as fits, keeping its aspect, with a caption under it."""

    def __init__(self, caption: str = "", parent=None, placeholder: str = ""):
        super().__init__(parent)
        self.image: QImage | None = None
        self.caption = caption
        self.placeholder = placeholder
        self.setMinimumSize(120, 140)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def set_image(self, image: QImage | None, caption: str | None = None) -> None:
        self.image = image
        if caption is not None:
            self.caption = caption
        self.update()

    def image_rect(self) -> QRectF:
        cap = self.fontMetrics().height() + 8
        avail = QRectF(self.rect()).adjusted(6, 6, -6, -6 - cap)
        if self.image is None or avail.width() <= 0 or avail.height() <= 0:
            return avail
        s = min(avail.width() / self.image.width(), avail.height() / self.image.height())
        w, h = self.image.width() * s, self.image.height() * s
        return QRectF(avail.center().x() - w / 2, avail.center().y() - h / 2, w, h)

    @paints
    def paintEvent(self, p: QPainter, _e) -> None:
        pal = self.palette()
        r = self.image_rect()
        if self.image is None:
            p.setPen(QPen(pal.color(QPalette.PlaceholderText), 1.5, Qt.DashLine))
            p.drawRoundedRect(r, 8, 8)
            p.drawText(r.adjusted(8, 8, -8, -8), Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
        else:
            # small model outputs look best enlarged smoothly; the frame marks the image's edge
            p.setRenderHint(QPainter.SmoothPixmapTransform, True)
            p.drawImage(r, self.image)
            p.setPen(QPen(pal.color(QPalette.Mid), 1))
            p.drawRect(r)
        p.setPen(pal.color(QPalette.WindowText))
        p.drawText(QRectF(0, r.bottom() + 4, self.width(), self.fontMetrics().height() + 4),
                   Qt.AlignHCenter | Qt.AlignTop, self.caption)


class ImageGrid(QWidget):
    """A grid of images with labels; click selects (``clicked``), double-click activates."""
    clicked = Signal(int)
    activated = Signal(int)

    def __init__(self, parent=None, placeholder: str = ""):
        super().__init__(parent)
        self.images: list[QImage | None] = []
        self.labels: list[str] = []
        self.selected = -1
        self.placeholder = placeholder
        self.min_cell = 120
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(200, 160)

    def set_items(self, images, labels=None) -> None:
        self.images = list(images)
        self.labels = list(labels) if labels is not None else [""] * len(self.images)
        if self.selected >= len(self.images):
            self.selected = -1
        self.update()

    def set_item(self, i: int, image, label: str | None = None) -> None:
        while len(self.images) <= i:
            self.images.append(None)
            self.labels.append("")
        self.images[i] = image
        if label is not None:
            self.labels[i] = label
        self.update()

    def _layout(self):
        n = max(1, len(self.images))
        w, h = max(1, self.width() - 8), max(1, self.height() - 8)
        cap = self.fontMetrics().height() + 4
        best = (1, 1, 10.0)
        for cols in range(1, n + 1):  # the column count giving the largest cells
            rows = math.ceil(n / cols)
            cell = min(w / cols, h / rows - cap)
            if cell > best[2]:
                best = (cols, rows, cell)
        return best[0], best[2], cap

    def cell_rect(self, i: int) -> QRectF:
        cols, cell, cap = self._layout()
        x = 4 + (i % cols) * cell
        y = 4 + (i // cols) * (cell + cap)
        return QRectF(x + 3, y + 3, cell - 6, cell - 6)

    def index_at(self, pos) -> int:
        for i in range(len(self.images)):
            if self.cell_rect(i).contains(pos):
                return i
        return -1

    def mousePressEvent(self, e) -> None:
        i = self.index_at(e.position())
        if i >= 0:
            self.selected = i
            self.update()
            self.clicked.emit(i)

    def mouseDoubleClickEvent(self, e) -> None:
        i = self.index_at(e.position())
        if i >= 0:
            self.activated.emit(i)

    def sizeHint(self) -> QSize:
        return QSize(480, 360)

    @paints
    def paintEvent(self, p: QPainter, _e) -> None:
        pal = self.palette()
        if not self.images:
            p.setPen(QPen(pal.color(QPalette.PlaceholderText), 1.5, Qt.DashLine))
            r = QRectF(self.rect()).adjusted(8, 8, -8, -8)
            p.drawRoundedRect(r, 8, 8)
            p.drawText(r.adjusted(12, 12, -12, -12), Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
            return
        p.setRenderHint(QPainter.SmoothPixmapTransform, True)
        for i, img in enumerate(self.images):
            r = self.cell_rect(i)
            if img is None:
                p.fillRect(r, pal.color(QPalette.AlternateBase))
                p.setPen(pal.color(QPalette.PlaceholderText))
                p.drawText(r, Qt.AlignCenter, "queued…")
            else:
                p.drawImage(r, img)
            if i == self.selected:
                p.setPen(QPen(pal.color(QPalette.Highlight), 3))
                p.drawRect(r.adjusted(-2, -2, 2, 2))
            if self.labels[i]:
                p.setPen(pal.color(QPalette.WindowText))
                p.drawText(QRectF(r.left(), r.bottom() + 2, r.width(), self.fontMetrics().height() + 2),
                           Qt.AlignHCenter | Qt.AlignTop, self.labels[i])
