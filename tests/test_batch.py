"""Folders: one bad file is reported and skipped, logs name every file, re-runs skip done files."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from dgp_studio.core.batch import BatchError, collect_inputs, plan, run_batch
from dgp_studio.core.biggan import build_biggan
from dgp_studio.core.export import read_record
from dgp_studio.core.restore import RestoreSettings

from conftest import tiny_config

SETTINGS = RestoreSettings("colorize", iters_scale=0.02, candidates=4, seed=3)


@pytest.fixture(scope="module")
def gan():
    return build_biggan(tiny_config(), seed=0)


def make_folder(root, n_good=4, corrupt=True):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    kinds = ["jpg", "png", "tif", "bmp"]
    for i in range(n_good):
        a = rng.integers(0, 255, (40 + 8 * i, 56, 3), dtype=np.uint8)
        Image.fromarray(a).convert("L").save(root / f"photo{i}.{kinds[i % 4]}")
    if corrupt:
        good = (root / "photo0.jpg").read_bytes()
        (root / "broken.jpg").write_bytes(good[: len(good) // 3])
    return root


def test_batch_with_a_corrupt_file_then_resume(gan, tmp_path):
    src = make_folder(tmp_path / "in")
    out = tmp_path / "out"
    items = plan(collect_inputs([src]), "colorize", out_dir=out)
    assert len(items) == 5
    seen = []
    rep = run_batch(items, SETTINGS, gan=gan, log_dir=out, on_record=lambda d, t, r: seen.append((d, t, r["status"])))
    assert rep.count("ok") == 4 and rep.count("error") == 1
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5] and all(s[1] == 5 for s in seen)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [f"photo{i}_colorize.png" for i in range(4)]
    for i in range(4):  # each result has the photo's size and carries its record
        rec = read_record(out / f"photo{i}_colorize.png")
        assert rec["status"] == "ok" and rec["settings"]["seed"] == 3 and rec["settings"]["candidates"] == 4
        assert set(rec["losses"]) >= {"total", "ftr", "mse", "nll"} and rec["seconds"] > 0
        assert Image.open(out / f"photo{i}_colorize.png").size == (56, 40 + 8 * i)

    rows = list(csv.DictReader(open(out / "dgp_restore_log.csv")))
    assert len(rows) == 5
    bad = [r for r in rows if r["status"] == "error"]
    assert len(bad) == 1 and bad[0]["input"] == "broken.jpg" and "broken.jpg" in bad[0]["error"]
    assert all(r["loss_total"] and float(r["seconds"]) > 0 for r in rows if r["status"] == "ok")
    log = json.loads((out / "dgp_restore_log.json").read_text())
    assert log["summary"] == {"ok": 4, "skipped": 0, "error": 1}
    assert log["settings"]["task"] == "colorize"
    assert [f["input"] for f in log["files"] if f["status"] == "error"] == ["broken.jpg"]

    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    rep2 = run_batch(plan(collect_inputs([src]), "colorize", out_dir=out), SETTINGS, gan=gan, log_dir=out)
    assert rep2.count("skipped") == 4 and rep2.count("ok") == 0 and rep2.count("error") == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")} == stamps  # nothing rewritten
    log2 = json.loads((out / "dgp_restore_log.json").read_text())
    assert log2["summary"] == {"ok": 0, "skipped": 4, "error": 1}
    skipped = [f for f in log2["files"] if f["status"] == "skipped"]
    assert all(f["losses"] for f in skipped)  # the earlier run's numbers are kept in the log


def test_an_odd_record_in_an_earlier_output_does_not_stop_the_log(gan, tmp_path):
    """A skipped file's log row is built from the record inside its earlier output.  A record
    with odd types (edited by hand, or another tool's) ended the whole batch in an AttributeError
    while writing the log; the row now keeps what it can read."""
    from PIL import PngImagePlugin

    from dgp_studio.core.export import METADATA_KEY
    src = make_folder(tmp_path / "in", n_good=2, corrupt=False)
    out = tmp_path / "out"
    out.mkdir()
    info = PngImagePlugin.PngInfo()
    info.add_text(METADATA_KEY, json.dumps({"status": "ok", "losses": "x", "settings": [1], "notes": 5,
                                            "region": 7, "seconds": "q"}))
    Image.new("RGB", (8, 8)).save(out / "photo0_colorize.png", pnginfo=info)
    rep = run_batch(plan(collect_inputs([src]), "colorize", out_dir=out), SETTINGS, gan=gan, log_dir=out)
    assert rep.count("skipped") == 1 and rep.count("ok") == 1
    rows = {r["input"]: r for r in csv.DictReader(open(out / "dgp_restore_log.csv"))}
    assert rows["photo0.jpg"]["status"] == "skipped" and rows["photo0.jpg"]["loss_total"] == ""
    assert rows["photo0.jpg"]["region"] == "" and rows["photo0.jpg"]["settings"] == "{}"
    assert rows["photo1.png"]["status"] == "ok" and float(rows["photo1.png"]["loss_total"]) > 0


def test_recursive_and_outputs_next_to_inputs(gan, tmp_path):
    src = make_folder(tmp_path / "album", n_good=1, corrupt=False)
    make_folder(src / "1950s", n_good=2, corrupt=False)
    (src / ".hidden").mkdir()
    Image.new("L", (8, 8)).save(src / ".hidden" / "x.png")
    assert len(collect_inputs([src])) == 1
    found = collect_inputs([src], recursive=True)
    assert len(found) == 3
    items = plan(found, "colorize")  # no --out-dir: next to each photo
    assert {str(i.out.relative_to(src)) for i in items} == {
        "photo0_colorize.png", "1950s/photo0_colorize.png", "1950s/photo1_colorize.png"}
    rep = run_batch(items, SETTINGS, gan=gan, log_dir=src)
    assert rep.count("ok") == 3
    # our results sitting in the folder are not taken as new inputs next time
    assert len(collect_inputs([src], recursive=True)) == 3
    out_dir_items = plan(collect_inputs([src], recursive=True), "colorize", out_dir=tmp_path / "o")
    assert {i.rel for i in out_dir_items} == {"photo0.jpg", "1950s/photo0.jpg", "1950s/photo1.png"}
    assert (tmp_path / "o" / "1950s") in {i.out.parent for i in out_dir_items}


def test_plan_names_and_never_the_input(tmp_path):
    make_folder(tmp_path, n_good=1, corrupt=False)
    Image.new("RGB", (8, 8)).save(tmp_path / "photo0.png")
    items = plan(collect_inputs([tmp_path]), "sr")
    assert sorted(i.out.name for i in items) == ["photo0_png_sr.png", "photo0_sr.png"]
    with pytest.raises(BatchError, match="input photo itself"):
        plan(collect_inputs([tmp_path / "photo0.png"]), "sr", out_file=tmp_path / "photo0.png")
    with pytest.raises(BatchError, match="one file"):
        plan(collect_inputs([tmp_path]), "sr", out_file=tmp_path / "x.png")
    with pytest.raises(BatchError, match="no such"):
        collect_inputs([tmp_path / "nope"])


def test_worker_processes_per_device(tiny_model_dir, tmp_path):
    """The --devices path: one spawned worker per device (two CPU workers here)."""
    src = make_folder(tmp_path / "in", n_good=2, corrupt=True)
    out = tmp_path / "out"
    items = plan(collect_inputs([src]), "colorize", out_dir=out)
    rep = run_batch(items, SETTINGS, model_path=str(tiny_model_dir), devices=["cpu", "cpu"], log_dir=out)
    assert rep.count("ok") == 2 and rep.count("error") == 1
    assert sorted(p.name for p in out.glob("*.png")) == [f"photo{i}_colorize.png" for i in range(2)]
    assert {r["device"] for r in rep.records if r["status"] == "ok"} <= {"cpu"}



def test_worker_reports_a_model_it_cannot_load(tmp_path):
    """The worker body, run in this process: a bad model is one 'fatal' message, not a hang."""
    import queue
    from dgp_studio.core.batch import _worker
    tasks, results = queue.Queue(), queue.Queue()
    tasks.put(None)
    _worker("cpu", str(tmp_path / "no_model"), SETTINGS, None, 1, tasks, results)
    kind, dev, msg = results.get_nowait()
    assert kind == "fatal" and dev == "cpu" and "cannot load the model" in msg and "no_model" in msg


def test_worker_without_discriminator_is_fatal_and_ctrl_c_ends_it_quietly(tiny_model_dir, tmp_path, capsys):
    """The worker body, in this process: a model without D stops the worker once (not one failure per
    photo), and Ctrl+C (which reaches every worker of the process group) ends it without a traceback."""
    import queue
    from dgp_studio.core.batch import _worker
    g_only = tmp_path / "g_only"
    g_only.mkdir()
    (g_only / "G_ema.pth").write_bytes((tiny_model_dir / "G_ema.pth").read_bytes())
    tasks, results = queue.Queue(), queue.Queue()
    tasks.put(None)
    _worker("cpu", str(g_only), SETTINGS, None, 1, tasks, results)
    kind, _, msg = results.get_nowait()
    assert kind == "fatal" and "no discriminator" in msg and results.empty()

    class Interrupted(queue.Queue):
        def get(self, *a, **k):
            raise KeyboardInterrupt

    results = queue.Queue()
    _worker("cpu", str(tiny_model_dir), SETTINGS, None, 1, Interrupted(), results)  # returns, raises nothing
    assert results.empty()


def test_a_users_own_file_under_a_result_name_is_never_overwritten(gan, tmp_path, capsys):
    """'photo0_colorize.png' written by the user (no DGP Studio record) is kept: that photo fails with
    a message, the others run; a single photo is refused before any work.  A --out the user names
    is theirs to choose."""
    from dgp_studio.cli.main import main
    src = make_folder(tmp_path / "in", n_good=2, corrupt=False)
    own = src / "photo0_colorize.png"
    Image.new("RGB", (20, 20), (1, 2, 3)).save(own)
    kept = own.read_bytes()
    items = plan(collect_inputs([src]), "colorize")
    rep = run_batch(items, SETTINGS, gan=gan, log_dir=src)
    failed = {r["input"]: r["error"] for r in rep.failed}
    assert list(failed) == ["photo0.jpg"] and "was not written by DGP Studio" in failed["photo0.jpg"]
    assert own.read_bytes() == kept
    assert read_record(src / "photo1_colorize.png")["status"] == "ok"
    assert read_record(src / "photo0_colorize_colorize.png")["status"] == "ok"  # the user's file is a photo too
    again = run_batch(plan(collect_inputs([src]), "colorize"), SETTINGS, gan=gan, log_dir=src, redo=True)
    assert [r["input"] for r in again.failed] == ["photo0.jpg"] and own.read_bytes() == kept  # --redo too
    capsys.readouterr()
    assert main(["restore", str(src / "photo0.jpg"), "--task", "colorize", "-q"]) == 2
    assert "was not written by DGP Studio" in capsys.readouterr().err and own.read_bytes() == kept
