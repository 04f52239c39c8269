"""`dgp-studio restore` end to end on CPU with a random-weight model written by a fixture."""
import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from dgp_studio.cli.main import main
from dgp_studio.core.checkpoint import load_biggan
from dgp_studio.core.export import read_record
from dgp_studio.core.intake import open_image
from dgp_studio.core.manipulate import Renderer
from dgp_studio.core.restore import RestoreError, RestoreSettings, restore
from dgp_studio.core.session import load_session

FAST = ["--iters-scale", "0.02", "--candidates", "4", "--device", "cpu"]


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    g = rng.integers(20, 230, (36, 48), dtype=np.uint8)
    p = tmp_path / "old.png"
    Image.fromarray(g).save(p)
    return p


def test_colorize_writes_png_and_session(tiny_model_dir, photo, tmp_path, capsys):
    s = tmp_path / "old.dgps"
    rc = main(["restore", str(photo), "--task", "colorize", "--model", str(tiny_model_dir), "--seed", "5",
               "--save-session", str(s), *FAST])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    out = tmp_path / "old_colorize.png"
    assert cap.out.strip() == str(out)
    assert "stage 5/5" in cap.err  # the progress bar ran on stderr
    img = Image.open(out)
    assert img.size == (48, 36) and img.mode == "RGB"

    gan = load_biggan(tiny_model_dir)
    res, meta = load_session(s, gan)
    assert meta["source"] == str(photo.resolve()) and meta["region"] == [0, 0, 48, 36] and meta["task"] == "colorization"
    # the saved z is the run's z: the Python API with the same settings reaches the same one
    api = restore(gan, open_image(photo), RestoreSettings("colorize", iters_scale=0.02, candidates=4, seed=5))
    assert torch.equal(res.z, api.result.z)
    # ... and the saved state renders the saved image from it
    again = Renderer(gan).render(res.generator_state, res.z, res.class_embedding, res.norm_blocks)
    assert torch.allclose(again, res.image, atol=1e-5)
    assert np.array_equal(np.asarray(img), np.asarray(api.image))


def test_restore_never_writes_over_its_mask_or_puts_a_session_over_a_file(tiny_model_dir, photo, tmp_path,
                                                                         capsys):
    mask = tmp_path / "hole.png"
    hole = Image.new("L", (48, 36), 0)
    hole.paste(255, (10, 10, 20, 20))
    hole.save(mask)
    other = tmp_path / "notes.txt"
    other.write_text("keep me")
    kept = {p: p.read_bytes() for p in (photo, mask, other)}
    m = ["--model", str(tiny_model_dir), "-q", *FAST]
    bad = [["--task", "inpaint", "--mask", str(mask), "--out", str(mask)],           # the result over the mask
           ["--task", "colorize", "--save-session", str(photo)],                     # the session over the photo
           ["--task", "inpaint", "--mask", str(mask), "--save-session", str(mask)],  # ... over the mask
           ["--task", "colorize", "--out", str(tmp_path / "r.png"), "--save-session", str(tmp_path / "r.png")],
           ["--task", "colorize", "--save-session", str(other)]]                     # ... over any other file
    for args in bad:
        capsys.readouterr()
        assert main(["restore", str(photo), *args, *m]) == 2, args
        err = capsys.readouterr().err
        assert "never overwritten" in err or "choose another name" in err, err
    assert {p: p.read_bytes() for p in kept} == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["old.png", "hole.png", "notes.txt"])
    # a re-run replaces its own earlier session
    s = tmp_path / "old.dgps"
    assert main(["restore", str(photo), "--task", "colorize", "--save-session", str(s), *m]) == 0
    assert main(["restore", str(photo), "--task", "colorize", "--save-session", str(s), "--seed", "3", *m]) == 0
    assert load_session(s)[1]["seed"] == 3


