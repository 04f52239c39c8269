"""Robustness: hostile checkpoints, out-of-memory, disk full, cancel + rerun, two processes sharing
the cache, and fuzzed inputs (images, masks, sessions, projects, cache entries)."""
from __future__ import annotations

import builtins
import errno
import io
import json
import multiprocessing
import os
import pickle
import shlex
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cache_fixtures import (fake_result, key_n, one_thread, photo, shared_cache_worker, tiny_gan,
                            tiny_preset)
from dgp_studio.core.cache import CachedResult, CacheError, ResultCache
from dgp_studio.core.checkpoint import CheckpointError, load_biggan, save_biggan
from dgp_studio.core.degradations import Identity
from dgp_studio.core.errors import InputError, free_memory, friendly_error, is_out_of_memory
from dgp_studio.core.inputs import read_image, read_mask
from dgp_studio.core.project import Project, ProjectError, open_project, save_project
from dgp_studio.core.reconstructor import Cancelled, Reconstructor
from dgp_studio.core.session import SessionError, load_session, save_session

try:
    from dgp_studio.core import intake
except ImportError:  # the full intake is another issue's; the minimal reader is always tested
    intake = None


@pytest.fixture(scope="module")
def gan():
    return tiny_gan(0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, gan):
    d = tmp_path_factory.mktemp("model") / "tiny"
    save_biggan(gan, d)
    return d


def _one_line(exc) -> str:
    msg = str(exc)
    assert msg.strip() and "\n" not in msg, repr(msg)
    return msg


# -- hostile and broken checkpoints -------------------------------------------------------------------
class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_malicious_pickle_is_refused_and_never_runs(gan, tmp_path):
    # prove the payload is live: plain pickle runs it
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(probe)))
    assert probe.exists()

    marker = tmp_path / "PWNED"
    sd = dict(gan.G.state_dict())
    sd["linear.weight"] = _Payload(marker)
    folder = tmp_path / "evil"
    folder.mkdir()
    torch.save(sd, folder / "G_ema_128.pth")                 # torch's zip format
    torch.save(gan.D.state_dict(), folder / "D_128.pth")
    legacy = tmp_path / "G_legacy.pth"
    with open(legacy, "wb") as f:                            # a bare pickle stream
        pickle.dump({"linear.weight": _Payload(marker)}, f)
    for path in (folder, folder / "G_ema_128.pth", legacy):
        with pytest.raises(CheckpointError) as ei:
            load_biggan(path)
        msg = _one_line(ei.value)
        assert "refused" in msg and "Python objects" in msg
    assert not marker.exists()
    junk = tmp_path / "G_junk.pth"  # not a pickle at all: said so, not called malicious
    junk.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_biggan(junk)


