"""Project files in the editor: File > Open Project / Save Project, and what autosave writes.

One ``.dgp`` per photo (tab), in ``core.project`` format: the original (embedded, or its path +
SHA-256), the mask (exact alpha), the region, the task panel's settings, the tuned results (the
one shown and the diverse alternatives, as compact fp16-delta entries) and the timeline (preview
snapshots, loss rows, stage boundaries).  Opening restores the tab as it was: the results are
rebuilt on the loaded model, so jitter / transfer / morph render at once, with no optimisation.

Three steps, so the UI thread only does the cheap one:
- ``capture(window, doc)`` (UI thread): copies of what may change (mask, lists) + references;
- ``build_project(capture, gan)`` (background thread): fp16 deltas, PNG, timeline tensors;
- ``core.project.save_project`` / ``write_autosave`` (same thread): atomic zip write.
Opening (``read_document``) and re-attaching results (``attach_results``) run on the UI thread:
they only decode, nothing is optimised; the full-resolution composite is rebuilt on the project
thread (``composite_for``).
"""
from __future__ import annotations

import base64
import hashlib
import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtGui import QImage

from dgp_studio.core import project as core_project
from dgp_studio.core.cache import CachedResult, model_id
from dgp_studio.core.imaging import center_square
from dgp_studio.core.intake import open_image
from dgp_studio.core.presets import Preset

from . import pipeline, run_cache
from .document import Document
from .imageconv import array_to_qimage
from .mask_layer import alpha_view
from .session_cache import CacheEntry
from .timeline import TimelineData
from .worker import Snapshot

EDITOR_FORMAT = 1
MAX_STEPS = 10_000_000  # far above any schedule (the paper's longest is 1,400 iterations); a damaged record is not
PROJECT_FILTER = "DGP Studio projects (*.dgp)"
SUFFIX = core_project.SUFFIX


def is_project_path(path) -> bool:
    name = Path(path).name.lower()
    return name.endswith(SUFFIX) or name.endswith(core_project.AUTOSAVE_SUFFIX)


# -- one background thread for project writes ---------------------------------------------------------
class Background(QObject):
    """Runs callables one at a time off the UI thread; callbacks come back on the UI thread."""
    _finished = Signal(object, object, object, object)   # on_done, on_error, value, exception

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dgp-project")
        self._pending = 0
        self._finished.connect(self._deliver)

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def submit(self, fn, on_done=None, on_error=None, wait: bool = False):
        """``wait``: run now on this thread (after what is queued), callbacks included."""
        if wait:
            self.drain()
            try:
                value = fn()
            except Exception as e:  # noqa: BLE001 - the caller's on_error shows it
                if on_error is not None:
                    on_error(e)
                return None
            if on_done is not None:
                on_done(value)
            return value
        self._pending += 1

        def job():
            try:
                value = fn()
            except Exception as e:  # noqa: BLE001
                self._finished.emit(on_done, on_error, None, e)
                return
            self._finished.emit(on_done, on_error, value, None)
        self._pool.submit(job)
        return None

    def _deliver(self, on_done, on_error, value, exc) -> None:
        self._pending -= 1
        if exc is not None:
            if on_error is not None:
                on_error(exc)
        elif on_done is not None:
            on_done(value)

    def drain(self, timeout: float = 600.0) -> None:
        """Wait for everything queued, then deliver its callbacks."""
        self._pool.submit(lambda: None).result(timeout)
        QCoreApplication.processEvents()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


# -- small conversions -----------------------------------------------------------------------------
def pack_bool(a) -> dict | None:
    if a is None:
        return None
    a = np.asarray(a, dtype=bool)
    return {"shape": list(a.shape), "bits": base64.b64encode(np.packbits(a).tobytes()).decode("ascii")}


def unpack_bool(d) -> np.ndarray | None:
    if not isinstance(d, dict):
        return None
    shape = tuple(int(v) for v in d["shape"])
    bits = np.frombuffer(base64.b64decode(d["bits"]), dtype=np.uint8)
    n = int(np.prod(shape))
    if bits.size * 8 < n:
        raise ValueError("packed mask is too short")
    return np.unpackbits(bits)[:n].reshape(shape).astype(bool)