def test_manipulations_never_write_over_the_sessions_photo_or_result(tiny_model_dir, photo, tmp_path,
                                                                      monkeypatch, capsys):
    # restore from the photo's folder with relative names, manipulate from another folder
    monkeypatch.chdir(tmp_path)
    assert main(["restore", "old.png", "--task", "colorize", "--model", str(tiny_model_dir),
                 "--save-session", "old.dgps", "-q", *FAST]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    session, result = tmp_path / "old.dgps", tmp_path / "old_colorize.png"
    kept = {p: p.read_bytes() for p in (photo, result, session)}
    m = ["--model", str(tiny_model_dir)]
    capsys.readouterr()
    for target in (photo, result, session):
        for cmd in (["jitter", str(session), "--n", "2"], ["transfer", str(session), "--to", "1"]):
            assert main(cmd + ["--out", str(target)] + m) == 2, (cmd, target)
            assert "never overwritten" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in kept} == kept
    # --out with a trailing slash is a folder (made if needed), as an existing folder is
    assert main(["jitter", str(session), "--n", "2", "--out", "grids/"] + m) == 0
    assert capsys.readouterr().out.strip() == str(Path("grids") / "old_jitter.png")
    assert Image.open(elsewhere / "grids" / "old_jitter.png").size == (2 * 32, 32)
    assert main(["restore", str(photo), "--task", "colorize", "--out", "res/", "-q"] + m + FAST) == 0
    assert (elsewhere / "res" / "old_colorize.png").is_file()
    # sizes that could not be held in memory are refused before any work, with the limit named
    for cmd in (["jitter", str(session), "--size", "100000"], ["jitter", str(session), "--n", "256", "--size", "1024"],
                ["morph", str(session), str(session), "--frames", "1001"],
                ["morph", str(session), str(session), "--frames", "1000", "--size", "1024"]):
        assert main(cmd + m) == 2, cmd
        err = capsys.readouterr().err
        assert "at most" in err or "megapixels" in err or "between 2 and 1000" in err, err
    assert sorted(p.name for p in elsewhere.iterdir()) == ["grids", "res"]
    # a default name taken by a file of the user's is kept; our own earlier file is replaced
    own = tmp_path / "old_jitter.png"
    Image.new("RGB", (5, 5), (7, 7, 7)).save(own)
    mine = own.read_bytes()
    assert main(["jitter", str(session), "--n", "2"] + m) == 2
    assert "was not written by DGP Studio" in capsys.readouterr().err and own.read_bytes() == mine
    own.unlink()
    assert main(["jitter", str(session), "--n", "2"] + m) == 0
    assert read_record(own)["task"] == "jitter"
    assert main(["jitter", str(session), "--n", "3"] + m) == 0   # over our own: fine
    assert Image.open(own).size == (3 * 32, 32)
    Image.new("RGB", (5, 5)).save(elsewhere / "mine.png")       # a name given with --out is the user's call
    assert main(["jitter", str(session), "--n", "2", "--out", str(elsewhere / "mine.png")] + m) == 0


def test_never_overwrites_the_input(tiny_model_dir, photo, capsys):
    before = photo.read_bytes()
    rc = main(["restore", str(photo), "--task", "colorize", "--model", str(tiny_model_dir),
               "--out", str(photo), "-q", *FAST])
    assert rc == 2 and "never overwritten" in capsys.readouterr().err
    assert photo.read_bytes() == before


def test_task_names_in_long_and_british_spelling(tiny_model_dir, photo, tmp_path):
    for spelling in ("colourise", "colorization"):
        out = tmp_path / f"{spelling}.png"
        assert main(["restore", str(photo), "--task", spelling, "--model", str(tiny_model_dir), "--out", str(out),
                     "-q", *FAST]) == 0
        assert out.exists()


