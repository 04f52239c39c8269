"""Project files (``.dgp``): everything needed to come back to an edit exactly as it was.

A project is a zip holding ``project.json`` (format, version, settings, region, the list of
results and timeline snapshots, SHA-256 of every other member), the original image (embedded
bytes, or its path + SHA-256 when the user prefers not to copy it), the mask (``mask.npy``,
exact values), the cached results (``results/<key>.json`` + ``.safetensors``, the
``cache.CachedResult`` format: z, class, tuned-generator deltas) and the timeline snapshots
(``timeline.safetensors``, each snapshot's tensor in the dtype it was given).

    p = Project.from_image("photo.jpg", embed=True)
    p.mask, p.region, p.settings = mask, (x, y, side), {"task": "colorize", ...}
    key = p.add_result(result, gan)          # a finished ReconstructionResult
    p.timeline.append(Snapshot(preview, {"stage": 0, "iteration": 20}))
    save_project(p, "edit.dgp")              # atomic: the old file stays until the new one is whole
    q = open_project("edit.dgp")             # ProjectError (one line) if unusable
    r = q.result(key, gan)                   # ready for manipulate.jitter/transfer/morph, no optimisation

A damaged result or timeline inside an otherwise good project is left out with a warning and
listed in ``Project.damaged``; a damaged ``project.json``, image or mask makes ``open_project``
raise ``ProjectError``.

Autosave: ``write_autosave(project, project_path=None)`` writes ``<name>.dgp.autosave`` next to
the project (untitled projects: ``<cache dir>/autosave/<uid>.dgp.autosave``) atomically, with
the writer's pid; ``find_autosaves()`` lists autosaves whose writer is gone (a killed or
crashed process) and that are newer than their project file; ``discard_autosave(path)``
removes one once the user saved or declined it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import socket
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .cache import CachedResult, CacheError
from .fsutil import atomic_target, sha256_file, user_cache_dir
from .tensorfile import TensorFileError, load_tensors, save_tensors

FORMAT = "dgp-studio-project"
VERSION = 1
SUFFIX = ".dgp"
AUTOSAVE_SUFFIX = ".dgp.autosave"
MAX_JSON = 64 * 1024 * 1024
MAX_MEMBER = 16 * 1024 ** 3


class ProjectError(ValueError):
    """A project file that cannot be opened or saved (one line)."""


class OriginalMissing(ProjectError):
    """The project refers to its photo by path and the file is gone: ``Project.relink`` mends it."""


class ProjectWarning(UserWarning):
    pass


@dataclass
class Snapshot:
    """One timeline frame: ``tensor`` (any dtype/shape, stored exactly) + JSON-able ``info``."""
    tensor: torch.Tensor
    info: dict = field(default_factory=dict)


@dataclass
class Project:
    image_name: str | None = None
    image_bytes: bytes | None = field(default=None, repr=False)  # embedded original file
    image_path: str | None = None                                # where the original lives
    image_sha256: str | None = None
    mask: np.ndarray | None = field(default=None, repr=False)
    region: tuple | None = None
    settings: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)                  # key -> cache.CachedResult
    timeline: list = field(default_factory=list)                 # [Snapshot]
    active: str | None = None                                    # key of the current result
    uid: str = field(default_factory=lambda: secrets.token_hex(8))
    damaged: list = field(default_factory=list)                  # what open_project left out

    @classmethod
    def from_image(cls, path, embed: bool = True) -> "Project":
        """Embed a copy of the original file (``embed=True``) or only its path + SHA-256.
        The file must be a readable image (checked here, so a project never holds garbage)."""
        from .inputs import read_image
        path = Path(path)
        data = _read_file(path)
        read_image(data, name=str(path))  # InputError (one line) if it is not an image
        return cls(image_name=path.name, image_bytes=data if embed else None,
                   image_path=str(path.resolve()), image_sha256=hashlib.sha256(data).hexdigest())

    @property
    def embedded(self) -> bool:
        return self.image_bytes is not None

    def original_bytes(self, project_dir=None) -> bytes:
        """The original file's bytes: the embedded copy, else the referenced file when its
        SHA-256 still matches (``ProjectError`` if it moved or changed)."""
        if self.image_bytes is not None:
            return self.image_bytes
        if not self.image_path:
            raise ProjectError("the project holds no image")
        cands = [Path(self.image_path)]
        if project_dir is not None and self.image_name:
            cands.append(Path(project_dir) / self.image_name)
        for p in cands:
            if p.is_file():
                data = _read_file(p)
                if self.image_sha256 and hashlib.sha256(data).hexdigest() != self.image_sha256:
                    raise ProjectError(f"{p}: the original image changed since the project was saved")
                return data
        raise OriginalMissing(f"{self.image_path}: the original image is missing (moved or deleted?)")

    def relink(self, path) -> None:
        """Point a project whose original moved at ``path``: only the same file (same SHA-256) is taken."""
        path = Path(path)
        data = _read_file(path)
        if self.image_sha256 and hashlib.sha256(data).hexdigest() != self.image_sha256:
            raise ProjectError(f"{path.name}: not the project's original (its content differs)")
        self.image_path = str(path.resolve())
        self.image_name = path.name

    def original_image(self, project_dir=None):
        from .inputs import read_image
        return read_image(self.original_bytes(project_dir))

    def add_result(self, result, gan, key: str | None = None, delta_dtype: str = "fp16",
                   image_dtype: str = "uint8", extra: dict | None = None) -> str:
        """Keep a finished result (compactly, as the cache does); returns its key."""
        key = key or secrets.token_hex(32)
        entry = CachedResult.from_result(result, gan, key=key, delta_dtype=delta_dtype,
                                         image_dtype=image_dtype, extra=extra)
        return self.add_entry(entry)

    def add_entry(self, entry: CachedResult) -> str:
        key = entry.key or secrets.token_hex(32)
        entry.meta["key"] = key
        self.results[key] = entry
        if self.active is None:
            self.active = key
        return key

    def result(self, key: str | None, gan):
        """The full ``ReconstructionResult`` (tuned state rebuilt on ``gan``): no optimisation."""
        key = key or self.active
        if key not in self.results:
            raise ProjectError(f"the project has no result '{key}'")
        try:
            return self.results[key].to_result(gan)
        except CacheError as e:
            raise ProjectError(str(e)) from None

    def to_cache(self, cache) -> int:
        """Put every result into a ``ResultCache`` (so reopened images hit it); returns the count."""
        n = 0
        for key, entry in self.results.items():
            try:
                cache.put_entry(entry)
                n += 1
            except ValueError:  # not a cache key (a result added without one)
                pass
        return n


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ProjectError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: is a folder") from None
    except OSError as e:
        raise ProjectError(f"{path}: cannot read ({e.strerror or e})") from None


def _safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in base).lstrip(".") or "image"


# -- saving -------------------------------------------------------------------------------------
def _write_zip(project: Project, path: Path, autosave: dict | None) -> Path:
    members: dict[str, str] = {}
    with atomic_target(path) as tmp:
        with tempfile.TemporaryDirectory() as work, \
                zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            work = Path(work)

            def add_bytes(name: str, data: bytes, deflate: bool = False) -> None:
                zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                            compress_type=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
                members[name] = hashlib.sha256(data).hexdigest()

            def add_file(name: str, src: Path) -> None:
                zf.write(src, name)
                members[name] = sha256_file(src)

            image = {"name": project.image_name, "path": project.image_path, "sha256": project.image_sha256,
                     "embedded": project.embedded, "member": None}
            if project.image_bytes is not None:
                image["member"] = f"original/{_safe_name(project.image_name or 'image')}"
                add_bytes(image["member"], project.image_bytes)
            mask = None
            if project.mask is not None:
                buf = io.BytesIO()
                np.save(buf, np.ascontiguousarray(np.asarray(project.mask)), allow_pickle=False)
                add_bytes("mask.npy", buf.getvalue(), deflate=True)
                mask = "mask.npy"
            results = []
            for key, entry in project.results.items():
                jp, tp = entry.write(work, f"r{len(results)}")
                add_file(f"results/{key}.json", jp)
                add_file(f"results/{key}.safetensors", tp)
                results.append(key)
            timeline = []
            if project.timeline:
                tensors = {}
                for i, snap in enumerate(project.timeline):
                    tensors[f"s{i:05d}"] = torch.as_tensor(snap.tensor).detach().cpu().contiguous()
                    timeline.append({"tensor": f"s{i:05d}", "info": snap.info})
                save_tensors(tensors, work / "timeline.safetensors")
                add_file("timeline.safetensors", work / "timeline.safetensors")
            doc = {
                "format": FORMAT, "version": VERSION, "uid": project.uid, "saved": time.time(),
                "image": image, "mask": mask,
                "region": list(project.region) if project.region is not None else None,
                "settings": project.settings, "results": results, "active": project.active,
                "timeline": timeline, "members": members, "autosave": autosave,
            }
            try:
                data = json.dumps(doc, indent=1, allow_nan=True).encode()
            except (TypeError, ValueError) as e:
                raise ProjectError(f"project settings are not storable as JSON ({e})") from None
            zf.writestr(zipfile.ZipInfo("project.json", date_time=(1980, 1, 1, 0, 0, 0)), data,
                        compress_type=zipfile.ZIP_DEFLATED)
    return path


def save_project(project: Project, path) -> Path:
    """Write ``path`` (``.dgp`` added if missing) atomically; returns the path written."""
    path = Path(path)
    if not path.name.endswith(SUFFIX) and not path.name.endswith(AUTOSAVE_SUFFIX):
        path = path.with_name(path.name + SUFFIX)
    if project.image_bytes is None and project.image_path:
        project.image_name = project.image_name or Path(project.image_path).name
    return _write_zip(project, path, None)


# -- opening ------------------------------------------------------------------------------------
def _member(zf: zipfile.ZipFile, name: str, members: dict | None, limit: int = MAX_MEMBER) -> bytes:
    """A member's bytes, its SHA-256 checked against ``members`` (None: project.json itself)."""
    if members is not None and name not in members:
        raise ProjectError(f"'{name}' is not listed in project.json")
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ProjectError(f"'{name}' is missing") from None
    if info.file_size > limit:
        raise ProjectError(f"'{name}' is implausibly large ({info.file_size} bytes)")
    data = zf.read(info)
    if members is not None and hashlib.sha256(data).hexdigest() != members[name]:
        raise ProjectError(f"'{name}' is damaged (checksum mismatch)")
    return data