def qimage_array(img: QImage) -> np.ndarray:
    """HxWx3 (or HxWx4 when the image has alpha) uint8 copy."""
    alpha = img.hasAlphaChannel()
    img = img.convertToFormat(QImage.Format_RGBA8888 if alpha else QImage.Format_RGB888)
    c = 4 if alpha else 3
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, :c * w].reshape(h, w, c).copy()


def panel_settings(tp) -> dict:
    d = {"task": tp.task(), "fast": tp.fast_mode(), "sr_factor": tp.sr_factor_value(),
         "sr_bias": tp.sr_bias.currentIndex(), "hybrid_parts": tp.hybrid_parts(),
         "class_id": tp.classes.current(), "seed": tp.seed_value()}
    try:
        d["preset"] = tp.preset().to_dict()
    except ValueError:  # a cell being edited: the rest is still worth keeping
        pass
    return d


def apply_panel_settings(tp, d: dict) -> None:
    """The task panel as it was saved (unknown or damaged values are skipped)."""
    if not isinstance(d, dict):
        return
    try:
        if isinstance(d.get("task"), str):
            tp.set_task(d["task"])
        if isinstance(d.get("fast"), bool):
            tp.set_fast(d["fast"])
        if d.get("sr_factor") in (2, 4):
            tp.sr_factor.setCurrentIndex(0 if d["sr_factor"] == 4 else 1)
        if d.get("sr_bias") in (0, 1):
            tp.sr_bias.setCurrentIndex(d["sr_bias"])
        parts = d.get("hybrid_parts")
        if isinstance(parts, list):
            for box, key in ((tp.h_color, "colorization"), (tp.h_inpaint, "inpainting"), (tp.h_sr, "sr")):
                box.setChecked(key in parts)
        if isinstance(d.get("preset"), dict):
            p = Preset.from_dict(d["preset"])
            tp.set_preset(p)
            if p != tp.base_preset():
                tp._mark_edited()
        cid = d.get("class_id")
        tp.classes.set_current(cid if isinstance(cid, int) else None)
        seed = d.get("seed")
        if isinstance(seed, int) and tp.seed.minimum() <= seed <= tp.seed.maximum():
            tp.seed.setValue(seed)
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        warnings.warn(f"project: task settings partly restored ({e})", RuntimeWarning)


# -- capture (UI thread) ----------------------------------------------------------------------------
@dataclass
class Capture:
    uid: str
    revision: int
    name: str
    image_path: Path | None
    original_bytes: bytes | None
    image: object                       # PIL, encoded as PNG when there is no file to embed
    embed: bool
    mask: np.ndarray
    region: tuple
    settings: dict
    results: list = field(default_factory=list)     # [(result, role, label)]
    snapshots: list = field(default_factory=list)   # worker.Snapshot (QImages are never modified)
    rows: tuple = ()                                # (steps, stage_of, total, ftr, mse) copies
    project_path: Path | None = None
    carry: object = None    # the opened project whose results are not attached (another model): kept as is


