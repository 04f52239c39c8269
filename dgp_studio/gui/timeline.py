"""The progressive reconstruction as it happens: live preview, snapshot strip with the stages
(which generator groups were being tuned), a loss curve per stage, GIF / image-sheet export.

``TimelineData`` is plain data kept per opened image; the widgets are views over it and
repaint at most a few times a second.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QSlider, QToolButton,
                               QVBoxLayout, QWidget)

from dgp_studio.core.sheets import write_gif

from . import icons
from .export import atomic_save
from .imageconv import qimage_to_pil
from .painting import paints

STAGE_COLOURS = ["#4c8dff", "#ff9f40", "#39c47a", "#d35ddb", "#f25f5c", "#2ec4d6", "#c9b800", "#8c6dff"]


def groups_text(ft: int) -> str:
    """Group 0 is G's first linear layer, group i is block i (DGP.md section 4)."""
    if ft <= 1:
        return "linear"
    return "linear + block 1" if ft == 2 else f"linear + blocks 1–{ft - 1}"


class TimelineData:
    """Everything one run leaves behind for the timeline."""

    def __init__(self):
        self.reset()

    def reset(self, preset=None, label: str = "") -> None:
        self.snapshots: list = []
        self.steps: list[int] = []
        self.stage_of: list[int] = []
        self.total: list[float] = []
        self.ftr: list[float] = []
        self.mse: list[float] = []
        self.stages: list[tuple[int, int, int]] = []   # (first step, iterations, groups tuned)
        self.total_steps = 0
        self.label = label
        self.finished = False
        if preset is not None:
            first = 1
            for s in range(preset.n_stages):
                n = int(preset.iterations[s])
                self.stages.append((first, n, int(preset.ft_num[s])))
                first += n
            self.total_steps = preset.total_iterations

    def add_rows(self, rows) -> None:
        for step, stage, total, ftr, mse in rows:
            self.steps.append(step)
            self.stage_of.append(stage)
            self.total.append(total)
            self.ftr.append(ftr)
            self.mse.append(mse)

    def add_snapshot(self, snap) -> None:
        self.snapshots.append(snap)

    def stage_label(self, s: int) -> str:
        if 0 <= s < len(self.stages):
            return f"Stage {s + 1} · {groups_text(self.stages[s][2])}"
        return f"Stage {s + 1}"


# -- export ------------------------------------------------------------------------------------------
def _frames(snapshots, size: int) -> list[Image.Image]:
    out = []
    for s in snapshots:
        im = qimage_to_pil(s.image)
        if im.width != size:
            im = im.resize((size, size), Image.LANCZOS if im.width > size else Image.BICUBIC)
        out.append(im)
    return out


def export_gif(snapshots, path, size: int = 256, frame_ms: int = 80, hold_ms: int = 1200):
    if not snapshots:
        raise ValueError("the timeline is empty: run a restoration first")
    frames = _frames(snapshots, size)
    return write_gif(frames, path, duration_ms=[frame_ms] * (len(frames) - 1) + [hold_ms])


