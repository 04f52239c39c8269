"""How long does the editor's UI thread go without serving events while a restoration runs?

Two numbers, each against a baseline measured in the same process:
- timer gaps: a 10 ms QTimer on the UI thread records the gap between its ticks, idle (the
  baseline: what the OS scheduler alone costs on this machine) and during a run;
- UI work: the longest single call of the window's per-run slots (progress, snapshots, the
  timeline repaint), i.e. the blocking calls our code makes on the UI thread.

    QT_QPA_PLATFORM=offscreen python bench/gui_responsiveness.py [--model PATH] [--iterations 300]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def gap_stats(gaps):
    g = sorted(gaps)
    if not g:
        return {"max": 0.0, "p99": 0.0, "median": 0.0, "n": 0}
    return {"max": 1000 * g[-1], "p99": 1000 * g[int(0.99 * (len(g) - 1))], "median": 1000 * g[len(g) // 2],
            "n": len(g)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: a tiny random model)")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--idle", type=float, default=2.0, help="seconds of idle baseline")
    ap.add_argument("--task", default="colorization")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    args = ap.parse_args(argv)

    import numpy as np
    from PIL import Image
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    import dgp_studio.gui  # noqa: F401 - the PySide6 work-around first
    from dgp_studio.core import presets
    from dgp_studio.gui.devtools import make_tiny_model
    from dgp_studio.gui.main_window import MainWindow

    tmp = Path(tempfile.mkdtemp(prefix="dgp-bench-gui-"))
    os.environ["DGP_STUDIO_SETTINGS"] = str(tmp / "settings.ini")
    model = args.model or make_tiny_model(tmp / "model")
    QApplication.instance() or QApplication([])
    w = MainWindow(model_path=model, device=args.device, load_async=False)
    w.quiet = True
    w.resize(1400, 900)
    w.show()
    y, x = np.mgrid[0:600, 0:900]
    photo = tmp / "photo.png"
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)).save(photo)
    w.open_paths([photo])

    # instrument the UI-thread slots a run drives
    slot_max = {}

    slot_cpu = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                slot_max[name] = max(slot_max.get(name, 0.0), 1000 * (time.perf_counter() - t))
                slot_cpu[name] = max(slot_cpu.get(name, 0.0), 1000 * (time.thread_time() - c))
        return wrapper
    for name in ("_on_tick", "_on_snapshot", "_on_job_finished", "_on_snapshot_shown"):
        setattr(w, name, timed(name, getattr(w, name)))
    tl = w.timeline
    tl._timer.timeout.disconnect()
    tl._timer.timeout.connect(timed("timeline_repaint", tl._repaint_if_dirty))
    for widget, name in ((tl.curve, "loss_curve_paint"), (tl.strip, "strip_paint"), (w.canvas.viewport(), None)):
        if name:
            widget.paintEvent = timed(name, widget.paintEvent)

    from dgp_studio.gui.devtools import TickGaps
    meter = TickGaps(10)
    gaps = meter.gaps

    def spin(seconds=None, until=None):
        loop = QEventLoop()
        t_end = time.perf_counter() + (seconds or 0)
        check = QTimer()
        check.setInterval(20)
        check.timeout.connect(lambda: (until() if until else time.perf_counter() >= t_end) and loop.quit())
        check.start()
        loop.exec()
        check.stop()

    import gc
    gc_pauses, gc_t = [], {}

    def on_gc(phase, info):
        if phase == "start":
            gc_t["t"] = time.perf_counter()
        elif "t" in gc_t:
            gc_pauses.append((info["generation"], 1000 * (time.perf_counter() - gc_t.pop("t"))))
    gc.callbacks.append(on_gc)
    meter.start()
    spin(args.idle)
    idle = gap_stats(gaps)
    meter.reset()
    p = presets.get(args.task)
    w.task_panel.set_task(args.task)
    w.task_panel.set_preset(replace(p.scaled(args.iterations / p.total_iterations), select_num=50))
    t0 = time.perf_counter()
    w.run_restoration()
    spin(until=lambda: w.worker is None)
    run_s = time.perf_counter() - t0
    spin(0.3)
    meter.stop()
    run = gap_stats(gaps)
    import torch
    print(f"torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}, "
          f"run {run_s:.2f} s for {args.iterations} iterations")
    print(f"timer gaps idle : max {idle['max']:6.1f} ms  p99 {idle['p99']:6.1f}  median {idle['median']:5.1f}"
          f"  (n={idle['n']})")
    print(f"timer gaps run  : max {run['max']:6.1f} ms  p99 {run['p99']:6.1f}  median {run['median']:5.1f}"
          f"  (n={run['n']})")
    print(f"ratio run/idle  : max {run['max'] / max(idle['max'], 1e-6):.2f}  p99 "
          f"{run['p99'] / max(idle['p99'], 1e-6):.2f}")
    print("longest single UI-thread call per slot, wall ms: " +
          ", ".join(f"{k} {v:.1f}" for k, v in sorted(slot_max.items())))
    print("                         the same, CPU ms: " +
          ", ".join(f"{k} {v:.1f}" for k, v in sorted(slot_cpu.items())))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    worst_gc = max(gc_pauses, key=lambda g: g[1], default=(None, 0.0))
    print(f"garbage collections: {len(gc_pauses)}, longest {worst_gc[1]:.1f} ms (generation {worst_gc[0]})")
    w.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