def capture(window, doc: Document, embed: bool | None = None) -> Capture:
    entry = window.cache.get(doc.id)
    gan = window.gan
    embed = doc.embed if embed is None else embed
    path = doc.path if doc.path is not None and doc.path.is_file() else None
    doc_settings = {"name": doc.name, "exported": doc.exported, "result": None}
    results = []
    if entry is not None:
        r = entry.result
        results.append((r, "active", ""))
        for label, alt in entry.alternatives:
            results.append((alt, "alternative", label))
        doc_settings["result"] = {"box": [int(v) for v in entry.box], "task": entry.task,
                                  "hole": pack_bool(entry.hole),
                                  "full_hole": pack_bool(_crop(entry.full_hole, entry.box))}
    carry = None
    if entry is None and doc.project_data is not None and doc.project_data.results:
        carry = doc.project_data  # results of another model: saved again untouched, never dropped
        old = doc.project_data.settings.get("doc")
        if isinstance(old, dict):
            for k in ("result", "active", "alternatives", "cache_keys"):
                if k in old:
                    doc_settings[k] = old[k]
    tl = doc.timeline
    settings = {
        "editor": EDITOR_FORMAT,
        "panel": doc.run_settings or panel_settings(window.task_panel),
        "doc": doc_settings,
        "model": {"name": gan.name, "id": model_id(gan), "resolution": gan.resolution} if gan is not None else None,
        "timeline": {"label": tl.label, "stages": [list(s) for s in tl.stages], "total_steps": tl.total_steps,
                     "finished": bool(tl.finished)},
    }
    if carry is not None and isinstance(carry.settings.get("model"), dict):
        settings["model"] = carry.settings["model"]  # the model the kept results belong to
    return Capture(uid=doc.project_uid, revision=doc.revision, name=doc.name, image_path=path,
                   original_bytes=doc.original_bytes, image=doc.image, embed=embed or path is None,
                   mask=alpha_view(doc.mask.image).copy(), region=tuple(int(v) for v in doc.region),
                   settings=settings, results=results, snapshots=list(tl.snapshots),
                   rows=(list(tl.steps), list(tl.stage_of), list(tl.total), list(tl.ftr), list(tl.mse)),
                   project_path=doc.project_path, carry=carry)


def _crop(full, box):
    if full is None:
        return None
    left, top, side = box
    return np.asarray(full)[top:top + side, left:left + side]