def export_sheet(snapshots, path, data: TimelineData | None = None, cols: int = 8, size: int = 128):
    """A grid of the snapshots, each labelled with its stage and iteration."""
    if not snapshots:
        raise ValueError("the timeline is empty: run a restoration first")
    frames = _frames(snapshots, size)
    rows = math.ceil(len(frames) / cols)
    cap = 16
    sheet = Image.new("RGB", (cols * (size + 4) + 4, rows * (size + cap + 6) + 4), (24, 25, 28))
    draw = ImageDraw.Draw(sheet)
    for i, (f, s) in enumerate(zip(frames, snapshots)):
        x, y = 4 + (i % cols) * (size + 4), 4 + (i // cols) * (size + cap + 6)
        sheet.paste(f, (x, y))
        colour = STAGE_COLOURS[s.stage % len(STAGE_COLOURS)]
        draw.rectangle([x, y + size, x + size - 1, y + size + 2], fill=colour)
        draw.text((x + 2, y + size + 4), f"S{s.stage + 1} it {s.iteration}  #{s.step}", fill=(220, 220, 220))
    return atomic_save(sheet, path)


# -- widgets ------------------------------------------------------------------------------------------
class LossCurve(QWidget):
    """Total loss (log scale) against the step, one colour per stage; MSE dashed."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data: TimelineData | None = None
        self.marker_step: int | None = None
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def set_data(self, data: TimelineData | None) -> None:
        self.data = data
        self.update()

    def set_marker(self, step: int | None) -> None:
        self.marker_step = step
        self.update()

    @paints
    def paintEvent(self, p: QPainter, _e) -> None:
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(QPalette.Base))
        fg = pal.color(QPalette.Text)
        muted = QColor(fg)
        muted.setAlpha(110)
        m_l, m_r, m_t, m_b = 44, 8, 16, 16
        plot = QRectF(m_l, m_t, max(10, self.width() - m_l - m_r), max(10, self.height() - m_t - m_b))
        d = self.data
        p.setPen(muted)
        f = p.font()
        f.setPointSizeF(max(7.0, f.pointSizeF() * 0.85))
        p.setFont(f)
        if d is None or not d.steps:
            p.drawText(self.rect(), Qt.AlignCenter, "Loss curve: appears while a restoration runs")
            return
        total_steps = max(d.total_steps, d.steps[-1], 1)
        steps = np.asarray(d.steps, dtype=np.float64)
        tot = np.maximum(np.asarray(d.total, dtype=np.float64), 1e-8)
        mse = np.asarray(d.mse, dtype=np.float64)
        stage = np.asarray(d.stage_of)
        show_mse = bool((mse > 0).any())
        vals = np.concatenate([tot, mse[mse > 0]]) if show_mse else tot
        lo, hi = np.log10(vals.min()), np.log10(vals.max())
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5

        def X(s):
            return plot.left() + (s - 1) / max(1, total_steps - 1) * plot.width()

        def Y(v):
            return plot.bottom() - (np.log10(np.maximum(v, 1e-8)) - lo) / (hi - lo) * plot.height()

        # stage bands
        for i, (first, n, ft) in enumerate(d.stages):
            x0, x1 = X(first), X(first + n - 1)
            band = QColor(STAGE_COLOURS[i % len(STAGE_COLOURS)])
            band.setAlpha(22)
            # whole pixels, no antialiasing: translucent fills are the paint's costliest part
            p.fillRect(QRect(int(x0), int(plot.top()), max(1, int(x1 - x0)), int(plot.height())), band)
            p.setPen(QPen(muted, 1, Qt.DashLine))
            if i:
                p.drawLine(QPointF(x0, plot.top()), QPointF(x0, plot.bottom()))
            p.setPen(QColor(STAGE_COLOURS[i % len(STAGE_COLOURS)]))
            p.drawText(QRectF(x0 + 3, 0, max(1.0, x1 - x0), m_t), Qt.AlignLeft | Qt.AlignVCenter,
                       f"S{i + 1} · {groups_text(ft)}" if x1 - x0 > 90 else f"S{i + 1}")
        # axes
        p.setPen(muted)
        p.drawLine(plot.bottomLeft(), plot.bottomRight())
        p.drawLine(plot.bottomLeft(), plot.topLeft())
        for v in (lo, hi):
            y = plot.bottom() - (v - lo) / (hi - lo) * plot.height()
            p.drawText(QRectF(0, y - 8, m_l - 4, 16), Qt.AlignRight | Qt.AlignVCenter, f"{10 ** v:.3g}")
        p.drawText(QRectF(plot.left(), plot.bottom(), plot.width(), m_b), Qt.AlignRight | Qt.AlignVCenter,
                   f"step {int(steps[-1])} / {total_steps}")
        # decimate to one point per 2 px: the paint cost stays flat however long the run
        stride = max(1, int(math.ceil(len(steps) / (plot.width() / 2))))
        idx = np.arange(0, len(steps), stride)
        if idx[-1] != len(steps) - 1:
            idx = np.append(idx, len(steps) - 1)
        xs, ys = X(steps[idx]), Y(tot[idx])
        st = stage[idx]
        p.setRenderHint(QPainter.Antialiasing)
        for s in np.unique(st):
            sel = np.flatnonzero(st == s)
            path = QPainterPath(QPointF(xs[sel[0]], ys[sel[0]]))
            for j in sel[1:]:
                path.lineTo(xs[j], ys[j])
            p.setPen(QPen(QColor(STAGE_COLOURS[int(s) % len(STAGE_COLOURS)]), 1.6))
            p.drawPath(path)
        if show_mse:
            ym = Y(mse[idx])
            path = QPainterPath(QPointF(xs[0], ym[0]))
            for j in range(1, len(idx)):
                path.lineTo(xs[j], ym[j])
            p.setPen(QPen(muted, 1.0))  # solid: dash patterns make long paths slow to stroke
            p.drawPath(path)
            p.drawText(QRectF(plot.right() - 170, plot.top(), 166, 14), Qt.AlignRight,
                       "coloured: total   grey: MSE")
        if self.marker_step is not None:
            x = X(self.marker_step)
            p.setPen(QPen(fg, 1))
            p.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))


class SnapshotStrip(QWidget):
    """Thumbnails in order; a coloured band and a divider mark each stage.  Click or drag to scrub."""
    selected = Signal(int)

    THUMB = 60
    GAP = 4
    HEAD = 16

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data: TimelineData | None = None
        self.current = -1
        self._pix: dict[int, QPixmap] = {}
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMinimumHeight(self.THUMB + self.HEAD + 8)

    def set_data(self, data: TimelineData | None) -> None:
        self.data = data
        self._pix = {}
        self.current = -1
        self.refresh()

    def refresh(self) -> None:
        n = len(self.data.snapshots) if self.data else 0
        view = self.parentWidget().width() if self.parentWidget() is not None else 200
        self.setFixedWidth(max(view, n * (self.THUMB + self.GAP) + 8))  # at least the visible width
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(self.width(), self.THUMB + self.HEAD + 8)

    def _pixmap(self, i: int) -> QPixmap:
        pm = self._pix.get(i)
        if pm is None:
            img = self.data.snapshots[i].image
            pm = QPixmap.fromImage(img).scaled(self.THUMB, self.THUMB, Qt.KeepAspectRatio, Qt.SmoothTransformation)
            self._pix[i] = pm
        return pm

    def index_at(self, x: float) -> int:
        n = len(self.data.snapshots) if self.data else 0
        if not n:
            return -1
        return int(min(n - 1, max(0, (x - 4) // (self.THUMB + self.GAP))))

    def set_current(self, i: int, emit: bool = True) -> None:
        if self.data is None or not self.data.snapshots:
            return
        i = max(0, min(len(self.data.snapshots) - 1, i))
        if i != self.current:
            self.current = i
            self.update()
            if emit:
                self.selected.emit(i)

    def mousePressEvent(self, e) -> None:
        self.set_current(self.index_at(e.position().x()))

    def mouseMoveEvent(self, e) -> None:
        if e.buttons() & Qt.LeftButton:
            self.set_current(self.index_at(e.position().x()))

    def keyPressEvent(self, e) -> None:
        if e.key() in (Qt.Key_Left, Qt.Key_Right):
            self.set_current(self.current + (1 if e.key() == Qt.Key_Right else -1))
        else:
            super().keyPressEvent(e)

    @paints
    def paintEvent(self, p: QPainter, e) -> None:
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(QPalette.Base))
        d = self.data
        if d is None or not d.snapshots:
            p.setPen(pal.color(QPalette.PlaceholderText))
            p.drawText(self.rect(), Qt.AlignCenter, "Snapshots of the restoration appear here")
            return
        f = p.font()
        f.setPointSizeF(max(7.0, f.pointSizeF() * 0.85))
        p.setFont(f)
        vis = e.rect()
        prev_stage = None
        for i, s in enumerate(d.snapshots):
            x = 4 + i * (self.THUMB + self.GAP)
            colour = QColor(STAGE_COLOURS[s.stage % len(STAGE_COLOURS)])
            if s.stage != prev_stage:
                if prev_stage is not None:
                    p.setPen(QPen(pal.color(QPalette.Text), 2))
                    p.drawLine(x - self.GAP // 2, 0, x - self.GAP // 2, self.height())
                p.setPen(colour)
                fm = p.fontMetrics()
                p.drawText(x + 2, fm.ascent() + 1, d.stage_label(s.stage))
                prev_stage = s.stage
            if x + self.THUMB < vis.left() or x > vis.right():
                continue
            y = self.HEAD
            p.drawPixmap(x, y, self._pixmap(i))
            p.fillRect(x, y + self.THUMB, self.THUMB, 3, colour)
            if i == self.current:
                p.setPen(QPen(pal.color(QPalette.Highlight), 3))
                p.setBrush(Qt.NoBrush)
                p.drawRect(x - 1, y - 1, self.THUMB + 2, self.THUMB + 5)
        # keep the label of the stage under the left edge readable when scrolled into it
        left = self.visibleRegion().boundingRect().left()  # the scroll position, not the dirty rect
        first = max(0, min(len(d.snapshots) - 1, (left - 4) // (self.THUMB + self.GAP)))
        s = d.snapshots[first]
        start = next(i for i, q in enumerate(d.snapshots) if q.stage == s.stage)
        if 4 + start * (self.THUMB + self.GAP) < left:
            fm = p.fontMetrics()
            label = d.stage_label(s.stage)
            nxt = next((i for i, q in enumerate(d.snapshots) if q.stage > s.stage), len(d.snapshots))
            room = 4 + nxt * (self.THUMB + self.GAP) - self.GAP - left  # up to the next stage's label
            w = min(fm.horizontalAdvance(label) + 8, room)
            if w > 24:
                p.save()
                p.setClipRect(left, 0, w, self.HEAD)
                p.fillRect(left, 0, w, self.HEAD, pal.color(QPalette.Base))
                p.setPen(QColor(STAGE_COLOURS[s.stage % len(STAGE_COLOURS)]))
                p.drawText(left + 4, fm.ascent() + 1, label)
                p.restore()


class TimelinePanel(QWidget):
    """Live preview on the left; strip, scrub slider and loss curve on the right."""
    snapshotShown = Signal(object)        # the Snapshot being looked at (None = the final result)
    exportGifRequested = Signal()
    exportSheetRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data: TimelineData | None = None
        self.follow = True          # show the newest snapshot while a run goes on
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        left = QVBoxLayout()
        self.preview = QLabel()
        self.preview.setFixedSize(176, 176)
        self.preview.setAlignment(Qt.AlignCenter)
        self.preview.setObjectName("preview")
        self.caption = QLabel("No run yet")
        self.caption.setObjectName("hint")
        self.caption.setWordWrap(True)
        self.caption.setFixedWidth(176)
        left.addWidget(self.preview)
        left.addWidget(self.caption)
        left.addStretch(1)
        lay.addLayout(left)
        right = QVBoxLayout()
        bar = QHBoxLayout()
        self.info = QLabel("Each stage tunes more generator blocks, shallow to deep")
        self.info.setObjectName("hint")
        bar.addWidget(self.info)
        bar.addStretch(1)
        self.live_btn = QToolButton()
        self.live_btn.setText("Latest")
        self.live_btn.setToolTip("Jump to the newest snapshot and follow the run (End)")
        self.live_btn.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        icons.bind(self.live_btn, "mdi6.skip-next-outline")
        self.live_btn.clicked.connect(self.go_latest)
        self.gif_btn = QToolButton()
        self.gif_btn.setText("GIF…")
        self.gif_btn.setToolTip("Export the timeline as an animated GIF")
        self.gif_btn.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        icons.bind(self.gif_btn, "mdi6.filmstrip")
        self.gif_btn.clicked.connect(self.exportGifRequested)
        self.sheet_btn = QToolButton()
        self.sheet_btn.setText("Sheet…")
        self.sheet_btn.setToolTip("Export the snapshots as one labelled image")
        self.sheet_btn.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        icons.bind(self.sheet_btn, "mdi6.view-grid-outline")
        self.sheet_btn.clicked.connect(self.exportSheetRequested)
        for b in (self.live_btn, self.gif_btn, self.sheet_btn):
            bar.addWidget(b)
        right.addLayout(bar)
        self.strip = SnapshotStrip()
        self.strip.selected.connect(self._on_selected)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.strip)
        self.scroll.setWidgetResizable(False)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        self.scroll.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.scroll.setFixedHeight(SnapshotStrip.THUMB + SnapshotStrip.HEAD + 8 + 14)
        right.addWidget(self.scroll)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Scrub through the snapshots")
        self.slider.valueChanged.connect(lambda v: self.strip.set_current(v))
        right.addWidget(self.slider)
        self.curve = LossCurve()
        right.addWidget(self.curve, 1)
        lay.addLayout(right, 1)
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(150)   # repaint at most ~7 times a second while a run goes on
        self._timer.timeout.connect(self._repaint_if_dirty)
        self._timer.start()
        self.set_data(None)

    # -- data --------------------------------------------------------------------------------------
    def set_data(self, data: TimelineData | None) -> None:
        self.data = data
        self.strip.set_data(data)
        self.curve.set_data(data)
        self.follow = True
        self._sync_slider()
        if data is not None and data.snapshots:
            self.strip.set_current(len(data.snapshots) - 1, emit=False)
            self._show(len(data.snapshots) - 1, emit=False)
        else:
            self.preview.clear()
            self.preview.setText("—")
            self.caption.setText(data.label if data is not None and data.label else "No run yet")
        has = bool(data and data.snapshots)
        self.gif_btn.setEnabled(has)
        self.sheet_btn.setEnabled(has)

    def mark_dirty(self) -> None:
        """Called on new rows/snapshots; the actual repaint happens on the timer."""
        self._dirty = True

    def _repaint_if_dirty(self) -> None:
        if not self._dirty or self.data is None:
            return
        self._dirty = False
        self.strip.refresh()
        self.curve.update()
        self._sync_slider()
        n = len(self.data.snapshots)
        if n and self.follow:
            self.strip.set_current(n - 1, emit=False)
            self._show(n - 1, emit=True)
            self.scroll.horizontalScrollBar().setValue(self.scroll.horizontalScrollBar().maximum())
        has = n > 0
        self.gif_btn.setEnabled(has)
        self.sheet_btn.setEnabled(has)

    def _sync_slider(self) -> None:
        n = len(self.data.snapshots) if self.data else 0
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, n - 1))
        if self.strip.current >= 0:
            self.slider.setValue(self.strip.current)
        self.slider.blockSignals(False)

    def _on_selected(self, i: int) -> None:
        n = len(self.data.snapshots) if self.data else 0
        self.follow = i == n - 1 and not (self.data and self.data.finished)
        self.slider.blockSignals(True)
        self.slider.setValue(i)
        self.slider.blockSignals(False)
        self._show(i, emit=True)

    def _show(self, i: int, emit: bool) -> None:
        s = self.data.snapshots[i]
        pm = QPixmap.fromImage(s.image).scaled(self.preview.size(), Qt.KeepAspectRatio, Qt.SmoothTransformation)
        self.preview.setPixmap(pm)
        total = s.losses.get("total", float("nan"))
        self.caption.setText(f"{self.data.stage_label(s.stage)}\niteration {s.iteration} · step {s.step}"
                             f" · loss {total:.4g}")
        self.curve.set_marker(s.step)
        if emit:
            last = i == len(self.data.snapshots) - 1 and self.data.finished
            self.snapshotShown.emit(None if last else s)

    def go_latest(self) -> None:
        if self.data and self.data.snapshots:
            self.follow = not self.data.finished
            n = len(self.data.snapshots)
            self.strip.set_current(n - 1, emit=False)
            self._sync_slider()
            self._show(n - 1, emit=True)
            self.scroll.horizontalScrollBar().setValue(self.scroll.horizontalScrollBar().maximum())

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self.strip.refresh()

    def show_caption(self, text: str) -> None:
        self.caption.setText(text)