def test_wrong_shape_and_truncated_checkpoints_give_one_line(gan, model_dir, tmp_path):
    sd = dict(gan.G.state_dict())
    sd["blocks.0.0.bn1.gain.weight"] = torch.zeros(3, 3)
    folder = tmp_path / "wrong"
    folder.mkdir()
    torch.save(sd, folder / "G_ema_x.pth")
    torch.save(gan.D.state_dict(), folder / "D_x.pth")
    with pytest.raises(CheckpointError) as ei:
        load_biggan(folder)
    assert "blocks.0.0.bn1.gain.weight" in _one_line(ei.value)

    for name in ("G_ema.pth", "D.pth"):
        t = tmp_path / f"trunc_{name}"
        t.mkdir()
        for f in model_dir.iterdir():
            data = f.read_bytes()
            (t / f.name).write_bytes(data[: len(data) // 2] if f.name == name else data)
        with pytest.raises(CheckpointError) as ei:
            load_biggan(t)
        assert name in _one_line(ei.value)

    st = tmp_path / "st"
    save_biggan(gan, st, fmt="safetensors")
    g = st / "G_ema.safetensors"
    g.write_bytes(g.read_bytes()[:-100])
    with pytest.raises(CheckpointError) as ei:
        load_biggan(st)
    assert "truncated" in _one_line(ei.value)


def test_a_foreign_state_dict_is_named_as_not_a_biggan(gan, tmp_path):
    # a dict of tensors that is no generator at all: the missing key is named, not a block count
    folder = tmp_path / "foreign"
    folder.mkdir()
    torch.save({"fc.weight": torch.zeros(3, 3)}, folder / "G_ema_128.pth")
    torch.save(gan.D.state_dict(), folder / "D_128.pth")
    with pytest.raises(CheckpointError) as ei:
        load_biggan(folder)
    msg = _one_line(ei.value)
    assert "G_ema_128.pth" in msg and "missing key 'shared.weight'" in msg and "not a BigGAN" in msg


def test_a_model_without_discriminator_fails_once_with_its_name(gan, model_dir, tmp_path, capsys):
    from dgp_studio.cli.main import main
    g_only = tmp_path / "g_only"
    g_only.mkdir()
    (g_only / "G_ema.pth").write_bytes((model_dir / "G_ema.pth").read_bytes())
    loaded = load_biggan(g_only)  # loading is fine: manipulations need only G
    assert loaded.D is None
    with pytest.raises(CheckpointError) as ei:
        Reconstructor(loaded, tiny_preset(), Identity())
    msg = _one_line(ei.value)
    assert "g_only" in msg and "no discriminator" in msg and "D_<suffix>.pth" in msg
    # the CLI refuses before any photo is touched, with the same line (not "ValueError: ...")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("L", (40, 30), 90).save(photos / name)
    for argv in ([str(photos / "a.png")], [str(photos)]):
        rc = main(["restore", *argv, "--task", "colorize", "--model", str(g_only), "-q"])
        err = capsys.readouterr().err
        assert rc == 2 and "no discriminator" in err and "g_only" in err and "Error:" not in err, err
        assert err.count("no discriminator") == 1
    assert sorted(p.name for p in photos.iterdir()) == ["a.png", "b.png"]  # nothing written


def test_config_json_only_names_things_and_odd_values_are_not_used(gan, model_dir, tmp_path, capsys):
    """The architecture is read off the tensors; config.json gives the model's name and class
    names.  Class names that were not strings made 'models check' end in a TypeError traceback;
    a name with path separators went into eval's default folder ('eval-<name>')."""
    from dgp_studio.cli.main import main
    folder = tmp_path / "m"
    folder.mkdir()
    for f in ("G_ema.pth", "D.pth"):
        (folder / f).write_bytes((model_dir / f).read_bytes())
    n = gan.config.n_classes

    def with_config(doc):
        (folder / "config.json").write_text(json.dumps(doc))
        return load_biggan(folder)
    own = [f"kind {i}" for i in range(n)]
    assert with_config({"name": "my prior", "class_names": own}).config.class_names == own
    for odd in (list(range(n)), own[:-1], "abcde", [""] * n):
        assert with_config({"class_names": odd}).config.class_names != odd
        assert main(["models", "check", str(folder)]) == 0      # the default names, no traceback
        assert "Traceback" not in capsys.readouterr().err
    loaded = with_config({"name": "x/../../../tmp/evil\\n", "class_names": own})
    assert "/" not in loaded.name and "\\" not in loaded.name and loaded.name.startswith("x_")
    assert with_config({"name": 5}).name == "m"                  # not a string: the folder's name
    with pytest.raises(CheckpointError, match="config.json: not a model description"):
        with_config([1, 2])


# -- out of memory ---------------------------------------------------------------------------------------
OOMS = [
    lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total)"),
    lambda: RuntimeError("CUDA error: out of memory"),
    lambda: RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                         "you tried to allocate 8589934592 bytes"),
    lambda: MemoryError(),
]


class _FailOnCall(Identity):
    """Identity phi that raises ``make()`` on its n-th call, once."""

    def __init__(self, n, make):
        self.n, self.make, self.calls = n, make, 0

    def __call__(self, x):
        self.calls += 1
        if self.calls == self.n:
            raise self.make()
        return x


@pytest.mark.parametrize("make", OOMS)
def test_out_of_memory_in_a_step_is_readable_and_the_next_run_works(gan, make, monkeypatch):
    p = tiny_preset(factor=0.02)
    img = photo(3)
    base = {k: v.clone() for k, v in gan.G.state_dict().items()}
    with one_thread():
        clean = Reconstructor(gan, p).run(img, class_id=2, seed=5)
        # the failure comes from phi(G(z)) in the 4th call (the search makes the 1st): a step, whatever
        # the engine's internals look like
        rec = Reconstructor(gan, p, _FailOnCall(4, make))
        with pytest.raises((RuntimeError, MemoryError)) as ei:
            rec.run(img, class_id=2, seed=5)
        assert is_out_of_memory(ei.value)
        msg = friendly_error(ei.value)
        assert msg.startswith("Out of memory") and "Try again after" in msg and "\n" not in msg
        free_memory()
        assert rec.G is None                                          # the working copy was released
        assert all(torch.equal(v, base[k]) for k, v in gan.G.state_dict().items())  # model untouched
        again = rec.run(img, class_id=2, seed=5)
    assert again.steps_done == clean.steps_done and torch.equal(again.z, clean.z)
    assert all(torch.equal(again.generator_state[k], clean.generator_state[k]) for k in clean.generator_state)


