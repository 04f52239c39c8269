"""Issue 8 in the editor: .dgp projects, autosave recovery, the disk result cache, the Models dialog.

Driven through the real window (pytest-qt, offscreen) on tiny random models saved in tmp_path.
The user's cache/config/settings are never touched (conftest points DGP_STUDIO_CACHE,
DGP_STUDIO_CONFIG and DGP_STUDIO_SETTINGS at temporary folders; the tests here set their own).
Expected values come from the engine (core.project / core.manipulate), not from the GUI.
"""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import hashlib
import http.server
import signal
import subprocess
import sys
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPointF, QRect, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from dgp_studio.core import manipulate, presets  # noqa: E402
from dgp_studio.core import project as core_project  # noqa: E402
from dgp_studio.core.imaging import to_uint8  # noqa: E402
from dgp_studio.core.modelstore import ModelStore  # noqa: E402
from dgp_studio.core.reconstructor import Reconstructor  # noqa: E402
from dgp_studio.gui import worker as worker_mod  # noqa: E402
from dgp_studio.gui.autosave import AutosaveManager  # noqa: E402
from dgp_studio.gui.devtools import make_tiny_model  # noqa: E402
from dgp_studio.gui.imageconv import qimage_to_array  # noqa: E402
from dgp_studio.gui.main_window import MainWindow  # noqa: E402
from dgp_studio.gui.mask_layer import alpha_view  # noqa: E402
from dgp_studio.gui.session_cache import CacheEntry  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    threads, switch = torch.get_num_threads(), sys.getswitchinterval()
    yield make_tiny_model(tmp_path_factory.mktemp("gui_project_model"))
    torch.set_num_threads(threads)  # the editor tunes these for its UI thread
    sys.setswitchinterval(switch)
    worker_mod._threads_configured = False


@pytest.fixture
def user_dirs(tmp_path, monkeypatch):
    d = {k: tmp_path / k for k in ("cache", "config")}
    monkeypatch.setenv("DGP_STUDIO_CACHE", str(d["cache"]))
    monkeypatch.setenv("DGP_STUDIO_CONFIG", str(d["config"]))
    monkeypatch.setenv("DGP_STUDIO_SETTINGS", str(tmp_path / "settings.ini"))
    return d


