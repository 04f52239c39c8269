""".dgp project files: exact state round trip, referenced images, damage, autosave, and the
acceptance check that reopening a project and manipulating it runs no optimisation."""
from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cache_fixtures import fake_result, photo, real_result, tiny_gan, tiny_preset
from dgp_studio.core import manipulate
from dgp_studio.core.cache import ResultCache, cache_key
from dgp_studio.core.checkpoint import load_biggan, save_biggan
from dgp_studio.core.errors import InputError
from dgp_studio.core.project import (Project, ProjectError, ProjectWarning, Snapshot, discard_autosave,
                                     find_autosaves, open_project, save_project,
                                     write_autosave)
from dgp_studio.core.reconstructor import Reconstructor

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gan():
    return tiny_gan(0)


@pytest.fixture
def image_file(tmp_path):
    p = tmp_path / "photo.png"
    Image.fromarray(photo(7, 48)).save(p)
    return p


def _project(gan, image_file, embed=True):
    p = Project.from_image(image_file, embed=embed)
    p.mask = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    p.region = (3, 5, 40)
    p.settings = {"task": "colorize", "class": "class 2", "preset": {"iterations": [1, 2]}, "ratio": 0.1 + 0.2,
                  "nested": {"ok": True, "none": None}}
    ka = p.add_result(fake_result(gan, 1), gan, key="a" * 64)
    p.add_result(fake_result(gan, 2), gan)
    p.active = ka
    p.timeline = [Snapshot(torch.rand(1, 3, 32, 32), {"stage": 0, "iteration": 20, "ft_num": 2}),
                  Snapshot(torch.randint(0, 255, (32, 32, 3), dtype=torch.uint8), {"label": "stage 2 end"}),
                  Snapshot(torch.rand(4, 3).half(), {})]
    return p


def test_open_restores_the_exact_state(gan, image_file, tmp_path):
    p = _project(gan, image_file)
    path = save_project(p, tmp_path / "edit")
    assert path.name == "edit.dgp" and zipfile.is_zipfile(path)
    q = open_project(path)
    assert q.image_bytes == image_file.read_bytes() and q.image_name == "photo.png"
    assert q.image_sha256 == hashlib.sha256(image_file.read_bytes()).hexdigest()
    assert q.mask.dtype == p.mask.dtype and np.array_equal(q.mask, p.mask)
    assert q.region == p.region and q.settings == p.settings and q.uid == p.uid
    assert list(q.results) == list(p.results) and q.active == p.active and q.damaged == []
    for k in p.results:
        a, b = p.result(k, gan), q.result(k, gan)
        assert torch.equal(a.z, b.z) and torch.equal(a.image, b.image)
        assert all(torch.equal(a.generator_state[n], b.generator_state[n]) for n in a.generator_state)
    assert len(q.timeline) == 3
    for s, t in zip(p.timeline, q.timeline):
        assert s.tensor.dtype == t.tensor.dtype and torch.equal(s.tensor, t.tensor) and s.info == t.info
    assert np.array_equal(np.asarray(q.original_image()), photo(7, 48))


def test_a_referenced_image_is_checked_by_hash(gan, image_file, tmp_path):
    p = _project(gan, image_file, embed=False)
    path = save_project(p, tmp_path / "ref.dgp")
    with zipfile.ZipFile(path) as zf:
        assert not [n for n in zf.namelist() if n.startswith("original/")]
    q = open_project(path)
    assert q.image_bytes is None and q.original_bytes() == image_file.read_bytes()
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "photo.png").write_bytes(image_file.read_bytes())
    image_file.unlink()
    with pytest.raises(ProjectError, match="missing"):
        q.original_bytes()
    assert q.original_bytes(project_dir=moved) == (moved / "photo.png").read_bytes()  # found beside the project
    (moved / "photo.png").write_bytes(b"changed")
    with pytest.raises(ProjectError, match="changed"):
        q.original_bytes(project_dir=moved)


def test_a_non_image_is_refused(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(100))
    with pytest.raises(InputError, match="x.png"):
        Project.from_image(bad)