def test_usage_errors_are_one_line(tiny_model_dir, photo, tmp_path, capsys):
    cases = [
        (["--task", "inpaint"], "needs --mask"),
        (["--task", "colorize", "--class", "zebra"], "unknown class 'zebra': no class name contains it (this "
                                                    "model's classes: class 0, class 1, class 2"),
        (["--task", "colorize", "--region", "40,0,30"], "region '40,0,30' (30x30 px at 40,0) does not lie inside"),
        (["--task", "colorize", "--region", "0,0,0"], "region '0,0,0': the size must be at least 1 px"),
        (["--task", "colorize", "--feather", "-5"], "--feather must be between 0 and 1000 px"),
        (["--task", "colorize", "--scale", "4"], "--scale is for sr"),
    ]
    for extra, msg in cases:
        rc = main(["restore", str(photo), "--model", str(tiny_model_dir), "-q", *extra, *FAST])
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and err.count("\n") == 1 and "Error:" not in err, (extra, err)
    rc = main(["restore", str(photo), "--model", str(tiny_model_dir), "-q", "--task", "colorize", "--device", "tpu"])
    assert rc == 2 and "--device tpu: not a device name" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # argparse's own error (usage line + message)
        main(["restore", str(photo), "--task", "paint", "--model", str(tiny_model_dir)])
    assert e.value.code == 2 and "unknown task 'paint'; choose one of colorize, inpaint" in capsys.readouterr().err
    rc = main(["restore", str(photo), "--task", "colorize", "--model", str(tmp_path / "none"), "-q", *FAST])
    assert rc == 2 and "no such file" in capsys.readouterr().err
    (tmp_path / "junk.jpg").write_text("not a photo")
    rc = main(["restore", str(tmp_path / "junk.jpg"), "--task", "colorize", "--model", str(tiny_model_dir), *FAST])
    assert rc == 2 and "not an image" in capsys.readouterr().err


def test_inpaint_with_mask_and_alpha_kept(tiny_model_dir, tmp_path, capsys):
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 255, (40, 50, 4), dtype=np.uint8)
    rgba[..., 3] = np.linspace(10, 250, 50).astype(np.uint8)[None]
    Image.fromarray(rgba, "RGBA").save(tmp_path / "sticker.png")
    mask = np.zeros((40, 50), np.uint8)
    mask[15:25, 20:30] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "res" / "filled.png"
    rc = main(["restore", str(tmp_path / "sticker.png"), "--task", "inpaint", "--mask", str(tmp_path / "mask.png"),
               "--feather", "2", "--model", str(tiny_model_dir), "--out", str(out), "-q", *FAST])
    assert rc == 0, capsys.readouterr().err
    res = np.asarray(Image.open(out))
    assert res.shape == (40, 50, 4) and np.array_equal(res[..., 3], rgba[..., 3])  # alpha re-attached
    changed = (res[..., :3] != rgba[..., :3]).any(axis=2)
    assert changed[15:25, 20:30].all() and not changed[:12].any() and not changed[:, :17].any()


def test_super_resolution_region(tiny_model_dir, photo, tmp_path, capsys):
    rc = main(["restore", str(photo), "--task", "sr", "--scale", "2", "--region", "4,2,20",
               "--model", str(tiny_model_dir), "-q", *FAST])
    assert rc == 0, capsys.readouterr().err
    assert Image.open(tmp_path / "old_sr.png").size == (40, 40)


