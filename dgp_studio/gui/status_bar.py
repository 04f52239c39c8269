"""Status bar: messages on the left; device, model, memory, speed and zoom on the right."""
from __future__ import annotations

import os
import resource

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QStatusBar


def process_memory_mb() -> float:
    """Resident memory of this process (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1024 if os.uname().sysname != "Darwin" else peak / 2 ** 20


def memory_text(device: str) -> str:
    text = f"RAM {process_memory_mb():,.0f} MB"
    if str(device).startswith("cuda"):
        try:
            import torch
            dev = torch.device(device)
            alloc = torch.cuda.memory_allocated(dev) / 2 ** 20
            total = torch.cuda.get_device_properties(dev).total_memory / 2 ** 20
            text += f" · GPU {alloc:,.0f} / {total:,.0f} MB"
        except Exception:  # noqa: BLE001 - the status bar must never fail
            pass
    return text


class StatusBar(QStatusBar):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.device = "cpu"
        self.hover = QLabel()
        self.speed = QLabel("—")
        self.memory = QLabel()
        self.model = QLabel("no model")
        self.device_label = QLabel()
        self.zoom = QLabel("100 %")
        for w, tip in ((self.hover, "Pixel under the cursor"), (self.speed, "Iterations per second of the run"),
                       (self.memory, "Memory used by DGP Studio"), (self.model, "Generative prior in use"),
                       (self.device_label, "Where the model runs"), (self.zoom, "Canvas zoom")):
            w.setToolTip(tip)
            self.addPermanentWidget(w)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.refresh_memory)
        self._timer.start()
        self.refresh_memory()

    def set_device(self, device: str) -> None:
        self.device = str(device)
        if self.device.startswith("cuda"):
            try:
                import torch
                name = torch.cuda.get_device_name(torch.device(self.device))
            except Exception:  # noqa: BLE001
                name = self.device
            self.device_label.setText(f"GPU · {name}")
        else:
            import torch
            n = torch.get_num_threads()
            self.device_label.setText(f"CPU · {n} thread{'s' if n != 1 else ''}")

    def set_model(self, text: str) -> None:
        self.model.setText(text)

    def set_speed(self, it_per_s: float | None) -> None:
        self.speed.setText("—" if not it_per_s else f"{it_per_s:,.1f} it/s")

    def set_zoom(self, z: float) -> None:
        self.zoom.setText(f"{z * 100:.0f} %")

    def set_hover(self, text: str) -> None:
        self.hover.setText(text)

    def refresh_memory(self) -> None:
        self.memory.setText(memory_text(self.device))