def open_project(path) -> Project:
    """Read a ``.dgp`` (or ``.dgp.autosave``); ``ProjectError`` with one line if unusable."""
    path = Path(path)
    try:
        return _open(path)
    except ProjectError as e:
        raise ProjectError(f"{path}: {e}") from None
    except FileNotFoundError:
        raise ProjectError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: is a folder, not a project file") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, KeyError, TypeError,
            OSError, RuntimeError, NotImplementedError, OverflowError, IndexError, AttributeError) as e:
        # zlib.error is an Exception subclass handled below; these cover truncation and junk
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ProjectError(f"{path}: not a DGP Studio project, or damaged ({detail})") from None
    except Exception as e:  # noqa: BLE001 - zlib.error and other decoder failures on damaged zips
        raise ProjectError(f"{path}: damaged project file ({type(e).__name__})") from None


def _open(path: Path) -> Project:
    with zipfile.ZipFile(path, "r") as zf:
        try:
            raw = _member(zf, "project.json", None, MAX_JSON)
        except ProjectError:
            raise ProjectError("not a DGP Studio project (no project.json)") from None
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ProjectError("project.json is not valid JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ProjectError("not a DGP Studio project")
        if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
            raise ProjectError(f"written by a newer DGP Studio (format {doc.get('version')})")
        members = doc.get("members")
        if not isinstance(members, dict):
            raise ProjectError("project.json has no member list")
        image = doc.get("image") or {}
        if not isinstance(image, dict):
            raise ProjectError("bad image record")
        p = Project(image_name=image.get("name"), image_path=image.get("path"),
                    image_sha256=image.get("sha256"), settings=doc.get("settings") or {},
                    active=doc.get("active"), uid=str(doc.get("uid") or secrets.token_hex(8)))
        if not isinstance(p.settings, dict):
            raise ProjectError("bad settings record")
        if image.get("member"):
            p.image_bytes = _member(zf, str(image["member"]), members)
            if p.image_sha256 and hashlib.sha256(p.image_bytes).hexdigest() != p.image_sha256:
                raise ProjectError("the embedded image is damaged")
        if doc.get("mask"):
            try:
                p.mask = np.load(io.BytesIO(_member(zf, "mask.npy", members)), allow_pickle=False)
            except ProjectError:
                raise
            except Exception:  # noqa: BLE001 - numpy's loader raises various types on junk
                raise ProjectError("mask.npy is damaged") from None
        region = doc.get("region")
        p.region = tuple(region) if isinstance(region, list) else None
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            for key in doc.get("results") or []:
                try:
                    p.results[str(key)] = _read_result(zf, str(key), members, work)
                except (ProjectError, CacheError, TensorFileError) as e:
                    p.damaged.append(f"result {key}: {e}")
                    warnings.warn(f"project: result {key} left out ({e})", ProjectWarning, stacklevel=3)
            if doc.get("timeline"):
                try:
                    p.timeline = _read_timeline(zf, doc["timeline"], members, work)
                except (ProjectError, TensorFileError, KeyError, TypeError, ValueError, AttributeError) as e:
                    p.damaged.append(f"timeline: {e}")
                    warnings.warn(f"project: timeline left out ({e})", ProjectWarning, stacklevel=3)
        if p.active not in p.results:
            p.active = next(iter(p.results), None)
        return p


def _read_result(zf, key: str, members: dict, work: Path) -> CachedResult:
    if not all(c in "0123456789abcdef" for c in key) or not key:
        raise ProjectError("bad result key")
    jp, tp = work / f"{key}.json", work / f"{key}.safetensors"
    jp.write_bytes(_member(zf, f"results/{key}.json", members, MAX_JSON))
    tp.write_bytes(_member(zf, f"results/{key}.safetensors", members))
    try:
        entry = CachedResult.read(jp, tp)
    finally:
        jp.unlink(missing_ok=True)
        tp.unlink(missing_ok=True)
    entry.meta["key"] = key
    return entry


def _read_timeline(zf, records, members: dict, work: Path) -> list:
    tp = work / "timeline.safetensors"
    tp.write_bytes(_member(zf, "timeline.safetensors", members))
    tensors, _ = load_tensors(tp)
    out = []
    for rec in records:
        info = rec.get("info") or {}
        if not isinstance(info, dict):
            raise ProjectError("bad timeline record")
        out.append(Snapshot(tensors[rec["tensor"]], info))
    return out


# -- autosave -----------------------------------------------------------------------------------
def autosave_dir() -> Path:
    return user_cache_dir() / "autosave"


def autosave_path(project: Project, project_path=None) -> Path:
    """``<name>.dgp.autosave`` beside the project, or ``<cache>/autosave/<uid>.dgp.autosave``."""
    if project_path is not None:
        pp = Path(project_path)
        name = pp.name if pp.name.endswith(SUFFIX) else pp.name + SUFFIX
        return pp.with_name(name + ".autosave")
    return autosave_dir() / f"{project.uid}{AUTOSAVE_SUFFIX}"


def _proc_start(pid: int) -> str | None:
    """Start time of a process (Linux), so a reused pid is not mistaken for the writer."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(rec: dict) -> bool:
    if rec.get("host") != socket.gethostname():
        return False  # another machine's process: we cannot tell, offer it
    pid = rec.get("pid")
    if not isinstance(pid, int) or not 0 < pid < 1 << 31:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError):
        return False
    start = rec.get("proc_start")
    return start is None or _proc_start(pid) in (None, start)


def write_autosave(project: Project, project_path=None) -> Path:
    """Atomically write the autosave for ``project`` (the previous autosave stays intact if
    this fails); returns its path."""
    path = autosave_path(project, project_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = {"pid": os.getpid(), "host": socket.gethostname(), "proc_start": _proc_start(os.getpid()),
           "time": time.time(), "project_path": str(Path(project_path).resolve()) if project_path else None}
    return _write_zip(project, path, rec)


@dataclass
class Autosave:
    path: Path
    project_path: str | None
    saved: float
    pid: int | None
    alive: bool


def _autosave_record(path: Path) -> dict | None:
    try:
        with zipfile.ZipFile(path) as zf:
            doc = json.loads(_member(zf, "project.json", None, MAX_JSON))
        rec = doc.get("autosave")
        return rec if isinstance(rec, dict) else None
    except Exception:  # noqa: BLE001 - a damaged autosave is simply not offered
        return None


def find_autosaves(places=(), include_default: bool = True, include_live: bool = False) -> list[Autosave]:
    """Autosaves left by a process that is gone, newest first.  ``places``: folders to scan
    and/or project paths (their ``.dgp.autosave`` siblings).  An autosave older than its
    saved project file is not offered (nothing to recover)."""
    cands: set[Path] = set()
    dirs = [autosave_dir()] if include_default else []
    for p in places:
        p = Path(p)
        if p.is_dir():
            dirs.append(p)
        else:
            name = p.name if p.name.endswith(SUFFIX) else p.name + SUFFIX
            cands.add(p.with_name(name + ".autosave"))
    for d in dirs:
        if d.is_dir():
            cands.update(d.glob(f"*{AUTOSAVE_SUFFIX}"))
    out = []
    for a in cands:
        if not a.is_file():
            continue
        rec = _autosave_record(a)
        if rec is None:
            continue
        try:  # a damaged record must not stop the editor from starting: the file is just not offered
            alive = _alive(rec)
            if alive and not include_live:
                continue
            saved = float(rec.get("time") or 0)
            pp = rec.get("project_path")
            pp = str(pp) if isinstance(pp, str) and pp and "\0" not in pp else None
            if pp and Path(pp).is_file() and Path(pp).stat().st_mtime >= saved:
                continue  # the project was saved after this autosave
        except (TypeError, ValueError, OverflowError, OSError):
            continue
        out.append(Autosave(a, pp, saved, rec.get("pid") if isinstance(rec.get("pid"), int) else None, alive))
    return sorted(out, key=lambda x: -x.saved)


def discard_autosave(path) -> None:
    Path(path).unlink(missing_ok=True)