def make_photo(path, seed=0, size=(120, 90)):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    img = np.stack([x * 255 / size[0], y * 255 / size[1], 128 + 60 * np.sin(x / (7.0 + seed))], -1)
    img += rng.normal(0, 8, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def new_window(qtbot, model_dir, **kw):
    w = MainWindow(model_path=model_dir, load_async=False, **kw)
    w.quiet = True                        # errors: status bar + w.last_error, no dialogs
    w.confirm = lambda question: True
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


def short_preset(name, total=12, select_num=4):
    p = presets.get(name)
    return replace(p.scaled(total / p.total_iterations), select_num=select_num)


def run(qtbot, w, task, preset, seed=0):
    w.task_panel.set_task(task)
    w.task_panel.set_preset(preset)
    w.task_panel.seed.setValue(seed)
    assert w.run_restoration()
    qtbot.waitUntil(lambda: w.worker is None, timeout=60000)


def wait_channel(qtbot, mp, channel):
    qtbot.waitUntil(lambda: mp._shown.get(channel, 0) >= mp._requested.get(channel, 1), timeout=15000)


def forbid_optimisation(monkeypatch):
    def no_run(self, *a, **k):
        raise AssertionError("Reconstructor.run called: an optimisation was not expected")
    monkeypatch.setattr(Reconstructor, "run", no_run)


# -- save, close, open in a new window: manipulations without optimisation ---------------------------------
def test_project_roundtrip_manipulates_without_optimisation(qtbot, model_dir, user_dirs, tmp_path, monkeypatch):
    photo_a, photo_b = make_photo(tmp_path / "a.png", 0), make_photo(tmp_path / "b.png", 1, (80, 100))
    w1 = new_window(qtbot, model_dir)
    doc_a = w1.open_paths([photo_a])[0]
    doc_a.mask.fill_rect(QRect(30, 20, 25, 15))           # a mask the project must keep exactly
    w1.canvas.set_region((20, 0, 90))                      # and a region that is not the default
    assert doc_a.region == (20, 0, 90)
    run(qtbot, w1, "colorization", short_preset("colorization", 12))
    ra = w1.cache.get(doc_a.id).result
    assert not ra.cancelled and w1.optimise_calls == 1
    doc_b = w1.open_paths([photo_b])[0]
    run(qtbot, w1, "reconstruct", short_preset("reconstruct", 8), seed=3)
    rb = w1.cache.get(doc_b.id).result
    mask_a = alpha_view(doc_a.mask.image).copy()
    snaps = [qimage_to_array(s.image) for s in doc_a.timeline.snapshots]
    steps = list(doc_a.timeline.steps)
    assert snaps and len(steps) == short_preset("colorization", 12).total_iterations

    # A embeds the photo; B keeps only its path + SHA-256
    assert w1.projects.save(doc_a, tmp_path / "a.dgp", embed=True, wait=True)
    assert w1.projects.save(doc_b, tmp_path / "b.dgp", embed=False, wait=True)
    with zipfile.ZipFile(tmp_path / "a.dgp") as zf:
        assert "original/a.png" in zf.namelist() and zf.read("original/a.png") == photo_a.read_bytes()
    with zipfile.ZipFile(tmp_path / "b.dgp") as zf:
        assert not any(n.startswith("original/") for n in zf.namelist())
    assert doc_a.project_saved and doc_a.name == "a.dgp" and w1.tabs.tabText(0) == "a.dgp"
    ref_jitter = manipulate.jitter(w1.gan, ra, n=4, std=0.7, seed=0)
    w1.close()
    assert not w1.isVisible()

    # what the engine reads back from the file, independently of the editor
    qa, qb = core_project.open_project(tmp_path / "a.dgp"), core_project.open_project(tmp_path / "b.dgp")
    assert qa.region == (20, 0, 90) and np.array_equal(qa.mask, mask_a)
    assert qa.settings["panel"]["task"] == "colorization"

    forbid_optimisation(monkeypatch)
    w2 = new_window(qtbot, model_dir)
    a2 = w2.open_paths([tmp_path / "a.dgp"])[0]
    assert w2.task_panel.task() == "colorization"          # the task settings of A's run come back
    assert w2.task_panel.preset().iterations == short_preset("colorization", 12).iterations
    # B arrives by drag and drop on the canvas
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "b.dgp"))])
    w2.canvas.dropEvent(QDropEvent(QPointF(40, 40), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    assert [d.name for d in w2.docs] == ["a.dgp", "b.dgp"]
    b2 = w2.docs[1]
    assert b2.path == photo_b.resolve() and a2.path == photo_a.resolve()
    # the exact state: pixels, mask, region, timeline, result, task settings
    assert np.array_equal(np.asarray(a2.image), np.asarray(Image.open(photo_a).convert("RGB")))
    assert np.array_equal(alpha_view(a2.mask.image), mask_a) and a2.mask.undo_stack.count() == 0
    assert a2.region == (20, 0, 90)
    assert a2.timeline.steps == steps
    assert all(np.array_equal(qimage_to_array(s.image), ref) for s, ref in zip(a2.timeline.snapshots, snaps))
    assert len(a2.timeline.snapshots) == len(snaps)
    ea = w2.cache.get(a2.id)
    assert ea is not None and ea.box == (20, 0, 90) and ea.task == "colorization"
    assert torch.equal(ea.result.image, qa.result(None, w2.gan).image)
    assert (ea.result.image - ra.image).abs().max() <= 1 / 127.5 + 1e-6   # stored as 8-bit
    w2.projects.background.drain()                         # the composite is rebuilt off the UI thread
    ca = w1.cache.get(doc_a.id).composite
    if ca is not None:
        assert ea.composite is not None and ea.composite.size == (120, 90)
        assert np.abs(np.asarray(ea.composite, dtype=int) - np.asarray(ca, dtype=int)).max() <= 2
    w2.set_current(a2)

    # jitter and morph render at once from the reopened (z, θ)
    ra2, rb2 = qa.result(None, w2.gan), qb.result(None, w2.gan)
    w2.set_mode(1)
    mp = w2.manip
    mp.tabs.setCurrentIndex(0)
    mp.j_count.setCurrentIndex(0)                          # 4 images
    mp.j_std.setValue(70)
    wait_channel(qtbot, mp, "jitter")
    got = np.stack([qimage_to_array(q) for q in mp.j_grid.images])
    expect = manipulate.jitter(w2.gan, ra2, n=4, std=0.7, seed=0)
    assert np.array_equal(got, np.stack([to_uint8(expect[i]) for i in range(4)]))
    # ... and match what the freshly optimised state rendered before saving (fp16 deltas)
    assert np.abs(got.astype(int) - np.stack([to_uint8(ref_jitter[i]) for i in range(4)]).astype(int)).max() <= 3
    mp.tabs.setCurrentIndex(2)
    mp.m_partner.setCurrentIndex(mp.m_partner.findData(b2.id))
    assert mp.partner_entry() is not None
    mp.m_lambda.setValue(30)
    wait_channel(qtbot, mp, "morph")
    frame = qimage_to_array(mp.morph_frame)
    assert np.array_equal(frame, to_uint8(manipulate.morph(w2.gan, ra2, rb2, [0.3])[0]))
    mp.m_lambda.setValue(100)                              # λ = 1 is B's own reconstruction
    wait_channel(qtbot, mp, "morph")
    assert np.abs(qimage_to_array(mp.morph_frame).astype(int) - to_uint8(rb.image).astype(int)).max() <= 3
    assert w2.optimise_calls == 0 and w2.worker is None
    assert getattr(w2, "last_error", None) is None
    w2.shutdown()


def test_original_changed_or_damaged_project_is_a_message(qtbot, model_dir, user_dirs, tmp_path):
    photo = make_photo(tmp_path / "p.png", 2)
    w = new_window(qtbot, model_dir)
    doc = w.open_paths([photo])[0]
    assert w.projects.save(doc, tmp_path / "p.dgp", embed=False, wait=True)
    make_photo(photo, 5)                                   # the original changed since
    assert w.open_paths([tmp_path / "p.dgp"]) == [doc]     # already open: the same tab
    w.close_document(doc)
    assert w.open_paths([tmp_path / "p.dgp"]) == [] and "changed since the project was saved" in w.last_error
    (tmp_path / "junk.dgp").write_bytes(b"PK\x03\x04 not a project")
    assert w.open_paths([tmp_path / "junk.dgp"]) == [] and "junk.dgp" in w.last_error
    assert len(w.docs) == 0
    # a save that fails (a folder in the way) says why and keeps the photo unsaved
    doc = w.open_paths([photo])[0]
    doc.touch()
    (tmp_path / "taken.dgp").mkdir()
    w.projects.save(doc, tmp_path / "taken.dgp", wait=True)
    assert "Cannot save taken.dgp" in w.last_error and not doc.project_saved
    w.shutdown()


def _rewrite_project(src, dst, edit):
    """Copy a .dgp with its project.json changed by ``edit(doc)`` (member checksums stay valid)."""
    import json
    with zipfile.ZipFile(src) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    doc = json.loads(items["project.json"])
    edit(doc)
    items["project.json"] = json.dumps(doc).encode()
    with zipfile.ZipFile(dst, "w") as zf:
        for n, data in items.items():
            zf.writestr(n, data)


def test_damaged_records_in_a_project_are_left_out_without_a_crash(qtbot, model_dir, user_dirs, tmp_path):
    """A stage record of the wrong length reached the loss plot's paintEvent, whose error left its
    painter active: Qt crashed (segfault, every open photo lost).  A seed beyond the spin box
    raised OverflowError out of Open.  Both records are now refused on reading."""
    photo = make_photo(tmp_path / "p.png", 4)
    w = new_window(qtbot, model_dir)
    doc = w.open_paths([photo])[0]
    run(qtbot, w, "colorization", short_preset("colorization", 10), seed=7)
    assert w.projects.save(doc, tmp_path / "good.dgp", embed=True, wait=True)
    w.close_document(doc)

    def damage(d):
        d["settings"]["timeline"]["stages"] = [[1, 2, 3, 4, 5, 6, 7]]
        d["settings"]["panel"]["seed"] = 10 ** 30
    _rewrite_project(tmp_path / "good.dgp", tmp_path / "bad.dgp", damage)
    w.task_panel.seed.setValue(5)
    with pytest.warns(RuntimeWarning):
        opened = w.open_paths([tmp_path / "bad.dgp"])
    assert len(opened) == 1 and w.current is opened[0]
    tl = opened[0].timeline
    assert tl.stages == [] and tl.snapshots == []         # the damaged timeline is left out whole
    assert w.task_panel.seed.value() == 5                  # the impossible seed is skipped
    assert w.cache.get(opened[0].id) is not None           # the result itself still comes back
    for view in (w.timeline.curve, w.timeline.strip):
        view.repaint()
    qtbot.wait(50)
    _rewrite_project(tmp_path / "good.dgp", tmp_path / "neg.dgp",
                     lambda d: d["settings"]["timeline"].update(stages=[[1, -2, 3]], total_steps=-1))
    with pytest.warns(RuntimeWarning):
        assert len(w.open_paths([tmp_path / "neg.dgp"])) == 1
    assert w.current.timeline.stages == []
    w.shutdown()


def test_damaged_settings_values_do_not_stop_the_editor(qtbot, model_dir, user_dirs, tmp_path, monkeypatch):
    """An autosave interval of 1e9 minutes or 'inf' (QTimer's int overflowed) and a cache size of
    'inf' or 'nan' made the editor fail to start; each now falls back to its default."""
    from dgp_studio.gui import autosave, run_cache
    for minutes, gb in (("1e9", "inf"), ("inf", "nan"), ("nan", "-5"), ("-1", "1e30")):
        ini = tmp_path / f"s_{minutes}.ini"
        ini.write_text(f"[autosave]\nminutes={minutes}\n[cache]\ndisk_gb={gb}\n")
        monkeypatch.setenv("DGP_STUDIO_SETTINGS", str(ini))
        w = new_window(qtbot, model_dir)
        assert w.autosave.minutes == autosave.DEFAULT_MINUTES, minutes
        assert w.result_cache.disk_budget == int(run_cache.DEFAULT_DISK_GB * (1 << 30)), gb
        w.shutdown()
    ini.write_text("[autosave]\nminutes=5\n[cache]\ndisk_gb=2.5\n")     # sensible values are kept
    w = new_window(qtbot, model_dir)
    assert w.autosave.minutes == 5 and w.result_cache.disk_budget == int(2.5 * (1 << 30))
    w.shutdown()


def test_an_error_while_painting_ends_the_painter(qtbot):
    from PySide6.QtWidgets import QWidget

    from dgp_studio.gui.painting import paints
    seen = []

    class Broken(QWidget):
        @paints
        def paintEvent(self, p, _e):
            seen.append(p)
            assert p.isActive()
            raise ValueError("a damaged record")

    b = Broken()
    qtbot.addWidget(b)
    b.resize(50, 50)
    with pytest.raises(ValueError, match="damaged record"):
        b.grab()                                           # paints now (into a pixmap); PySide re-raises here
    assert seen and not seen[-1].isActive()                # ended although the paint failed


def test_a_moved_original_is_located_and_relinked(qtbot, model_dir, user_dirs, tmp_path):
    (tmp_path / "photos").mkdir()
    photo = make_photo(tmp_path / "photos" / "p.png", 3)
    w = new_window(qtbot, model_dir)
    doc = w.open_paths([photo])[0]
    assert w.projects.save(doc, tmp_path / "p.dgp", embed=False, wait=True)
    w.close_document(doc)
    moved = tmp_path / "elsewhere" / "p.png"
    moved.parent.mkdir()
    photo.rename(moved)
    other = make_photo(tmp_path / "other.png", 9)
    asked = []
    # the user gives up: the reason, nothing opened
    w.projects.locate_original = lambda project, why: asked.append(why) or None
    assert w.open_paths([tmp_path / "p.dgp"]) == [] and "missing (moved or deleted?)" in w.last_error
    # the user points at another photo: refused, nothing opened
    w.projects.locate_original = lambda project, why: other
    assert w.open_paths([tmp_path / "p.dgp"]) == [] and "not the project's original" in w.last_error
    # the user points at the moved file: opened, linked to it, and the new link is unsaved
    w.projects.locate_original = lambda project, why: moved
    doc = w.open_paths([tmp_path / "p.dgp"])[0]
    assert doc.path == moved and not doc.project_saved and asked and "p.png" in asked[0]
    assert w.projects.save(doc, tmp_path / "p.dgp", wait=True)
    w.close_document(doc)
    w.projects.locate_original = lambda project, why: pytest.fail("asked again after the relink was saved")
    assert w.open_paths([tmp_path / "p.dgp"])[0].path == moved
    w.shutdown()


# -- the disk result cache ----------------------------------------------------------------------------
def test_cached_key_skips_optimisation_and_is_shared(qtbot, model_dir, user_dirs, tmp_path, monkeypatch):
    photo = make_photo(tmp_path / "c.png", 3)
    p = short_preset("colorization", 10)
    w = new_window(qtbot, model_dir)
    doc = w.open_paths([photo])[0]
    run(qtbot, w, "colorization", p, seed=1)
    first = w.cache.get(doc.id).result
    assert w.optimise_calls == 1 and w.result_cache is not None
    qtbot.waitUntil(lambda: len(w.result_cache.disk_keys()) == 1, timeout=10000)   # stored after the run
    key = w.result_cache.disk_keys()[0]
    assert (user_dirs["cache"] / "results-v1" / f"{key}.json").is_file()

    forbid_optimisation(monkeypatch)
    run(qtbot, w, "colorization", p, seed=1)              # the same key again
    hit = w.cache.get(doc.id).result
    assert hit is not first
    assert w.optimise_calls == 1 and "from the cache" in w.status.currentMessage()
    assert (hit.image - first.image).abs().max() <= 1 / 127.5 + 1e-6   # stored as 8-bit
    assert hit.steps_done == first.steps_done and doc.timeline.steps == list(range(1, p.total_iterations + 1))
    # a hit gets the current finish of its image, not the one stored with it (an older version's)
    from dgp_studio.core.degradations import Colorization
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Colorization, "postprocess", lambda self, g, obs: -g)
        run(qtbot, w, "colorization", p, seed=1)
    assert torch.equal(w.cache.get(doc.id).result.final, -w.cache.get(doc.id).result.image)

    # a second editor instance shares the disk cache: its own memory is empty, the disk hits
    w2 = new_window(qtbot, model_dir)
    d2 = w2.open_paths([photo])[0]
    run(qtbot, w2, "colorization", p, seed=1)
    assert w2.optimise_calls == 0 and w2.result_cache.stats["disk_hits"] == 1
    assert w2.cache.get(d2.id).result.class_id == first.class_id
    # another seed is another key: it must optimise (here that raises) and the error is a message
    run(qtbot, w2, "colorization", p, seed=2)
    assert "AssertionError" in w2.last_error and w2.actions["run"].isEnabled()
    assert w2.cache.get(d2.id).result.seed == 1            # nothing lost
    w2.shutdown()
    w.shutdown()


# -- autosave ---------------------------------------------------------------------------------------------
KILLED_WRITER = """
import sys, time
sys.path.insert(0, {repo!r})
from dgp_studio.core.project import open_project, write_autosave
p = open_project({src!r})
write_autosave(p)                     # as the editor would: untitled, in <cache>/autosave
print("saved", flush=True)
time.sleep(120)
"""


def autosave_then_sigkill(src) -> subprocess.Popen:
    """Another process autosaves project ``src`` and is then killed (SIGKILL: no clean-up runs)."""
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER.format(repo=str(REPO), src=str(src))],
                             stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert child.stdout.readline().strip() == "saved"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    return child