def test_folder_batch_via_cli(tiny_model_dir, tmp_path, capsys):
    src = tmp_path / "scans"
    src.mkdir()
    rng = np.random.default_rng(2)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (30, 40), dtype=np.uint8)).save(src / f"s{i}.png")
    (src / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "done"
    args = ["restore", str(src), "--task", "colorize", "--model", str(tiny_model_dir), "--out-dir", str(out), "-q", *FAST]
    assert main(args) == 1  # finished, but a file failed
    err = capsys.readouterr().err
    assert "2 done, 0 skipped (already done), 1 failed" in err and "bad.png" in err
    # the summary names the file once, then says why
    [failed] = [x for x in err.splitlines() if x.startswith("failed: ")]
    assert failed.startswith("failed: bad.png: ") and failed.count("bad.png") == 1, failed
    rows = list(csv.DictReader(open(out / "dgp_restore_log.csv")))
    assert {r["input"]: r["status"] for r in rows} == {"s0.png": "ok", "s1.png": "ok", "bad.png": "error"}
    assert main(args) == 1
    assert "0 done, 2 skipped (already done), 1 failed" in capsys.readouterr().err
    rc = main(["restore", str(src), "--task", "colorize", "--save-session", str(tmp_path / "x.dgps"),
               "--model", str(tiny_model_dir), *FAST])
    assert rc == 2 and "one photo" in capsys.readouterr().err


def test_a_folder_run_says_each_photos_notes_unless_quiet(tiny_model_dir, tmp_path, capsys):
    src = tmp_path / "mixed"
    src.mkdir()
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(src / "colour.png")
    Image.fromarray(rng.integers(0, 255, (30, 40), dtype=np.uint8)).save(src / "gray.png")
    args = ["restore", str(src), "--task", "colorize", "--model", str(tiny_model_dir), *FAST]
    assert main(args + ["--out-dir", str(tmp_path / "a")]) == 0
    lines = capsys.readouterr().err.splitlines()

    def notes_of(name):  # the note lines right under the photo's outcome line
        at = next(i for i, x in enumerate(lines) if x.startswith("[") and f"{name}: ok" in x)
        out = []
        for x in lines[at + 1:]:
            if not x.startswith("    note: "):
                break
            out.append(x)
        return out
    assert any("already has colour" in n for n in notes_of("colour.png"))
    assert not any("already has colour" in n for n in notes_of("gray.png"))
    # the log holds them either way; -q keeps the terminal to the outcome lines
    assert main(args + ["--out-dir", str(tmp_path / "b"), "-q"]) == 0
    assert "note:" not in capsys.readouterr().err
    rows = {r["input"]: r for r in csv.DictReader(open(tmp_path / "b" / "dgp_restore_log.csv"))}
    assert "already has colour" in rows["colour.png"]["notes"]


def test_help_explains_the_command(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # no line wrapping inside the phrases checked
    with pytest.raises(SystemExit) as e:
        main(["restore", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for word in ("colorize", "inpaint", "WHITE", "--region", "--candidates", "--iters-scale",
                 "--devices", "never overwritten", "skipped"):
        assert word in text, word


def test_ctrl_c_in_a_batch_keeps_finished_files_and_the_rerun_continues(tiny_model_dir, tmp_path, monkeypatch, capsys):
    import dgp_studio.core.batch as batch
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 24, 3), 40 * i, np.uint8)).save(src / f"p{i}.png")
    real, calls = batch.process_file, []

    def interrupted_after_one(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second photo
        return real(*a, **k)

    monkeypatch.setattr(batch, "process_file", interrupted_after_one)
    out = tmp_path / "out"
    args = ["restore", str(src), "--task", "colorize", "--model", str(tiny_model_dir), "--out-dir", str(out), "-q", *FAST]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "run the same command again" in err
    assert sorted(p.name for p in out.glob("*.png")) == ["p0_colorize.png"]
    assert not list(out.glob(".*tmp"))
    monkeypatch.setattr(batch, "process_file", real)
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "p0.png: skipped (done)" in err and sorted(p.name for p in out.glob("*.png")) == [
        "p0_colorize.png", "p1_colorize.png", "p2_colorize.png"]


def test_super_resolution_default_is_one_model_input_of_native_pixels(tiny_model_dir, tmp_path, capsys):
    # a photo larger than the model's input: the centred input-sized square, not the whole short side
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "big.png")
    rc = main(["restore", str(tmp_path / "big.png"), "--task", "sr", "--scale", "4",
               "--model", str(tiny_model_dir), *FAST])
    err = capsys.readouterr().err
    res = load_biggan(tiny_model_dir).resolution
    side = res // 4
    assert rc == 0 and f"works on a {side} px square" in err
    out = np.asarray(Image.open(tmp_path / "big_sr.png"))
    assert out.shape[:2] == (res, res)
    rc = main(["restore", str(tmp_path / "big.png"), "--task", "sr", "--scale", "4", "--region", "0,0,40",
               "--model", str(tiny_model_dir), "--out", str(tmp_path / "r.png"), *FAST])
    assert rc == 0 and f"reduced to {side} px" in capsys.readouterr().err


def test_reconstruct_of_a_large_region_says_it_is_enlarged(tiny_model_dir, tmp_path, capsys):
    Image.fromarray(np.random.default_rng(4).integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    assert main(["restore", str(tmp_path / "p.png"), "--task", "defend", "--model", str(tiny_model_dir), *FAST]) == 0
    res = load_biggan(tiny_model_dir).resolution
    assert f"the model's {res} px output enlarged to the 50x50 px region" in capsys.readouterr().err
    assert Image.open(tmp_path / "p_defend.png").size == (50, 50)


def test_out_may_be_a_folder_or_another_image_type(tiny_model_dir, photo, tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    assert main(["restore", str(photo), "--task", "colorize", "--model", str(tiny_model_dir), "--out", str(folder),
                 "-q", *FAST]) == 0
    assert (folder / "old_colorize.png").exists()
    assert main(["restore", str(photo), "--task", "colorize", "--model", str(tiny_model_dir),
                 "--out", str(tmp_path / "old.jpg"), "-q", *FAST]) == 0
    with Image.open(tmp_path / "old.jpg") as im:
        assert im.format == "JPEG" and im.size == Image.open(photo).size
    capsys.readouterr()
    assert main(["restore", str(photo), "--task", "colorize", "--model", str(tiny_model_dir),
                 "--out", str(tmp_path / "old.txt"), "-q", *FAST]) == 2
    assert "unknown image type '.txt'" in capsys.readouterr().err and not (tmp_path / "old.txt").exists()


def test_output_places_that_do_not_exist_yet_or_are_folders(tiny_model_dir, photo, tmp_path, capsys):
    # a session into a new folder, and into an existing folder (named after the photo)
    args = ["restore", str(photo), "--task", "reconstruct", "--model", str(tiny_model_dir), "-q", *FAST]
    assert main(args + ["--out", str(tmp_path / "a.png"), "--save-session", str(tmp_path / "new" / "s.dgps")]) == 0
    assert load_session(tmp_path / "new" / "s.dgps")[0].steps_done > 0
    assert main(args + ["--out", str(tmp_path / "b.png"), "--save-session", str(tmp_path / "new")]) == 0
    assert (tmp_path / "new" / "old.dgps").exists()
    # --out-dir naming a file: refused before any work, in one line
    (tmp_path / "afile").write_text("x")
    capsys.readouterr()
    assert main(["restore", str(photo), str(tmp_path / "a.png"), "--task", "colorize", "--model",
                 str(tiny_model_dir), "--out-dir", str(tmp_path / "afile"), "-q", *FAST]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_commands_refuse_a_file_as_their_output_folder_before_working(tiny_model_dir, photo, tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    cmds = [["eval", "--images", str(photo.parent), "--quick", "--model", str(tiny_model_dir), "--out", str(f)],
            ["train", str(photo.parent), "--out", str(f)],
            ["morph", str(f), str(f), "--out-dir", str(f), "--model", str(tiny_model_dir)]]
    for cmd in cmds:
        assert main(cmd) == 2, cmd
        assert f"{f}: is a file, not a folder" in capsys.readouterr().err, cmd
    assert f.read_text() == "x"


def test_jobs_works_on_several_photos_at_once(tiny_model_dir, tmp_path, capsys):
    """--jobs N: N worker processes on --device (the spawned-worker path of --devices)."""
    src = tmp_path / "scans"
    src.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(src / f"s{i}.png")
    out = tmp_path / "done"
    args = ["restore", str(src), "--task", "colorize", "--model", str(tiny_model_dir), "--out-dir", str(out),
            "-q", "--device", "cpu", *FAST]
    assert main(args + ["--jobs", "2"]) == 0
    assert "3 done, 0 skipped (already done), 0 failed" in capsys.readouterr().err
    assert sorted(p.name for p in out.glob("*.png")) == [f"s{i}_colorize.png" for i in range(3)]
    log = json.loads((out / "dgp_restore_log.json").read_text())
    assert log["devices"] == ["cpu", "cpu"]
    for bad, msg in ((["--jobs", "0"], "--jobs 0: give 1 or more"),
                     (["--jobs", "2", "--devices", "cpu"], "--jobs and --devices both choose the workers")):
        rc = main(args + ["--redo"] + bad)
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and err.count("\n") == 1, err


@pytest.mark.parametrize("orientation", [6, 8, 5])
def test_a_mask_drawn_on_the_stored_pixels_of_a_turned_photo_is_turned_with_it(tiny_model_dir, tmp_path,
                                                                               orientation):
    # stored pixels 60x40, shown 40x60; the mask marks a block in stored coordinates
    rng = np.random.default_rng(1)
    stored = rng.integers(30, 220, (40, 60, 3), dtype=np.uint8)
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = orientation
    src = tmp_path / "turned.jpg"
    im.save(src, exif=exif, quality=95)
    raw_mask = np.zeros((40, 60), np.uint8)
    raw_mask[5:15, 40:55] = 255                       # top right of the stored pixels
    Image.fromarray(raw_mask).save(tmp_path / "raw_mask.png")
    photo = open_image(src)
    assert photo.size == (40, 60)
    # where that block is in the photo as shown: the same transposition as the photo's own
    turn = {5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 8: Image.Transpose.ROTATE_90}[orientation]
    shown_mask = np.asarray(Image.fromarray(raw_mask).transpose(turn)) > 127
    out = restore(load_biggan(tiny_model_dir), photo, RestoreSettings("inpaint", iters_scale=0.02, candidates=4),
                  mask=tmp_path / "raw_mask.png")
    assert any("stored pixels" in n for n in out.notes)
    changed = np.abs(np.asarray(out.image, np.int16) - np.asarray(photo.rgb, np.int16)).max(axis=2) > 0
    assert changed[shown_mask].mean() > 0.9            # the hole is filled where the block is shown
    far = ~np.asarray(Image.fromarray(shown_mask).filter(ImageFilter.MaxFilter(9)))
    assert not changed[far].any()                      # and nothing away from it changes
    # a mask of the shown size is taken as it is, with no note
    again = restore(load_biggan(tiny_model_dir), photo, RestoreSettings("inpaint", iters_scale=0.02, candidates=4),
                    mask=Image.fromarray((shown_mask * 255).astype(np.uint8)))
    assert not any("stored pixels" in n for n in again.notes)
    assert np.array_equal(np.asarray(again.image), np.asarray(out.image))


def test_settings_that_would_run_forever_or_overflow_are_refused(photo, capsys):
    for args, said in ((["--iters-scale", "1e9"], "at most 100"), (["--iters-scale", "0"], "> 0"),
                       (["--seed", str(10 ** 20)], "--seed must be between"),
                       # a billion candidates asked torch for 400 GB of z (or ran for days); a huge
                       # seam grew an inpainting hole once per pixel over the whole photo
                       (["--candidates", str(10 ** 9)], "--candidates must be between 0 and 100,000"),
                       (["--feather", str(10 ** 7)], "--feather must be between 0 and 1000 px")):
        assert main(["restore", str(photo), "--task", "colorize", "-q", *args]) == 2, args
        assert said in capsys.readouterr().err, args
    edge = RestoreSettings("colorize", seed=-(2 ** 62), iters_scale=100, candidates=100_000, feather=1000)
    assert edge.seed == -(2 ** 62)


def test_a_result_that_cannot_be_written_is_one_line_naming_it(tiny_model_dir, photo, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    m = ["--model", str(tiny_model_dir), "-q", *FAST]
    capsys.readouterr()
    assert main(["restore", str(photo), "--task", "colorize", "--out", str(blocker / "r.png")] + m) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"dgp-studio: error: cannot write {blocker / 'r.png'}: {blocker} is a file where a folder is needed"
    s = tmp_path / "s.dgps"
    assert main(["restore", str(photo), "--task", "colorize", "--save-session", str(s)] + m) == 0
    capsys.readouterr()
    assert main(["jitter", str(s), "--out", str(blocker / "j.png"), "--model", str(tiny_model_dir)]) == 2
    assert f"cannot write {blocker / 'j.png'}" in capsys.readouterr().err
    assert blocker.read_text() == "a file, not a folder"


def test_a_mask_over_the_whole_region_says_the_fill_is_invented(tiny_model_dir, photo):
    gan = load_biggan(tiny_model_dir)
    settings = RestoreSettings("inpaint", iters_scale=0.02, candidates=4)
    everything = np.zeros((36, 48), bool)
    everything[:, 6:42] = True                            # the largest square there is, all of it
    with pytest.raises(RestoreError, match="the whole region is masked"):  # as the editor refuses it
        restore(gan, open_image(photo), settings, mask=everything)
    almost = everything.copy()
    almost[:4, 6:10] = False                              # a corner of the square left: ~1 % of it
    out = restore(gan, open_image(photo), replace(settings, region="6,0,36"), mask=almost)
    assert any("of the region the model sees" in n and "invention" in n for n in out.notes)
    half = np.zeros((36, 48), bool)
    half[:, :24] = True
    out = restore(gan, open_image(photo), settings, mask=half)
    assert not any("invention" in n for n in out.notes)
