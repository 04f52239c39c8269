"""Screenshots of the project and model features (issue 8): the File menu and Tools > Models….

    xvfb-run -s "-screen 0 1600x1000x24" python docs/screenshots/make_project_screenshots.py \
        [--model models/dgp-prior-64] [--photo A.png] [--iterations 120]

Writes file_menu.png and models_dialog.png next to this script.  Uses private temporary
cache/config/settings folders (the user's are never touched); a tiny random model is
registered beside the bundled prior so the dialog's list has more than one row.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
HERE = Path(__file__).resolve().parent

from make_screenshots import sample_photos, spin  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: the bundled prior)")
    ap.add_argument("--photo", action="append")
    ap.add_argument("--iterations", type=int, default=120)
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)
    out = Path(args.out)
    tmp = Path(tempfile.mkdtemp(prefix="dgp-shots-project-"))
    os.environ["DGP_STUDIO_SETTINGS"] = str(tmp / "settings.ini")
    os.environ["DGP_STUDIO_CACHE"] = str(tmp / "cache")
    os.environ["DGP_STUDIO_CONFIG"] = str(tmp / "config")

    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    import dgp_studio.gui  # noqa: F401
    from dgp_studio.core import presets
    from dgp_studio.core.modelstore import ModelStore
    from dgp_studio.gui.app import apply_theme
    from dgp_studio.gui.devtools import make_tiny_model
    from dgp_studio.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("DGP Studio")
    apply_theme(app, "light")
    w = MainWindow(model_path=args.model, load_async=False, theme_choice="light")
    w.quiet = True
    w.confirm = lambda q: True
    w.resize(1500, 940)
    w.move(0, 0)
    w.show()
    spin(500)
    if w.gan is None:
        print("no model:", w.model_error, file=sys.stderr)
        return 2
    photo = sample_photos(tmp, args.photo)[0]
    w.open_paths([photo])
    w.task_panel.set_task("colorization")
    p = presets.get("colorization")
    w.task_panel.set_preset(replace(p.scaled(args.iterations / p.total_iterations), select_num=50))
    assert w.run_restoration(), getattr(w, "last_error", "")
    spin(until=lambda: w.worker is None)
    w.projects.save(w.current, tmp / f"{photo.stem}.dgp", embed=True, wait=True)
    spin(400)

    # 1. the File menu, opened over the window ------------------------------------------------------
    file_menu = w.menuBar().actions()[0].menu()
    w.menuBar().setActiveAction(w.menuBar().actions()[0])
    spin(600)
    geo = file_menu.geometry()
    top_left = w.mapToGlobal(w.rect().topLeft())
    screen = QGuiApplication.primaryScreen()
    width = max(geo.right() - top_left.x() + 40, 1100)
    height = max(geo.bottom() - top_left.y() + 40, 600)
    shot = screen.grabWindow(0, top_left.x(), top_left.y(), width, height)
    shot.save(str(out / "file_menu.png"))
    print("wrote", out / "file_menu.png")
    file_menu.hide()
    spin(200)

    # 2. Tools > Models…: the bundled prior checked, a registered model beside it --------------------
    tiny = make_tiny_model(tmp / "tiny-random-32")
    ModelStore().add(tiny, name="tiny-random-32 (test)")
    dlg = w.show_models()
    dlg.resize(980, 700)
    spin(300)
    dlg.select(w.gan.name)
    dlg.check_selected()
    spin(until=lambda: not dlg.busy)
    dlg.url.setText("https://example.org/biggan/G_ema_256.pth")
    dlg.folder.setText(str(Path.home() / "models" / "biggan-256"))
    spin(300)
    dlg.grab().save(str(out / "models_dialog.png"))
    print("wrote", out / "models_dialog.png")
    dlg.close()
    w.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