def test_autosave_offered_after_killed_process(qtbot, model_dir, user_dirs, tmp_path, monkeypatch):
    photo = make_photo(tmp_path / "k.png", 4)
    w = new_window(qtbot, model_dir)
    doc = w.open_paths([photo])[0]
    doc.mask.fill_rect(QRect(10, 10, 20, 20))
    run(qtbot, w, "colorization", short_preset("colorization", 8))
    # the run's end is a crash-safe point: an autosave is queued at once
    qtbot.waitUntil(lambda: len(w.autosave.written) == 1, timeout=10000)
    written = w.autosave.written[0]
    assert written == core_project.autosave_dir() / f"{doc.project_uid}.dgp.autosave"
    # the timer writes photos with newer changes (60 ms here instead of minutes)
    doc.mask.fill_rect(QRect(60, 40, 10, 10))
    w.autosave.set_interval(0.001)
    qtbot.waitUntil(lambda: len(w.autosave.written) == 2, timeout=10000)
    w.autosave.set_interval(0)
    assert np.array_equal(core_project.open_project(written).mask, alpha_view(doc.mask.image))
    result = w.cache.get(doc.id).result
    assert core_project.find_autosaves() == []            # its writer (this process) is alive
    # a normal close removes the autosave: nothing is offered next time
    w.close()
    assert not written.exists()

    # simulate a killed editor: another process takes the autosave over, then gets SIGKILL
    src = tmp_path / "state.dgp"
    w3 = new_window(qtbot, model_dir)
    d3 = w3.open_paths([photo])[0]
    d3.mask.fill_rect(QRect(10, 10, 20, 20))
    w3.cache.put(d3.id, CacheEntry(result, d3.region, "colorization"))
    w3.projects.save(d3, src, wait=True)
    w3.shutdown()
    child = autosave_then_sigkill(src)
    found = core_project.find_autosaves()
    assert len(found) == 1 and found[0].pid == child.pid and not found[0].alive

    # the next start (create_window, as `dgp-studio` does) offers it; the answer is injected
    asked = []
    monkeypatch.setattr(AutosaveManager, "_ask_restore", lambda self, f: asked.append(f) or True)
    forbid_optimisation(monkeypatch)
    from dgp_studio.gui.app import create_window
    _app, win = create_window(["--model", str(model_dir)])
    qtbot.addWidget(win)
    win.quiet = True
    win.confirm = lambda q: True
    qtbot.waitUntil(lambda: bool(asked) and win.gan is not None and len(win.docs) == 1, timeout=30000)
    rec = win.docs[0]
    qtbot.waitUntil(lambda: win.cache.has(rec.id), timeout=10000)      # attached once the model loaded
    assert [a.path for a in asked[0]] == [found[0].path]
    assert np.array_equal(alpha_view(rec.mask.image), alpha_view(d3.mask.image))
    assert (win.cache.get(rec.id).result.image - result.image).abs().max() <= 1 / 127.5 + 1e-6
    assert not rec.project_saved and rec.revision > rec.saved_revision   # recovered, not yet saved
    assert win.optimise_calls == 0
    win.close()
    assert core_project.find_autosaves(include_live=True) == []

    # declining discards it
    child = autosave_then_sigkill(src)
    w4 = new_window(qtbot, model_dir)
    w4.autosave.ask_restore = lambda f: False
    assert w4.autosave.offer_restore() == [] and core_project.find_autosaves(include_live=True) == []
    w4.shutdown()