def test_a_failed_save_keeps_the_previous_file(gan, image_file, tmp_path, monkeypatch):
    path = save_project(_project(gan, image_file), tmp_path / "keep.dgp")
    before = path.read_bytes()
    p2 = _project(gan, image_file)
    p2.settings = {"new": 1}
    real = zipfile.ZipFile.writestr

    def full(self, *a, **k):
        if "project.json" in str(getattr(a[0], "filename", a[0])):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", full)
    with pytest.raises(OSError):
        save_project(p2, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["keep.dgp", "photo.png"]
    with pytest.raises(ProjectError, match="not storable"):
        save_project(Project(settings={"bad": object()}), tmp_path / "bad.dgp")
    assert not (tmp_path / "bad.dgp").exists()


def _rewrite(path, member, fn):
    with zipfile.ZipFile(path) as zf:
        items = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in items:
            zf.writestr(info, fn(data) if info.filename == member else data)


def test_a_damaged_result_is_left_out_with_a_warning(gan, image_file, tmp_path):
    p = _project(gan, image_file)
    path = save_project(p, tmp_path / "d.dgp")
    bad_key = list(p.results)[1]

    def flip(b):
        b = bytearray(b)
        b[-5] ^= 1
        return bytes(b)

    _rewrite(path, f"results/{bad_key}.safetensors", flip)
    with pytest.warns(ProjectWarning):
        q = open_project(path)
    assert list(q.results) == ["a" * 64] and bad_key in q.damaged[0]
    assert np.array_equal(q.mask, p.mask)


@pytest.mark.parametrize("member", ["project.json", "mask.npy", "original/photo.png"])
def test_damage_to_the_essentials_is_one_clear_error(gan, image_file, tmp_path, member):
    path = save_project(_project(gan, image_file), tmp_path / "e.dgp")
    _rewrite(path, member, lambda b: b[: len(b) // 2])
    with pytest.raises(ProjectError) as ei:
        open_project(path)
    msg = str(ei.value)
    assert "\n" not in msg and str(path) in msg


# -- autosave -------------------------------------------------------------------------------------
def test_autosave_naming_and_live_writer(gan, image_file, tmp_path, monkeypatch):
    monkeypatch.setenv("DGP_STUDIO_CACHE", str(tmp_path / "cache"))
    p = _project(gan, image_file)
    a = write_autosave(p, tmp_path / "edit.dgp")
    assert a == tmp_path / "edit.dgp.autosave"
    untitled = write_autosave(p)
    assert untitled == tmp_path / "cache" / "autosave" / f"{p.uid}.dgp.autosave"
    assert find_autosaves([tmp_path]) == []                    # this process is alive: nothing to recover
    live = find_autosaves([tmp_path], include_live=True)
    assert {x.path for x in live} == {a, untitled} and all(x.alive for x in live)
    assert open_project(a).settings == p.settings
    discard_autosave(a)
    assert not a.exists()


def test_autosave_left_by_a_killed_process_is_offered(tmp_path, image_file):
    proj = tmp_path / "work.dgp"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from dgp_studio.core.project import Project, write_autosave
        p = Project.from_image({str(image_file)!r})
        p.settings = {{"step": 7}}
        write_autosave(p, {str(proj)!r})
        print("saved", flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "saved"
        assert find_autosaves([proj], include_default=False) == []   # still running
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    found = find_autosaves([proj], include_default=False)
    assert len(found) == 1 and found[0].pid == child.pid and not found[0].alive
    assert open_project(found[0].path).settings == {"step": 7}
    # once the user saved the project after that autosave, there is nothing to recover
    time.sleep(0.01)
    save_project(Project(settings={"saved": True}), proj)
    assert find_autosaves([proj], include_default=False) == []
    # a damaged autosave is never offered (and never crashes the lookup)
    (tmp_path / "junk.dgp.autosave").write_bytes(b"PK\x03\x04junk")
    assert find_autosaves([tmp_path], include_default=False) == []


def test_damaged_autosave_records_never_stop_the_lookup(tmp_path):
    """The editor looks for autosaves as it starts: a record with a pid too large for the OS
    (OverflowError), a time that is not a number or a project path that is not a string made the
    lookup raise, and the editor did not start.  Such files are skipped or offered, never fatal."""
    import socket

    from dgp_studio.core.project import _write_zip
    host = socket.gethostname()
    records = {
        "huge_pid": {"pid": 10 ** 30, "host": host, "time": 5.0, "project_path": None},
        "bad_time": {"pid": 1 << 30, "host": host, "time": "yesterday", "project_path": None},
        "int_path": {"pid": None, "host": host, "time": 7.0, "project_path": 5},
        "nul_path": {"pid": -4, "host": host, "time": 6.0, "project_path": "a\0b"},
    }
    for name, rec in records.items():
        _write_zip(Project(settings={"name": name}), tmp_path / f"{name}.dgp.autosave", rec)
    found = find_autosaves([tmp_path], include_default=False)
    # offered: no live writer can be shown; skipped: the one whose time cannot be read
    assert [a.path.name for a in found] == ["int_path.dgp.autosave", "nul_path.dgp.autosave",
                                            "huge_pid.dgp.autosave"]
    assert all(a.project_path is None and not a.alive for a in found)
    assert [a.pid for a in found] == [None, -4, 10 ** 30]


# -- acceptance: reopen + manipulate = no optimisation ---------------------------------------------
def test_reopened_project_manipulates_without_optimisation(gan, tmp_path, monkeypatch):
    a = real_result(gan, tiny_preset("morphing"), class_id=1, image_seed=1)
    b = real_result(gan, tiny_preset("morphing"), class_id=3, image_seed=2)
    cache = ResultCache(tmp_path / "cache")
    keys = []
    for r, s in ((a, 1), (b, 2)):
        k = cache_key(photo(s), preset=r.preset, seed=0, class_id=r.class_id, model=gan)
        cache.put(k, r, gan)
        keys.append(k)
    p = Project(settings={"morph": keys})
    for k in keys:
        p.add_entry(cache.get_entry(k))
    path = save_project(p, tmp_path / "morph.dgp")
    del p, cache

    # "close the app, reopen": fresh objects only, and any optimisation is an error
    def no_run(self, *args, **kw):
        raise AssertionError("Reconstructor.run called while reopening/manipulating")

    monkeypatch.setattr(Reconstructor, "run", no_run)
    save_biggan(gan, tmp_path / "model")          # the app loads its model from disk again
    fresh_gan = load_biggan(tmp_path / "model")
    watcher = Reconstructor(fresh_gan, tiny_preset())
    q = open_project(path)
    ra, rb = (q.result(k, fresh_gan) for k in q.settings["morph"])
    renderer = manipulate.Renderer(fresh_gan)
    jit = manipulate.jitter(fresh_gan, ra, n=3, std=0.5, seed=1, renderer=renderer)
    frames = manipulate.morph(fresh_gan, ra, rb, [0.0, 0.5, 1.0], renderer=renderer)
    moved = manipulate.transfer(fresh_gan, ra, class_id=2, renderer=renderer)
    assert watcher.optimise_calls == 0
    assert jit.shape == (3, 3, 32, 32) and len(frames) == 3 and moved.shape == (1, 3, 32, 32)
    # the reopened (fp16-delta) state renders what the freshly optimised one did
    ref = manipulate.Renderer(gan)
    assert (frames[0] - ref.render(a.generator_state, a.z, a.class_embedding)).abs().max() < 2e-3
    assert (frames[2] - ref.render(b.generator_state, b.z, b.class_embedding)).abs().max() < 2e-3
    assert (jit - manipulate.jitter(gan, a, n=3, std=0.5, seed=1, renderer=ref)).abs().max() < 2e-3
    # and the result images are the ones the run produced (8-bit exact)
    assert (ra.image - a.image).abs().max() <= 1 / 255 + 1e-6


def test_project_results_fill_a_cache(gan, tmp_path):
    r = fake_result(gan, 9)
    k = cache_key(photo(9), preset=r.preset, seed=9, class_id=r.class_id, model=gan)
    p = Project()
    p.add_result(r, gan, key=k)
    q = open_project(save_project(p, tmp_path / "c.dgp"))
    cache = ResultCache(tmp_path / "cache")
    assert q.to_cache(cache) == 1
    assert ResultCache(tmp_path / "cache").get(k, gan).seed == 9
