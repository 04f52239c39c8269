"""Developer tools: a tiny random-weight model (the editor without the bundled prior) and a
UI-thread stall meter (the responsiveness test and bench/gui_responsiveness.py)."""
from __future__ import annotations

from pathlib import Path

TINY_CLASSES = ["goldfish", "robin", "tabby cat", "lighthouse", "volcano"]


def make_tiny_model(folder, resolution: int = 32, seed: int = 0) -> Path:
    """Random BigGAN (32 px, 5 named classes) saved in our folder format; seconds on a CPU."""
    from dgp_studio.core import BigGANConfig, build_biggan, save_biggan
    cfg = BigGANConfig(resolution=resolution, G_ch=8, D_ch=8, dim_z=20, shared_dim=8, n_classes=5,
                       G_attn=(16,), D_attn=(16,))
    gan = build_biggan(cfg, seed=seed)
    gan.name = f"tiny-random-{resolution}"
    return save_biggan(gan, folder, extra={"class_names": TINY_CLASSES})


class TickGaps:
    """A ``interval_ms`` QTimer on the UI thread; ``gaps`` holds the seconds between its ticks,
    so a stalled event loop shows up as one long gap."""

    def __init__(self, interval_ms: int = 10):
        from PySide6.QtCore import QTimer
        self.gaps: list[float] = []
        self._last: float | None = None
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self):
        import time
        now = time.perf_counter()
        if self._last is not None:
            self.gaps.append(now - self._last)
        self._last = now

    def start(self):
        self.timer.start()

    def stop(self):
        self.timer.stop()

    def reset(self):
        """Forget the gaps so far (the timer keeps running)."""
        self.gaps.clear()
        self._last = None
