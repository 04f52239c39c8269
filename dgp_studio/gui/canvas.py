"""The canvas: the photo, the square region that goes through the model, the mask overlay,
the result with a before/after split, zoom and pan.

Tools are modes of the left mouse button; panning is always on the middle button and on
space + drag.  Everything is in image pixels (scene coordinates = photo pixels).
"""
from __future__ import annotations

import enum

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPalette, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QGraphicsView

from .mask_layer import MaskItem, MaskLayer

MIN_REGION = 16
ZOOM_STEP = 1.25
ZOOM_MIN, ZOOM_MAX = 0.02, 32.0


class Tool(enum.Enum):
    REGION = "region"
    BRUSH = "brush"
    ERASER = "eraser"
    RECT = "rect"
    BUCKET = "bucket"
    PAN = "pan"


class PhotoItem(QGraphicsItem):
    """The photo, drawn from a small pyramid of pre-scaled copies so that a zoomed-out 4K
    image repaints quickly and without aliasing."""

    def __init__(self, image: QImage):
        super().__init__()
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption, True)
        self.levels: list[QPixmap] = [QPixmap.fromImage(image)]
        self._size = QRectF(0, 0, image.width(), image.height())
        img = image
        while min(img.width(), img.height()) > 256:  # half-size copies down to ~256 px
            img = img.scaled(img.width() // 2, img.height() // 2, Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
            self.levels.append(QPixmap.fromImage(img))

    def set_image(self, image: QImage) -> None:
        self.__init__(image)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._size

    def paint(self, painter: QPainter, option, widget=None) -> None:
        scale = painter.worldTransform().m11()
        level = 0
        while level + 1 < len(self.levels) and scale * (2 ** (level + 1)) <= 1.0:
            level += 1
        pm = self.levels[level]
        f = self._size.width() / pm.width()
        exposed = option.exposedRect.intersected(self._size)
        src = QRectF(exposed.x() / f, exposed.y() / f, exposed.width() / f, exposed.height() / f)
        painter.save()
        painter.setRenderHint(QPainter.SmoothPixmapTransform, scale < 2.0)
        painter.drawPixmap(exposed, pm, src)
        painter.restore()


class ResultItem(QGraphicsItem):
    """The restored pixels over the photo; only the part right of ``split_x`` is drawn."""

    def __init__(self):
        super().__init__()
        self.pixmap: QPixmap | None = None
        self.target = QRectF()
        self.split_x: float | None = None
        self.setZValue(1)

    def set_result(self, pixmap: QPixmap | None, target: QRectF) -> None:
        self.prepareGeometryChange()
        self.pixmap, self.target = pixmap, QRectF(target)
        self.update()

    def set_split(self, x: float | None) -> None:
        self.split_x = x
        self.update()

    def boundingRect(self) -> QRectF:
        return self.target if self.pixmap is not None else QRectF()

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self.pixmap is None:
            return
        painter.save()  # the view paints with DontSavePainterState: leave the clip behind us
        if self.split_x is not None:
            clip = QRectF(self.target)
            clip.setLeft(max(self.target.left(), self.split_x))
            painter.setClipRect(clip)
        painter.setRenderHint(QPainter.SmoothPixmapTransform, True)
        painter.drawPixmap(self.target, self.pixmap, QRectF(self.pixmap.rect()))
        painter.restore()


class Canvas(QGraphicsView):
    regionChanged = Signal(tuple)        # (left, top, side) in image pixels
    zoomChanged = Signal(float)
    toolChanged = Signal(str)
    brushChanged = Signal(float)         # brush diameter (image px), e.g. after [ / ]
    hoverInfo = Signal(str)
    filesDropped = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.Antialiasing | QPainter.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.SmartViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.DontSavePainterState)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        self.setFrameShape(QGraphicsView.NoFrame)
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.tool = Tool.REGION
        self.mask: MaskLayer | None = None
        self.photo: PhotoItem | None = None
        self.mask_item: MaskItem | None = None
        self.result_item = ResultItem()
        self.result_focus = QRectF()
        self.result_note = ""
        self.region = (0, 0, 0)
        self.model_input_side: int | None = None  # what the region becomes for the model (set by the window)
        self.compare = False
        self.split = 0.5                  # fraction of the result's width showing the original
        self.holding_original = False
        self.empty_text = "Drop a photo here, or press Ctrl+O"
        self._drag = None                 # what the current left drag does
        self._pan_last = None
        self._space = False
        self._mouse_scene: QPointF | None = None
        self._rect_preview: QRectF | None = None
        self._fit_pending = True

    # -- document -------------------------------------------------------------------------
    def set_document(self, image: QImage | None, mask: MaskLayer | None, region=(0, 0, 0)) -> None:
        sc = self.scene()
        for item in list(sc.items()):
            sc.removeItem(item)
        self.result_item = ResultItem()
        self.photo, self.mask_item, self.mask = None, None, mask
        if image is None:
            sc.setSceneRect(QRectF())
            self.viewport().update()
            return
        self.photo = PhotoItem(image)
        sc.addItem(self.photo)
        sc.addItem(self.result_item)
        if mask is not None:
            self.mask_item = MaskItem(mask)
            sc.addItem(self.mask_item)
        margin = max(image.width(), image.height()) * 0.05
        sc.setSceneRect(QRectF(-margin, -margin, image.width() + 2 * margin, image.height() + 2 * margin))
        self.region = tuple(region)
        self.fit()

    def image_rect(self) -> QRectF:
        return self.photo.boundingRect() if self.photo else QRectF()

    def set_region(self, box, emit: bool = True) -> None:
        if not self.photo:
            return
        left, top, side = (int(round(v)) for v in box)
        w, h = int(self.image_rect().width()), int(self.image_rect().height())
        side = max(min(MIN_REGION, w, h), min(side, w, h))
        left = min(max(0, left), w - side)
        top = min(max(0, top), h - side)
        if (left, top, side) != self.region:
            self.region = (left, top, side)
            self.viewport().update()
            if emit:
                self.regionChanged.emit(self.region)

    def set_result(self, image: QImage | None, target: QRectF | None = None, focus: QRectF | None = None,
                   note: str = "") -> None:
        """``target``: where the result goes in image pixels (the region, or the whole photo
        for a full-resolution composite); ``focus``: the part that changed (the region it came
        from), which the before/after split divides."""
        if image is None:
            self.result_item.set_result(None, QRectF())
            self.result_focus = QRectF()
        else:
            target = target or QRectF(*self._region_rectf())
            self.result_item.set_result(QPixmap.fromImage(image), target)
            self.result_focus = QRectF(focus) if focus is not None else QRectF(target)
        self.result_note = note     # e.g. "preview · 64 px" while a snapshot is shown
        self._apply_split()

    def has_result(self) -> bool:
        return self.result_item.pixmap is not None

    # -- tools ----------------------------------------------------------------------------
    def set_tool(self, tool: Tool) -> None:
        self.tool = Tool(tool)
        self._update_cursor()
        self._update_mask_view()
        self.viewport().update()
        self.toolChanged.emit(self.tool.value)

    def set_brush_size(self, size: float) -> None:
        if self.mask is not None:
            self.mask.brush_size = float(max(1.0, min(2000.0, size)))
            self.brushChanged.emit(self.mask.brush_size)
            self.viewport().update()

    def _update_cursor(self) -> None:
        if self._space or self.tool == Tool.PAN:
            self.viewport().setCursor(Qt.OpenHandCursor)
        elif self.tool in (Tool.BRUSH, Tool.ERASER):
            self.viewport().setCursor(Qt.CrossCursor)
        elif self.tool in (Tool.RECT, Tool.BUCKET):
            self.viewport().setCursor(Qt.CrossCursor)
        else:
            self.viewport().setCursor(Qt.ArrowCursor)

    # -- compare --------------------------------------------------------------------------
    def set_compare(self, on: bool) -> None:
        self.compare = bool(on)
        self._apply_split()

    def set_split(self, frac: float) -> None:
        self.split = min(1.0, max(0.0, float(frac)))
        self._apply_split()

    def show_original(self, hold: bool) -> None:
        """Hold-to-see-original: hides the result while held."""
        self.holding_original = bool(hold)
        self.result_item.setVisible(not hold)
        self._update_mask_view()
        self.viewport().update()

    def _apply_split(self) -> None:
        t = self.result_focus
        self.result_item.set_split(t.left() + self.split * t.width() if self.compare else None)
        self._update_mask_view()
        self.viewport().update()

    def _update_mask_view(self) -> None:
        """The mask must not hide a result: over one it shows only on the 'before' side of the
        split, or while a mask tool is in hand."""
        if self.mask_item is None:
            return
        painting = self.tool in (Tool.BRUSH, Tool.ERASER, Tool.RECT, Tool.BUCKET)
        showing = self.has_result() and self.result_item.isVisible()
        if not showing:
            self.mask_item.clip_right = None
            self.mask_item.setVisible(True)
        elif self.compare:
            self.mask_item.clip_right = self.result_item.split_x
            self.mask_item.setVisible(True)
        else:
            self.mask_item.clip_right = None
            self.mask_item.setVisible(painting)
        self.mask_item.update()

    # -- zoom -----------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, z: float, anchor_view=None, keep_fit: bool = False) -> None:
        self._fit_pending = keep_fit  # a window resize re-fits only while the view is 'fit'
        z = min(ZOOM_MAX, max(ZOOM_MIN, z))
        if anchor_view is None:
            self.setTransformationAnchor(QGraphicsView.AnchorViewCenter)
        self.setTransform(QTransform.fromScale(z, z))
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.zoomChanged.emit(z)

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom() * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom() / ZOOM_STEP)

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def fit(self) -> None:
        """The photo and its margin (the scene rect) in view, without scroll bars.  The size is the
        viewport's as if it had no scroll bars: measured with them, a fit that made one appear
        shrank the viewport, the resize re-fitted smaller, the bar went away, and so on (seen:
        85,000 resize events, a 30 s freeze on a 4K photo)."""
        if not self.photo:
            return
        sr, vp = self.sceneRect(), self.maximumViewportSize()
        z = min(max(1, vp.width() - 2) / sr.width(), max(1, vp.height() - 2) / sr.height())
        self.set_zoom(z, keep_fit=True)
        self.centerOn(self.image_rect().center())

    def fit_region(self) -> None:
        left, top, side = self.region
        if side:
            vw, vh = max(1, self.viewport().width() - 24), max(1, self.viewport().height() - 24)
            self.set_zoom(min(vw, vh) / side)
            self.centerOn(left + side / 2, top + side / 2)

    def wheelEvent(self, e) -> None:
        if e.modifiers() & Qt.ShiftModifier or e.modifiers() & Qt.AltModifier:
            return super().wheelEvent(e)  # shift-wheel scrolls
        steps = e.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self.zoom() * (ZOOM_STEP ** steps), anchor_view=e.position())
        e.accept()

    # -- mouse ----------------------------------------------------------------------------
    def _region_rectf(self):
        left, top, side = self.region
        return (float(left), float(top), float(side), float(side))

    def _handle_radius_scene(self) -> float:
        return 7.0 / max(1e-6, self.zoom())

    def _region_hit(self, p: QPointF) -> str | None:
        left, top, side = self.region
        if not side:
            return None
        r = self._handle_radius_scene() * 1.6
        corners = {"tl": (left, top), "tr": (left + side, top), "bl": (left, top + side),
                   "br": (left + side, top + side)}
        for name, (cx, cy) in corners.items():
            if abs(p.x() - cx) <= r and abs(p.y() - cy) <= r:
                return name
        if left <= p.x() <= left + side and top <= p.y() <= top + side:
            return "move"
        return None

    def mousePressEvent(self, e) -> None:
        self.setFocus()
        if e.button() == Qt.MiddleButton or (e.button() == Qt.LeftButton and (self._space or self.tool == Tool.PAN)):
            self._pan_last = e.position()
            self.viewport().setCursor(Qt.ClosedHandCursor)
            e.accept()
            return
        if e.button() != Qt.LeftButton or not self.photo:
            return super().mousePressEvent(e)
        p = self.mapToScene(e.position().toPoint())
        alt = bool(e.modifiers() & Qt.AltModifier)
        if self.tool == Tool.REGION:
            hit = self._region_hit(p)
            left, top, side = self.region
            if hit == "move":
                self._drag = ("move", p, self.region)
            elif hit:  # resize from the opposite corner
                ox = left + side if hit in ("tl", "bl") else left
                oy = top + side if hit in ("tl", "tr") else top
                self._drag = ("resize", QPointF(ox, oy), self.region)
            else:
                self._drag = ("resize", p, self.region)
        elif self.tool in (Tool.BRUSH, Tool.ERASER) and self.mask is not None:
            self.mask.begin_stroke(p, erase=(self.tool == Tool.ERASER) != alt)
            self._drag = ("stroke",)
        elif self.tool == Tool.RECT and self.mask is not None:
            self._drag = ("rect", p, alt)
            self._rect_preview = QRectF(p, p)
        elif self.tool == Tool.BUCKET and self.mask is not None:
            self.viewport().setCursor(Qt.WaitCursor)
            self.mask.bucket(p, erase=alt)
            self._update_cursor()
        e.accept()

    def mouseMoveEvent(self, e) -> None:
        p = self.mapToScene(e.position().toPoint())
        old_cursor_rect = self._brush_rect()
        self._mouse_scene = p
        if self._pan_last is not None:
            d = e.position() - self._pan_last
            self._pan_last = e.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(d.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(d.y()))
            e.accept()
            return
        if self.photo:
            r = self.image_rect()
            if r.contains(p):
                self.hoverInfo.emit(f"x {int(p.x())}  y {int(p.y())}")
        if self._drag:
            kind = self._drag[0]
            if kind == "move":
                start, (l0, t0, s0) = self._drag[1], self._drag[2]
                self.set_region((l0 + p.x() - start.x(), t0 + p.y() - start.y(), s0))
            elif kind == "resize":
                anchor = self._drag[1]
                dx, dy = p.x() - anchor.x(), p.y() - anchor.y()
                side = max(abs(dx), abs(dy), MIN_REGION)
                left = anchor.x() if dx >= 0 else anchor.x() - side
                top = anchor.y() if dy >= 0 else anchor.y() - side
                self._set_region_resizing(left, top, side, anchor, dx >= 0, dy >= 0)
            elif kind == "stroke":
                self.mask.stroke_to(p)
            elif kind == "rect":
                self._rect_preview = QRectF(self._drag[1], p).normalized()
                self.viewport().update()
        if self.tool in (Tool.BRUSH, Tool.ERASER):
            self.viewport().update(old_cursor_rect.united(self._brush_rect()))
        elif self.tool == Tool.REGION and not self._drag and self.photo:
            hit = self._region_hit(p)
            cur = {"tl": Qt.SizeFDiagCursor, "br": Qt.SizeFDiagCursor, "tr": Qt.SizeBDiagCursor,
                   "bl": Qt.SizeBDiagCursor, "move": Qt.SizeAllCursor}.get(hit, Qt.CrossCursor)
            if not self._space:
                self.viewport().setCursor(cur)
        e.accept()

    def _set_region_resizing(self, left, top, side, anchor, right, down) -> None:
        """A square growing away from ``anchor``, kept inside the photo."""
        r = self.image_rect()
        max_x = r.width() - anchor.x() if right else anchor.x()
        max_y = r.height() - anchor.y() if down else anchor.y()
        side = max(MIN_REGION, min(side, max_x, max_y))
        left = anchor.x() if right else anchor.x() - side
        top = anchor.y() if down else anchor.y() - side
        self.set_region((left, top, side))

    def mouseReleaseEvent(self, e) -> None:
        if self._pan_last is not None and e.button() in (Qt.MiddleButton, Qt.LeftButton):
            self._pan_last = None
            self._update_cursor()
            e.accept()
            return
        if e.button() == Qt.LeftButton and self._drag:
            kind = self._drag[0]
            if kind == "stroke":
                self.mask.end_stroke()
            elif kind == "rect" and self._rect_preview is not None:
                rr = self._rect_preview.toAlignedRect()
                if rr.width() > 1 and rr.height() > 1:
                    self.mask.fill_rect(rr, erase=self._drag[2])
                self._rect_preview = None
            self._drag = None
            self.viewport().update()
            e.accept()
            return
        super().mouseReleaseEvent(e)

    def leaveEvent(self, e) -> None:
        old = self._brush_rect()
        self._mouse_scene = None
        self.viewport().update(old)
        super().leaveEvent(e)

    # -- keys: space-pan, hold-to-see-original, brush size ------------------------------
    def keyPressEvent(self, e) -> None:
        if e.isAutoRepeat() and e.key() in (Qt.Key_Space, Qt.Key_Backslash):
            e.accept()
            return
        if e.key() == Qt.Key_Space:
            self._space = True
            self._update_cursor()
            e.accept()
        elif e.key() == Qt.Key_Backslash:
            self.show_original(True)
            e.accept()
        else:
            super().keyPressEvent(e)

    def keyReleaseEvent(self, e) -> None:
        if e.isAutoRepeat():
            e.accept()
            return
        if e.key() == Qt.Key_Space:
            self._space = False
            self._update_cursor()
        elif e.key() == Qt.Key_Backslash:
            self.show_original(False)
        else:
            super().keyReleaseEvent(e)

    def focusOutEvent(self, e) -> None:
        self._space = False
        if self.holding_original:
            self.show_original(False)
        super().focusOutEvent(e)

    # -- drag and drop ----------------------------------------------------------------------
    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dragMoveEvent(self, e) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.filesDropped.emit(paths)
            e.acceptProposedAction()

    # -- drawing on top: dimmed outside the region, handles, brush outline, split line ------
    def _brush_rect(self) -> QRect:
        if self._mouse_scene is None or self.mask is None:
            return QRect()
        r = self.mask.brush_size / 2 + 2 / max(self.zoom(), 1e-6)
        c = self.mapFromScene(self._mouse_scene)
        rv = int(r * self.zoom()) + 4
        return QRect(c.x() - rv, c.y() - rv, 2 * rv, 2 * rv)

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        pal = self.palette()
        dark = pal.color(QPalette.Window).lightness() < 128
        painter.fillRect(rect, QColor(30, 31, 34) if dark else QColor(206, 208, 212))
        if self.photo:  # checkerboard-free drop shadow around the photo
            r = self.image_rect()
            shadow = QColor(0, 0, 0, 60)
            w = 4 / max(self.zoom(), 1e-6)
            painter.fillRect(r.translated(w, w), shadow)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if not self.photo:
            self._draw_empty(painter)
            return
        z = max(self.zoom(), 1e-6)
        left, top, side = self.region
        img = self.image_rect()
        reg = QRectF(left, top, side, side)
        if side and self.tool == Tool.REGION:
            path = QPainterPath()
            path.addRect(img)
            inner = QPainterPath()
            inner.addRect(reg)
            painter.fillPath(path.subtracted(inner), QColor(0, 0, 0, 90))
        if side:
            pen = QPen(QColor(255, 255, 255, 230), 1.5 / z)
            painter.setPen(pen)
            painter.setBrush(Qt.NoBrush)
            painter.drawRect(reg)
            pen = QPen(QColor(40, 130, 255), 1.5 / z, Qt.DashLine)
            painter.setPen(pen)
            painter.drawRect(reg)
            if self.tool == Tool.REGION:
                hr = self._handle_radius_scene()
                painter.setPen(QPen(QColor(40, 130, 255), 1.5 / z))
                painter.setBrush(QColor(255, 255, 255))
                for cx, cy in ((left, top), (left + side, top), (left, top + side), (left + side, top + side)):
                    painter.drawRect(QRectF(cx - hr / 2 * 1.4, cy - hr / 2 * 1.4, hr * 1.4, hr * 1.4))
                n = self.model_input_side
                to = f"{n} px model input" if n else "model"
                self._draw_label(painter, QPointF(left, top), f"{side} × {side} px → {to}", z)
        if self.compare and self.has_result() and self.result_item.isVisible():
            t = self.result_focus
            x = t.left() + self.split * t.width()
            painter.setPen(QPen(QColor(255, 255, 255), 2 / z))
            painter.drawLine(QPointF(x, t.top()), QPointF(x, t.bottom()))
            self._draw_label(painter, QPointF(t.left(), t.bottom()), "before", z, below=False, anchor_bottom=True)
            self._draw_label(painter, QPointF(t.right(), t.bottom()), "after", z, below=False,
                             anchor_bottom=True, right=True)
        if self.holding_original:
            self._draw_label(painter, QPointF(img.left(), img.top()), "original", z)
        elif self.result_note and self.has_result():
            f = self.result_focus
            self._draw_label(painter, QPointF(f.right(), f.top()), self.result_note, z, right=True, inside=True)
        if self._rect_preview is not None:
            painter.setPen(QPen(QColor(255, 255, 255), 1 / z, Qt.DashLine))
            painter.setBrush(QColor(255, 40, 90, 60))
            painter.drawRect(self._rect_preview)
        if self._mouse_scene is not None and self.mask is not None and self.tool in (Tool.BRUSH, Tool.ERASER):
            r = self.mask.brush_size / 2
            c = self._mouse_scene
            painter.setBrush(Qt.NoBrush)
            painter.setPen(QPen(QColor(0, 0, 0, 160), 3 / z))
            painter.drawEllipse(c, r, r)
            painter.setPen(QPen(QColor(255, 255, 255), 1.2 / z))
            painter.drawEllipse(c, r, r)
            if self.mask.hardness < 0.99:
                painter.setPen(QPen(QColor(255, 255, 255, 140), 1 / z, Qt.DotLine))
                painter.drawEllipse(c, r * self.mask.hardness, r * self.mask.hardness)

    def _draw_label(self, painter, at: QPointF, text: str, z: float, below=False, anchor_bottom=False, right=False,
                    inside=False):
        painter.save()
        painter.resetTransform()
        v = self.mapFromScene(at)
        fm = painter.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 12, fm.height() + 6
        x = v.x() - w - (4 if inside else 0) if right else v.x()
        y = v.y() + 4 if inside else v.y() - h - 4
        if y < 2:
            y = v.y() + 4
        vr = self.viewport().rect()  # keep labels on screen when the photo is larger than the view
        x = min(max(2, x), vr.width() - w - 2)
        y = min(max(2, y), vr.height() - h - 2)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(20, 22, 26, 200))
        painter.drawRoundedRect(QRectF(x, y, w, h), 4, 4)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(QRectF(x, y, w, h), Qt.AlignCenter, text)
        painter.restore()

    def _draw_empty(self, painter: QPainter) -> None:
        painter.save()
        painter.resetTransform()
        vr = self.viewport().rect()
        pal = self.palette()
        col = pal.color(QPalette.PlaceholderText)
        pen = QPen(col, 2, Qt.DashLine)
        painter.setPen(pen)
        box = QRectF(vr).adjusted(40, 40, -40, -40)
        painter.drawRoundedRect(box, 16, 16)
        f = painter.font()
        f.setPointSizeF(f.pointSizeF() * 1.5)
        painter.setFont(f)
        painter.drawText(box, Qt.AlignCenter | Qt.TextWordWrap, self.empty_text)
        painter.restore()

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        if self._fit_pending and self.photo:
            self.fit()

    def showEvent(self, e) -> None:
        super().showEvent(e)
        if self.photo and self._fit_pending:
            self.fit()
