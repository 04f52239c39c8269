"""Screenshots of the editor for the README, made by driving the real window.

    xvfb-run -s "-screen 0 1600x1000x24" python docs/screenshots/make_screenshots.py \
        [--model models/dgp-prior-64] [--photo A.png --photo B.png] [--iterations 150]

Writes main_light.png, main_dark.png, mask_brush.png, timeline.png, morph.png, hybrid.png and
shortcuts.png next to this script.  Runs use the editor's "Fast preview" schedule (a quarter
of the paper's iterations) unless ``--iterations`` says otherwise; a few minutes on a CPU.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
DEFAULT_PHOTOS = [Path("/work/data/photos/landscape/lxqt__after-the-rain.png"),
                  Path("/work/data/photos/animal/lomiri20__Kleiber.png")]


def spin(ms: int = 0, until=None, timeout: float = 900.0) -> None:
    """Run the event loop for ``ms`` or until ``until()`` is true."""
    from PySide6.QtCore import QEventLoop, QTimer
    loop = QEventLoop()
    end = time.perf_counter() + ms / 1000
    deadline = time.perf_counter() + timeout
    t = QTimer()
    t.setInterval(15)
    t.timeout.connect(lambda: loop.quit() if ((until() if until else time.perf_counter() >= end)
                                              or time.perf_counter() > deadline) else None)
    t.start()
    loop.exec()
    t.stop()


def save(widget, name: str, out: Path) -> Path:
    spin(300)
    path = out / name
    widget.grab().save(str(path))
    print("wrote", path)
    return path


def sample_photos(tmp: Path, given) -> list[Path]:
    """Two photos: given ones, the defaults if present, or generated ones."""
    photos = [Path(p) for p in given] if given else [p for p in DEFAULT_PHOTOS if p.exists()]
    if len(photos) >= 2:
        return photos[:2]
    import numpy as np
    from PIL import Image
    y, x = np.mgrid[0:720, 0:1080]
    sky = np.stack([90 + x / 12, 140 + y / 10, 220 - y / 8], -1)
    sky[y > 430 + 40 * np.sin(x / 90)] = (60, 110, 50)
    a = tmp / "generated_landscape.png"
    Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8)).save(a)
    b = tmp / "generated_disc.png"
    img = np.full((720, 960, 3), 200, np.uint8)
    img[(x[:, :960] - 480) ** 2 + (y[:, :960] - 360) ** 2 < 200 ** 2] = (200, 80, 40)
    Image.fromarray(img).save(b)
    return (photos + [a, b])[:2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: the bundled prior / $DGP_STUDIO_MODEL)")
    ap.add_argument("--photo", action="append", help="photo to use (twice: colorization, then inpaint/morph)")
    ap.add_argument("--iterations", type=int, default=0,
                    help="iterations per run, the schedule scaled to it (default: the editor's Fast preview)")
    ap.add_argument("--candidates", type=int, default=0, help="candidate search size (default: the preset's)")
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="dgp-shots-"))
    os.environ["DGP_STUDIO_SETTINGS"] = str(tmp / "settings.ini")
    # a private result cache: runs cached by earlier sessions would come back with no timeline
    os.environ["DGP_STUDIO_CACHE"] = str(tmp / "cache")
    os.environ["DGP_STUDIO_CONFIG"] = str(tmp / "config")

    import numpy as np
    from PIL import Image
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtWidgets import QApplication

    import dgp_studio.gui  # noqa: F401 - the PySide6 work-around first
    from dgp_studio.core import presets
    from dgp_studio.gui.app import apply_theme
    from dgp_studio.gui.canvas import Tool
    from dgp_studio.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("DGP Studio")
    apply_theme(app, "light")
    w = MainWindow(model_path=args.model, load_async=False, theme_choice="light")
    w.quiet = True
    w.confirm = lambda q: True
    w.resize(1500, 940)
    w.show()
    spin(500)
    if w.gan is None:
        print("no model:", w.model_error, "- pass --model PATH", file=sys.stderr)
        return 2
    print(f"model {w.gan.name} ({w.gan.resolution} px, {w.gan.config.n_classes} classes) from {w.gan.source}")
    names = [n.lower() for n in w.task_panel.classes.names]
    photo_a, photo_b = sample_photos(tmp, args.photo)

    def short(name):
        p = presets.get(name)
        p = p.scaled(args.iterations / p.total_iterations) if args.iterations else p.scaled(0.25)
        return replace(p, select_num=args.candidates) if args.candidates else p

    def run_and_wait():
        assert w.run_restoration(), getattr(w, "last_error", "")
        spin(until=lambda: w.worker is None)
        spin(400)

    # 1. colorization of a grayscale photo, before/after split -------------------------------------
    gray = tmp / f"{photo_a.stem}_bw.png"
    Image.open(photo_a).convert("L").save(gray)
    doc_a = w.open_paths([gray])[0]
    tp = w.task_panel
    tp.set_task("colorization")
    if "landscape" in names:
        tp.classes.set_current(names.index("landscape"))
    tp.set_preset(short("colorization"))
    run_and_wait()
    w.set_compare(True)
    w.split_slider.setValue(45)
    w.canvas.fit()
    save(w, "main_light.png", out)
    apply_theme(app, "dark")
    w.theme_choice = "dark"
    save(w, "main_dark.png", out)

    # 2. the mask brush on a second photo ---------------------------------------------------------
    apply_theme(app, "light")
    doc_b = w.open_paths([photo_b])[0]
    tp.set_task("inpainting")
    if "animal" in names:
        tp.classes.set_current(names.index("animal"))
    w.set_tool(Tool.BRUSH)
    W, H = doc_b.size
    side = int(min(W, H) * 0.6)   # a smaller region than the default, to zoom in on it
    w.canvas.set_region(((W - side) // 2, (H - side) // 2, side))
    left, top, side = doc_b.region
    doc_b.mask.hardness = 0.7
    w.canvas.set_brush_size(max(8, side // 9))
    cx, cy = left + side * 0.5, top + side * 0.5
    doc_b.mask.begin_stroke(QPointF(cx - side * 0.18, cy - side * 0.05))
    for t in np.linspace(0, 1, 30):
        doc_b.mask.stroke_to(QPointF(cx - side * 0.18 + t * side * 0.36, cy - side * 0.05 + np.sin(t * 3) * side * 0.08))
    doc_b.mask.end_stroke()
    w.canvas.fit_region()
    w.canvas._mouse_scene = QPointF(cx + side * 0.22, cy + side * 0.02)  # where the brush outline shows
    w.canvas.viewport().update()
    save(w, "mask_brush.png", out)

    # 3. the timeline after the inpainting run, scrubbed into stage 3 -------------------------------
    tp.set_preset(short("inpainting"))
    w.canvas._mouse_scene = None
    run_and_wait()
    w.resizeDocks([w.timeline_dock], [330], Qt.Vertical)
    snaps = doc_b.timeline.snapshots
    mid = next((i for i, s in enumerate(snaps) if s.stage >= 2), len(snaps) // 2)
    w.timeline.strip.set_current(mid)
    w.timeline.scroll.ensureVisible(4 + mid * 64, 0, 200, 0)
    save(w, "timeline.png", out)
    w.timeline.go_latest()

    # 4. morph between the two photos, each reconstructed once ---------------------------------------
    for d in (doc_a, doc_b):
        w.set_current(d)
        w.tabs.setCurrentIndex(w.docs.index(d))
        tp.set_task("reconstruct")
        tp.classes.set_current(None)  # let the engine search the class
        tp.set_preset(short("morphing"))
        run_and_wait()
    w.tabs.setCurrentIndex(w.docs.index(doc_a))
    w.set_mode(1)
    mp = w.manip
    mp.tabs.setCurrentIndex(2)
    mp.m_partner.setCurrentIndex(mp.m_partner.findData(doc_b.id))
    mp.m_lambda.setValue(50)
    spin(until=lambda: mp._shown.get("morph", 0) >= mp._requested.get("morph", 1))
    save(w, "morph.png", out)

    # 5. an "old photo": the second photo gray at half size with a scratch, hybrid (colour + holes + x2) -
    w.set_mode(0)
    old = tmp / f"{photo_b.stem}_old.png"
    im = Image.open(photo_b).convert("L")
    im = im.resize((im.width // 2, im.height // 2), Image.LANCZOS)
    a = np.array(im)
    sh, sw = a.shape
    scratch = np.zeros_like(a, dtype=bool)
    for t in np.linspace(0, 1, 400):  # a thin diagonal scratch across the middle
        y, x = int(sh * (0.3 + 0.4 * t)), int(sw * (0.35 + 0.3 * t))
        scratch[max(0, y - 2):y + 2, max(0, x - 2):x + 2] = True
    a[scratch] = 245
    Image.fromarray(a).save(old)
    doc_c = w.open_paths([old])[0]
    w.tabs.setCurrentIndex(w.docs.index(doc_c))
    tp.set_task("hybrid")
    tp.h_color.setChecked(True)
    tp.h_inpaint.setChecked(True)
    tp.h_sr.setChecked(True)
    if "animal" in names:
        tp.classes.set_current(names.index("animal"))
    doc_c.mask.set_from_array(scratch.astype(np.float32))
    tp.set_preset(short("hybrid"))
    run_and_wait()
    w.set_compare(True)
    w.split_slider.setValue(22)  # most of the region shows the result: the bark, the bird, the filled scratch
    w.canvas.fit()
    save(w, "hybrid.png", out)
    w.set_compare(False)

    # 6. the F1 cheat-sheet -----------------------------------------------------------------------------
    from dgp_studio.gui.shortcuts import CheatSheet
    sheet = CheatSheet(w)
    sheet.show()
    save(sheet, "shortcuts.png", out)
    sheet.close()
    w.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
