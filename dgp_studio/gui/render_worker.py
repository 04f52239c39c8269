"""Interactive renders (jitter, transfer, morph frames) off the UI thread.

Each *channel* keeps at most one pending request: a new request replaces the one still
waiting (the stale one is dropped unrendered), so dragging a slider never builds a queue.
A finished render carries its request id; the view shows it only if nothing newer has been
shown on that channel.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

from PySide6.QtCore import QThread, Signal

from .imageconv import tensor_to_qimage


class RenderWorker(QThread):
    rendered = Signal(str, int, object, object)     # channel, request id, list[QImage], extra
    failed = Signal(str, int, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: OrderedDict[str, tuple[int, object]] = OrderedDict()
        self._next_id = 0
        self._stop = False
        self.dropped = 0            # requests replaced before they were rendered
        self.done = 0
        self.last_ms = 0.0

    def request(self, channel: str, fn) -> int:
        """``fn()`` runs on the render thread and returns a tensor batch (N x 3 x H x W), a
        list of 1 x 3 x H x W tensors, or (that, extra)."""
        with self._cond:
            self._next_id += 1
            rid = self._next_id
            if channel in self._pending:
                self.dropped += 1
                del self._pending[channel]
            self._pending[channel] = (rid, fn)
            self._cond.notify()
        if not self.isRunning():
            self.start()
        return rid

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._pending.clear()
            self._cond.notify()
        self.wait(5000)

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                channel, (rid, fn) = self._pending.popitem(last=False)
            t0 = time.perf_counter()
            try:
                out = fn()
                extra = None
                if isinstance(out, tuple):
                    out, extra = out
                if hasattr(out, "dim"):
                    out = [out[i:i + 1] for i in range(out.shape[0])]
                images = [tensor_to_qimage(t) for t in out]
            except Exception as e:  # noqa: BLE001 - shown in the panel
                self.failed.emit(channel, rid, f"{type(e).__name__}: {e}")
                continue
            self.last_ms = 1000 * (time.perf_counter() - t0)
            self.done += 1
            self.rendered.emit(channel, rid, images, extra)