# -- build (background thread) -----------------------------------------------------------------------
def _png_bytes(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def build_project(cap: Capture, gan) -> core_project.Project:
    """The ``core.project.Project`` for a capture (fp16 deltas built here unless the result
    already carries its cache entry)."""
    if cap.embed:
        if cap.original_bytes is not None:
            data = cap.original_bytes
        elif cap.image_path is not None:
            data = cap.image_path.read_bytes()
        else:
            data = _png_bytes(cap.image)
        name = cap.image_path.name if cap.image_path is not None else f"{Path(cap.name).stem}.png"
        p = core_project.Project(image_name=name, image_bytes=data,
                                 image_path=str(cap.image_path.resolve()) if cap.image_path else None,
                                 image_sha256=hashlib.sha256(data).hexdigest())
    else:
        p = core_project.Project.from_image(cap.image_path, embed=False)
    p.uid = cap.uid
    p.mask = cap.mask
    p.region = cap.region
    settings = dict(cap.settings)
    doc = dict(settings["doc"])
    keys, alternatives, cache_keys = {}, [], []
    for result, role, label in cap.results:
        if id(result) not in keys:
            entry = run_cache.entry_of(result)
            ckey = run_cache.key_of(result)
            if entry is None:
                if gan is None:
                    raise ValueError("no model is loaded: the results cannot be stored")
                entry = CachedResult.from_result(result, gan, key=ckey)
            key = p.add_entry(entry)
            keys[id(result)] = key
            if ckey is not None and key == ckey and not result.cancelled:
                cache_keys.append(key)
        if role == "active":
            p.active = keys[id(result)]
            doc["active"] = keys[id(result)]
        else:
            alternatives.append([label, keys[id(result)]])
    if cap.carry is not None:
        for key, entry in cap.carry.results.items():
            p.add_entry(entry)
        p.active = doc.get("active") if doc.get("active") in p.results else cap.carry.active
    else:
        doc["alternatives"] = alternatives
        doc["cache_keys"] = cache_keys
    settings["doc"] = doc
    p.settings = settings
    p.timeline = timeline_snapshots(cap)
    return p


def timeline_snapshots(cap: Capture) -> list:
    """The timeline as ``core.project.Snapshot``s: one "rows" record (the loss table), then
    per preview a "frame" (the generator's output) and, when the task shows it differently,
    its "display" image."""
    out = []
    steps = cap.rows[0]
    if steps:
        table = torch.tensor(list(zip(*cap.rows)), dtype=torch.float64).reshape(-1, 5)
        out.append(core_project.Snapshot(table, {"kind": "rows"}))
    for s in cap.snapshots:
        info = {"kind": "frame", "step": int(s.step), "stage": int(s.stage), "iteration": int(s.iteration),
                "ft_num": int(s.ft_num), "elapsed": float(s.elapsed),
                "losses": {k: float(v) for k, v in (s.losses or {}).items()}}
        out.append(core_project.Snapshot(torch.from_numpy(qimage_array(s.image)), info))
        if s.display is not None:
            out.append(core_project.Snapshot(torch.from_numpy(qimage_array(s.display)), {"kind": "display"}))
    return out


def write_project(cap: Capture, gan, path) -> Path:
    return core_project.save_project(build_project(cap, gan), path)


def write_autosave(cap: Capture, gan) -> Path:
    return core_project.write_autosave(build_project(cap, gan), cap.project_path)


# -- opening (UI thread) -----------------------------------------------------------------------------
def read_document(path, project: core_project.Project | None = None, project_path=None) -> Document:
    """A ``Document`` from a ``.dgp`` (or an autosave: ``project_path`` is then the project it
    belongs to, or None for an untitled one).  The results stay in ``doc.project_data`` until
    ``attach_results`` rebuilds them on the loaded model.  ``ProjectError``/``InputError`` if
    the project or its original image cannot be used."""
    path = Path(path)
    p = project if project is not None else core_project.open_project(path)
    data = p.original_bytes(project_dir=path.parent)
    loaded = open_image(data)
    original = Path(p.image_path) if p.image_path else None
    on_disk = original is not None and original.is_file() and _same_bytes(original, p.image_sha256)
    doc = Document.from_intake(loaded, original if on_disk else None)
    img = doc.image
    if not on_disk:
        doc.original_bytes = data  # re-saving embeds the same file, byte for byte
    doc.embed = p.embedded
    doc.project_path = Path(project_path) if project_path is not None else (
        None if path.name.endswith(core_project.AUTOSAVE_SUFFIX) else path)
    doc.project_uid = p.uid
    doc.project_data = p
    region = p.region
    if _valid_region(region, img.size):
        doc.region = tuple(int(v) for v in region)
    else:
        doc.region = center_square(img)
    if p.mask is not None and p.mask.shape == (img.height, img.width) and p.mask.any():
        doc.mask.set_from_array(np.asarray(p.mask).astype(np.uint8), "Project mask")
        doc.mask.undo_stack.clear()  # the project's mask is the starting point, not an edit
    restore_timeline(doc.timeline, p)
    if isinstance(p.settings.get("panel"), dict):
        doc.run_settings = p.settings["panel"]
    dset = p.settings.get("doc") if isinstance(p.settings.get("doc"), dict) else {}
    doc.exported = bool(dset.get("exported", True)) if p.results else True
    return doc


def _same_bytes(path: Path, sha: str | None) -> bool:
    if not sha:
        return False
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha
    except OSError:
        return False


def _valid_region(region, size) -> bool:
    try:
        left, top, side = (int(v) for v in region)
    except (TypeError, ValueError):
        return False
    w, h = size
    return side > 0 and left >= 0 and top >= 0 and left + side <= w and top + side <= h


def restore_timeline(tl: TimelineData, p: core_project.Project) -> None:
    meta = p.settings.get("timeline") if isinstance(p.settings.get("timeline"), dict) else {}
    tl.reset()
    try:
        tl.label = str(meta.get("label") or "")
        tl.stages = [tuple(int(v) for v in s) for s in meta.get("stages") or []]
        # (first step, iterations, groups tuned) each, within what a run can have: the views draw them
        if not all(len(s) == 3 and all(0 <= v <= MAX_STEPS for v in s) for s in tl.stages):
            raise ValueError("bad stage record")
        tl.total_steps = int(meta.get("total_steps") or 0)
        if not 0 <= tl.total_steps <= MAX_STEPS:
            raise ValueError("bad step count")
        tl.finished = bool(meta.get("finished", True))
        last = None
        for snap in p.timeline:
            kind = snap.info.get("kind")
            t = snap.tensor
            if kind == "rows" and t.dim() == 2 and t.shape[1] == 5:
                tl.add_rows([(int(a), int(b), float(c), float(d), float(e)) for a, b, c, d, e in t.tolist()])
            elif kind in ("frame", "display") and t.dtype == torch.uint8 and t.dim() == 3 and t.shape[2] in (3, 4):
                q = array_to_qimage(t.numpy())
                if kind == "display":
                    if last is not None:
                        last.display = q
                    continue
                i = snap.info
                last = Snapshot(int(i.get("step", 0)), int(i.get("stage", 0)), int(i.get("iteration", 0)),
                                int(i.get("ft_num", 0)), q, dict(i.get("losses") or {}), float(i.get("elapsed", 0)))
                tl.add_snapshot(last)
    except (TypeError, ValueError, AttributeError) as e:
        warnings.warn(f"project: timeline left out ({e})", RuntimeWarning)
        tl.reset()


class ModelMismatch(ValueError):
    """The project's results were made with another model (one line)."""


def attach_results(window, doc: Document) -> CacheEntry | None:
    """Rebuild the project's results on the loaded model and put them in the session cache:
    no optimisation.  ``ModelMismatch`` if they belong to another model (the photo, mask and
    settings stay open either way)."""
    p = doc.project_data
    gan = window.gan
    if p is None or gan is None or not p.results or window.cache.has(doc.id):
        return None
    dset = p.settings.get("doc") if isinstance(p.settings.get("doc"), dict) else {}
    info = dset.get("result") if isinstance(dset.get("result"), dict) else {}
    mid = model_id(gan)
    if not any(e.meta.get("model") == mid for e in p.results.values()):
        made = (p.settings.get("model") or {}).get("name") if isinstance(p.settings.get("model"), dict) else None
        raise ModelMismatch(f"{doc.name}: its results were made with the model '{made or 'unknown'}', not "
                            f"'{gan.name}'. The photo, mask and settings are open; choose that model in "
                            "Tools > Models… to use the results.")
    cache_keys = set(dset.get("cache_keys") or [])
    rebuilt = {}

    def result(key):
        if key not in rebuilt:
            r = p.result(key, gan)
            rebuilt[key] = run_cache.tag(r, key if key in cache_keys else None, p.results[key])
        return rebuilt[key]

    active = dset.get("active") if dset.get("active") in p.results else p.active
    r = result(active)
    alts = []
    for item in dset.get("alternatives") or []:
        try:
            label, key = str(item[0]), str(item[1])
        except (TypeError, IndexError):
            continue
        if key in p.results:
            alts.append((label, result(key)))
    box = info.get("box") if _valid_region(info.get("box"), doc.image.size) else doc.region
    box = tuple(int(v) for v in box)
    task = str(info.get("task") or r.task)
    hole = _checked_hole(info.get("hole"), (gan.resolution, gan.resolution))
    crop = _checked_hole(info.get("full_hole"), (box[2], box[2]))
    full = None
    if crop is not None:
        full = np.zeros((doc.image.height, doc.image.width), dtype=bool)
        full[box[1]:box[1] + box[2], box[0]:box[0] + box[2]] = crop
    entry = CacheEntry(r, box, task, hole=hole, alternatives=alts, full_hole=full)
    window.cache.put(doc.id, entry)
    return entry


def composite_for(doc: Document, entry: CacheEntry):
    """The full-resolution composite of a re-attached result (seconds for a large photo: run
    it off the UI thread, as the worker does after a run)."""
    hole = entry.full_hole if entry.full_hole is not None else entry.hole
    return pipeline.composite_back(doc, entry.result, entry.box, entry.task, hole)


def _checked_hole(d, shape):
    try:
        a = unpack_bool(d)
    except (KeyError, TypeError, ValueError):
        return None
    return a if a is not None and a.shape == tuple(shape) else None


def cache_entries(p: core_project.Project) -> list:
    """The project's results that are real cache entries (finished runs with their cache key):
    putting them in the disk cache lets the same run on the same photo hit it later."""
    dset = p.settings.get("doc") if isinstance(p.settings.get("doc"), dict) else {}
    keys = set(dset.get("cache_keys") or [])
    return [e for k, e in p.results.items() if k in keys and not e.meta.get("cancelled")]