def test_every_error_class_of_ours_gives_its_own_message():
    import importlib
    import pkgutil

    import dgp_studio
    from dgp_studio.core.errors import OUR_ERRORS
    found = set()
    for m in pkgutil.walk_packages(dgp_studio.__path__, "dgp_studio."):
        if ".gui" in m.name or m.name.endswith("__main__"):
            continue
        mod = importlib.import_module(m.name)
        for name, obj in vars(mod).items():
            if (isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, Warning)
                    and obj.__module__ == mod.__name__ and name != "Cancelled"):
                found.add(obj)
                assert friendly_error(obj("photo.jpg: what went wrong")) == "photo.jpg: what went wrong", name
    assert all(any(c.__name__ in OUR_ERRORS for c in cls.__mro__) for cls in found), found
    assert friendly_error(Cancelled()) == "Cancelled."


def test_friendly_error_for_other_failures(tmp_path):
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert friendly_error(RuntimeError("shape mismatch\ndetails")) == "RuntimeError: shape mismatch"
    assert "disk is full" in friendly_error(OSError(errno.ENOSPC, "No space left", "/x/y"))
    assert friendly_error(CheckpointError("m.pth: truncated")) == "m.pth: truncated"
    assert friendly_error(FileNotFoundError(2, "No such file", "a.png")) == "File not found: a.png"