# -- the Models dialog ----------------------------------------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def test_models_dialog_lists_checks_switches_and_downloads(qtbot, model_dir, user_dirs, tmp_path):
    other = make_tiny_model(tmp_path / "other", seed=7)
    ModelStore().add(other, name="tiny-other")
    w = new_window(qtbot, model_dir)
    dlg = w.show_models()
    qtbot.waitExposed(dlg)
    assert dlg.names()[0] == "dgp-prior-64" and "tiny-other" in dlg.names()
    dlg.select("tiny-other")
    dlg.check_selected()
    dlg.wait()
    text = dlg.details.toPlainText()
    assert "resolution  32 px" in text and "classes     5" in text and "shapes      OK" in text
    g_sha = hashlib.sha256((other / "G_ema.pth").read_bytes()).hexdigest()
    assert g_sha in text
    row = [dlg.tree.topLevelItem(i) for i in range(dlg.tree.topLevelItemCount())
           if dlg.tree.topLevelItem(i).data(0, Qt.UserRole) == "tiny-other"][0]
    assert row.text(1) == "32 px" and row.text(2) == "5"
    # switching the active model loads it (in the background) and remembers it
    old = w.gan
    dlg.use_selected()
    qtbot.waitUntil(lambda: w.gan is not None and w.gan is not old, timeout=20000)
    from dgp_studio.core.cache import model_id
    assert w.model_path == str(other) and model_id(w.gan) != model_id(old)
    assert "(in use)" in dlg.tree.currentItem().text(0)
    from dgp_studio.gui import app, settings
    assert settings.value("model/active") == "tiny-other" and app.active_model() == str(other.resolve())
    # remove forgets it, the files stay
    dlg.remove_selected()
    assert "tiny-other" not in dlg.names() and (other / "G_ema.pth").exists()
    # download the three files of a model from a local server: verified, then registered
    served = make_tiny_model(tmp_path / "served", seed=9)
    handler = lambda *a, **k: _Quiet(*a, directory=str(served), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dest = tmp_path / "downloaded"
        base = f"http://127.0.0.1:{server.server_address[1]}"
        for name in ("config.json", "D.pth", "G_ema.pth"):
            dlg.url.setText(f"{base}/{name}")
            dlg.sha.setText(hashlib.sha256((served / name).read_bytes()).hexdigest())
            dlg.folder.setText(str(dest))
            dlg.start_download()
            dlg.wait()
            assert (dest / name).read_bytes() == (served / name).read_bytes()
            assert dlg.progress.value() == dlg.progress.maximum() and "verified" in dlg.progress.format()
        assert "tiny-random-32" in dlg.names() and "added 'tiny-random-32'" in dlg.details.toPlainText()
        # a wrong SHA-256: the file is deleted and the message says so
        dlg.url.setText(f"{base}/G_ema.pth")
        dlg.sha.setText("0" * 64)
        dlg.folder.setText(str(tmp_path / "bad"))
        dlg.start_download()
        dlg.wait()
        assert "SHA-256 mismatch" in dlg.last_error and not any((tmp_path / "bad").glob("G_ema*"))
    finally:
        server.shutdown()
    dlg.close()
    w.shutdown()