# -- disk full while writing the cache --------------------------------------------------------------------
class _FullDisk:
    """A file object that accepts ``room`` bytes, then fails like a full disk."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, data):
        n = min(len(data), self.room)
        self.f.write(bytes(data[:n]))
        self.room -= n
        if n < len(data):
            raise OSError(errno.ENOSPC, "No space left on device")
        return n

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@pytest.mark.parametrize("fail_on", [0, 1])        # 0: in the tensor file, 1: in the JSON written after it
def test_disk_full_while_writing_the_cache_leaves_no_partial_file(gan, tmp_path, monkeypatch, fail_on):
    real, opened = io.open, [0]

    def fake_open(file, mode="r", *a, **k):  # every write (open, Path.write_bytes) goes through io.open
        f = real(file, mode, *a, **k)
        if "w" in mode and Path(file).parent.name == "results-v1":
            opened[0] += 1
            return _FullDisk(f, 200 if opened[0] == fail_on + 1 else 1 << 40)
        return f

    res = fake_result(gan, 1)
    cache = ResultCache(tmp_path)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(builtins, "open", fake_open)
    with pytest.warns(RuntimeWarning, match="disk is full"):
        entry = cache.put(key_n(1), res, gan)
    monkeypatch.undo()
    assert opened[0] == fail_on + 1
    assert entry is not None and cache.get(key_n(1), gan) is not None     # still served from memory
    assert [p.name for p in (tmp_path / "results-v1").iterdir()] == [".lock"]
    assert ResultCache(tmp_path).get(key_n(1), gan) is None
    cache.put(key_n(1), res, gan)                                          # space is back: it works
    assert ResultCache(tmp_path).get(key_n(1), gan).seed == 1


# -- cancel and rerun ------------------------------------------------------------------------------------
def test_cancel_mid_stage_then_rerun_equals_an_uninterrupted_run(gan):
    p = tiny_preset(factor=0.03)                       # stages of 6, 6, 9, 12, 9 iterations
    img = photo(4)
    with one_thread():
        full = Reconstructor(gan, p).run(img, class_id=1, seed=11)
        rec = Reconstructor(gan, p)

        def progress(pr):
            if pr.phase == "optimise" and pr.stage == 2 and pr.iteration == 4:
                rec.cancel()

        part = rec.run(img, class_id=1, seed=11, progress=progress)
        again = rec.run(img, class_id=1, seed=11)
    assert part.cancelled and part.stages_done == 2 and part.steps_done == 6 + 6 + 4
    assert not again.cancelled and again.steps_done == full.steps_done == p.total_iterations
    assert torch.equal(again.z, full.z) and torch.equal(again.image, full.image)
    assert all(torch.equal(again.generator_state[k], full.generator_state[k]) for k in full.generator_state)
    assert not torch.equal(part.z, full.z)


# -- two processes, one cache folder ----------------------------------------------------------------------
def test_two_processes_sharing_the_disk_cache_do_not_corrupt_it(gan, model_dir, tmp_path):
    root = tmp_path / "shared"
    probe = CachedResult.from_result(fake_result(gan, 0), gan, key=key_n(0))
    budget = int(3.5 * probe.nbytes)                   # ~3 of 6 keys fit: constant eviction
    ctx = multiprocessing.get_context("spawn")
    q, barrier = ctx.Queue(), ctx.Barrier(2)
    procs = [ctx.Process(target=shared_cache_worker, args=(str(root), str(model_dir), w, 80, budget, q, barrier))
             for w in range(2)]
    for pr in procs:
        pr.start()
    reports = [q.get(timeout=240) for _ in procs]
    for pr in procs:
        pr.join(60)
    for wid, status, info in reports:
        assert status == "ok", info
        assert info["warnings"] == [], info
    assert sum(r[2]["hits"] for r in reports) > 0 and sum(r[2]["puts"] for r in reports) > 0
    (a0, a1), (b0, b1) = (r[2]["window"] for r in reports)
    assert max(a0, b0) < min(a1, b1)                   # the two really ran at the same time
    folder = root / "results-v1"
    names = [p.name for p in folder.iterdir()]
    assert not [n for n in names if n.endswith(".tmp")]
    cache = ResultCache(root, disk_budget=budget)
    keys = cache.disk_keys()
    assert keys and len([n for n in names if n.endswith(".safetensors")]) == len(keys)   # no orphans
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for k in keys:
            r = cache.get(k, gan)
            assert r.seed == int(k, 16)
    assert cache.disk_usage() <= budget


# -- fuzz ------------------------------------------------------------------------------------------------
MAGICS = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00", b"RIFF\x00\x00\x00\x00WEBP",
          b"PK\x03\x04"]


def _random_blobs(n, rng):
    for i in range(n):
        size = int(rng.choice([0, 1, 7, 64, 600, 5000]))
        yield MAGICS[i % len(MAGICS)] + rng.integers(0, 256, size, dtype=np.uint8).tobytes()


def _mutations(data: bytes, n, rng):
    for i in range(n):
        b = bytearray(data)
        kind = i % 3
        if kind == 0:
            for _ in range(int(rng.integers(1, 8))):
                b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
        elif kind == 1:
            b = b[: int(rng.integers(0, len(b)))]
        else:
            a = int(rng.integers(0, len(b)))
            b[a:a + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        yield bytes(b)


def _try(fn, expected, outcomes):
    try:
        fn()
        outcomes["ok"] += 1
    except expected as e:
        _one_line(e)
        outcomes["refused"] += 1


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fuzz_images_and_masks(tmp_path):
    rng = np.random.default_rng(1234)
    png, jpg = io.BytesIO(), io.BytesIO()
    Image.fromarray(photo(5)).save(png, "PNG")
    Image.fromarray(photo(6)).save(jpg, "JPEG")
    blobs = list(_random_blobs(64, rng)) + list(_mutations(png.getvalue(), 40, rng))
    blobs += list(_mutations(jpg.getvalue(), 40, rng))
    out = {"ok": 0, "refused": 0}
    f = tmp_path / "in.img"
    for blob in blobs:
        f.write_bytes(blob)
        _try(lambda: read_image(f), InputError, out)
        _try(lambda: read_mask(f, size=(32, 32)), InputError, out)
        if intake is not None:
            _try(lambda: intake.open_image(f), intake.IntakeError, out)
    assert out["refused"] > len(blobs)                 # most are junk ...
    assert out["ok"] > 0                               # ... some mutations still decode
    arrays = [np.zeros((0, 4)), np.full((8, 8), np.nan), np.array(["a", "b"]), np.ones((2, 3, 5)),
              rng.random((9, 7)), rng.integers(0, 256, (5, 5, 3)).astype(np.uint8), np.ones(5),
              np.array([[1, 0], [0, 1]], dtype=bool), np.full((3, 3), np.inf)]
    for a in arrays:
        try:
            m = read_mask(a, size=(4, 4))
            assert m.shape == (4, 4) and set(np.unique(m)) <= {0.0, 1.0}
        except InputError as e:
            _one_line(e)


def test_fuzz_session_files(gan, tmp_path):
    rng = np.random.default_rng(1234)
    good = tmp_path / "good.dgps"
    save_session(fake_result(gan, 2), good, gan)
    load_session(good, gan)
    data = good.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["dgp_studio"])
    blobs = list(_random_blobs(40, rng)) + list(_mutations(data[: 8 + n + 200], 20, rng))
    blobs += list(_mutations(data, 40, rng))
    # structurally valid files whose settings block holds wrong types (the session.py defects
    # are tested separately below)
    for field_, value in [("class_id", "x"), ("seed", None), ("norm_blocks", 3), ("task", {"a": 1}),
                          ("history", "no"), ("model", 5), ("format", 1)]:
        blobs.append(_session_with(data, n, header, meta, field_, value))
    out = {"ok": 0, "refused": 0}
    f = tmp_path / "s.dgps"
    for blob in blobs:
        f.write_bytes(blob)
        _try(lambda: load_session(f, gan), SessionError, out)
    assert out["refused"] > 40


def _session_with(data, n, header, meta, field_, value, whole=None):
    h = json.loads(json.dumps(header))
    h["__metadata__"]["dgp_studio"] = json.dumps(whole if whole is not None else dict(meta, **{field_: value}))
    head = json.dumps(h).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + data[8 + n:]


@pytest.mark.parametrize("case", ["version", "preset", "settings"])
def test_fuzz_session_settings_of_the_wrong_type(gan, tmp_path, case):
    good = tmp_path / "good.dgps"
    save_session(fake_result(gan, 2), good, gan)
    data = good.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["dgp_studio"])
    blob = {"version": lambda: _session_with(data, n, header, meta, "version", "2"),
            "preset": lambda: _session_with(data, n, header, meta, "preset", [1]),
            "settings": lambda: _session_with(data, n, header, meta, None, None, whole=[1])}[case]()
    f = tmp_path / "s.dgps"
    f.write_bytes(blob)
    with pytest.raises(SessionError):
        load_session(f, gan)


def test_fuzz_project_files(gan, tmp_path):
    rng = np.random.default_rng(1234)
    p = Project(settings={"task": "inpaint"}, mask=np.ones((32, 32), np.float32), region=(0, 0, 32))
    p.add_result(fake_result(gan, 3), gan)
    good = save_project(p, tmp_path / "good.dgp").read_bytes()
    blobs = list(_random_blobs(40, rng)) + list(_mutations(good, 60, rng))
    # well-formed zips whose project.json holds the wrong types (checksums stay valid)
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    doc = json.loads(members["project.json"])
    for field_, value in [("results", "abc"), ("results", [5, None]), ("timeline", 5), ("timeline", [1]),
                          ("image", []), ("image", {"member": "../../x"}), ("region", "x"), ("mask", 3),
                          ("members", []), ("settings", [1]), ("version", "1"), ("active", {"a": 1})]:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, json.dumps(dict(doc, **{field_: value})) if name == "project.json" else data)
        blobs.append(buf.getvalue())
    out = {"ok": 0, "refused": 0}
    f = tmp_path / "f.dgp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # damaged results are left out with a warning
        for blob in blobs:
            f.write_bytes(blob)
            _try(lambda: open_project(f), ProjectError, out)
    assert out["refused"] > 40


def test_fuzz_cache_entries(gan, tmp_path):
    rng = np.random.default_rng(1234)
    e = CachedResult.from_result(fake_result(gan, 4), gan, key=key_n(4))
    jp, tp = e.write(tmp_path, "good")
    jdata, tdata = jp.read_bytes(), tp.read_bytes()
    out = {"ok": 0, "refused": 0}
    for blob in _mutations(jdata, 30, rng):
        jp.write_bytes(blob)
        _try(lambda: CachedResult.read(jp, tp), CacheError, out)
    jp.write_bytes(jdata)
    for blob in _mutations(tdata, 30, rng):
        tp.write_bytes(blob)
        _try(lambda: CachedResult.read(jp, tp), CacheError, out)
    assert out["ok"] == 0 and out["refused"] == 60    # every change is caught by a checksum
