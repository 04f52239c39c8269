"""Result cache: a finished reconstruction is never computed twice.

Usage (engine level; the editor and the CLI do the same)::

    cache = ResultCache()                         # memory LRU + disk store in user_cache_dir()
    key = cache_key(image, preset=p, seed=0, class_id=cls, model=gan, degradation=deg,
                    mask=mask, region=box)
    result = cache.get(key, gan)                  # ReconstructionResult or None
    if result is None:
        result = Reconstructor(gan, p, deg).run(image, class_id=cls, seed=0)
        cache.put(key, result, gan)

What is stored (``CachedResult``, format ``dgp-studio-result`` version 1):
- the tuned generator as the DIFFERENCE from the base model, only for tensors that changed,
  in fp16 (default) or bf16 (a tensor whose difference does not fit fp16 is kept in fp32);
- the result images (raw output, final, target, observed) as uint8 by default (exact when the
  image came from 8-bit pixels, as ``observed`` usually does), identical images stored once;
- the loss history as a float64 table;
- one small JSON with z, the class embedding, class id, preset, seed, task, timings, the model
  id, the names and SHA-256 of the tensor file, and a checksum of the JSON itself.
On disk an entry is ``<key>.json`` + ``<key>.<token>.safetensors``; the JSON is written last
(atomically) and is the commit record, the tensor file is immutable, so a reader sees a whole
entry or none.  Every read checks both checksums; a corrupt entry is deleted with a
``CacheCorruptionWarning`` and reported as a miss - it is never loaded.  Writers and eviction
hold an ``fcntl`` lock file, so several processes can share one cache folder.

Restoring needs the same base model: the key and the entry hold ``model_id(gan)`` (the
session fingerprint plus a digest of the generator's weights).  The restored state shares
the base model's unchanged tensors (no copy): treat ``generator_state`` as read-only.

Budgets: ``memory_budget`` bytes of compact entries in RAM (LRU), ``disk_budget`` bytes on
disk (LRU by last use; use refreshes the JSON's mtime).  Folder: ``DGP_STUDIO_CACHE`` or
``$XDG_CACHE_HOME/dgp-studio`` or ``~/.cache/dgp-studio``, subfolder ``results-v1``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .fsutil import atomic_write_bytes, file_lock, sha256_file, user_cache_dir
from .imaging import to_tensor
from .color import is_gray
from .presets import Preset
from .reconstructor import ReconstructionResult
from .resultcheck import fit_problem
from .session import model_fingerprint
from .tensorfile import TensorFileError, load_tensors, save_tensors

FORMAT = "dgp-studio-result"
VERSION = 1
KEY_VERSION = 1
SUBDIR = "results-v1"
MAX_JSON = 16 * 1024 * 1024
DELTA_DTYPES = {"fp16": torch.float16, "float16": torch.float16, "bf16": torch.bfloat16,
                "bfloat16": torch.bfloat16}
IMAGE_DTYPES = {"uint8": torch.uint8, "float16": torch.float16, "float32": torch.float32}
IMAGE_NAMES = ("image", "final", "target", "observed")
HISTORY_COLUMNS = ("stage", "iteration", "total", "ftr", "mse", "nll")
_KEY_RE = re.compile(r"^[0-9a-f]{64}$")


class CacheError(ValueError):
    """A cache entry that cannot be used (one line)."""


class CacheVersionError(CacheError):
    """Written by a newer DGP Studio: skipped, never deleted."""


class CacheCorruptionWarning(UserWarning):
    pass


# -- identity of the base model ---------------------------------------------------------------
_model_ids: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_model_ids_lock = threading.Lock()


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    t = t.detach().to("cpu").contiguous()
    return memoryview(t.reshape(-1).view(torch.uint8).numpy()) if t.numel() else memoryview(b"")


def model_id(gan) -> str:
    """``session.model_fingerprint`` + a digest of G's weights (the base the deltas apply to).
    Memoised per generator; recomputed when any of its tensors is modified in place."""
    G = gan.G
    sd = G.state_dict()
    version = tuple((t.data_ptr(), getattr(t, "_version", 0)) for t in sd.values())
    with _model_ids_lock:
        hit = _model_ids.get(G)
        if hit is not None and hit[0] == version:
            return hit[1]
    h = hashlib.sha256()
    for name, t in sd.items():
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(_tensor_bytes(t))
    mid = f"{model_fingerprint(gan)}:{h.hexdigest()[:20]}"
    with _model_ids_lock:
        _model_ids[G] = (version, mid)
    return mid


# -- the key ----------------------------------------------------------------------------------
def _degradation_masks(degradation) -> list:
    if degradation is None:
        return []
    parts = getattr(degradation, "parts", None) or [degradation]
    return [p.mask for p in parts if getattr(p, "mask", None) is not None]


def _array_bytes(a) -> bytes:
    if isinstance(a, torch.Tensor):
        a = a.detach().to("cpu").float().numpy()
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    return f"{a.shape}|".encode() + a.tobytes()


def cache_key(image, *, preset, seed: int, class_id, model, degradation=None, mask=None, region=None,
              exact: bool = False, extra: dict | None = None) -> str:
    """SHA-256 (hex) over everything that decides a reconstruction.

    ``image``: what is given to ``Reconstructor.run`` (PIL, uint8 array or tensor: hashed as
    the float32 tensor the engine sees).  ``model``: a BigGAN (``model_id`` is used) or an id
    string.  ``degradation``: its ``describe()`` plus any mask it holds.  ``region``: the crop
    box in the original photo.  ``extra``: anything else JSON-able that changes the result."""
    pd = preset.to_dict() if isinstance(preset, Preset) else dict(preset)
    pd.pop("description", None)
    spec = {
        "v": KEY_VERSION, "preset": pd, "seed": int(seed),
        "class": None if class_id is None else int(class_id),
        "model": model if isinstance(model, str) else model_id(model),
        "degradation": degradation.describe() if degradation is not None else None,
        "region": None if region is None else [float(v) for v in region],
        "exact": bool(exact), "extra": extra,
    }
    h = hashlib.sha256()

    def part(tag: bytes, data: bytes) -> None:
        h.update(tag + len(data).to_bytes(8, "little"))
        h.update(data)

    part(b"spec", json.dumps(spec, sort_keys=True, separators=(",", ":")).encode())
    part(b"image", _array_bytes(to_tensor(image)))
    part(b"mask", _array_bytes(mask) if mask is not None else b"")
    for m in _degradation_masks(degradation):
        part(b"degmask", _array_bytes(m))
    return h.hexdigest()


# -- which tensors a preset tunes (used for size estimates) -----------------------------------
def tuned_tensor_names(G, preset: Preset, n_features: int = 99) -> list[str]:
    """Names of G's tensors a run with ``preset`` changes: parameters of groups 0..max(ft)-1
    (the shared embedding only with ``update_embed``); a block's instance-norm affine only if
    a stage switches that block to IN.  Buffers and the output layer never change."""
    p = preset.clipped(G.n_groups, n_features)
    ft = max(int(f) for f in p.ft_num)
    in_blocks = {i for s in range(p.n_stages) if p.use_in[s] for i in range(int(p.ft_num[s]) - 1)}
    names = {id(q): n for n, q in G.named_parameters()}
    out = []
    for params in G.group_params(p.update_embed)[:ft]:
        for q in params:
            n = names[id(q)]
            m = re.match(r"^blocks\.(\d+)\.0\.in[12]\.", n)
            if m and int(m.group(1)) not in in_blocks:
                continue
            out.append(n)
    return out


def estimate_entry_bytes(config, preset: Preset, delta_dtype: str = "fp16", image_dtype: str = "uint8",
                         n_features: int = 99) -> dict:
    """Bytes of one cached result computed from shapes (meta device, nothing allocated).
    Images: 4 full-resolution RGB images, none deduplicated, except colorization's target
    (gray: one channel); a gray input photo would save another two channels."""
    from .biggan import build_biggan
    gan = build_biggan(config, with_D=False, meta=True)
    sd = gan.G.state_dict()
    names = tuned_tensor_names(gan.G, preset, n_features)
    dsize = torch.empty((), dtype=DELTA_DTYPES[delta_dtype]).element_size()
    isize = torch.empty((), dtype=IMAGE_DTYPES[image_dtype]).element_size()
    delta = sum(sd[n].numel() for n in names) * dsize
    channels = 3 * 3 + (1 if preset.task == "colorization" else 3)
    images = channels * config.resolution ** 2 * isize
    history = preset.total_iterations * len(HISTORY_COLUMNS) * 8
    # safetensors header ~ 90 bytes per tensor; JSON: z and c as decimal text + settings
    overhead = 90 * (len(names) + 5) + 26 * (config.dim_z + config.shared_dim) + 4096
    full = sum(t.numel() * 4 for t in sd.values())
    total = delta + images + history + overhead
    return {"tuned_tensors": len(names), "tuned_params": sum(sd[n].numel() for n in names),
            "delta_bytes": delta, "image_bytes": images, "history_bytes": history,
            "overhead_bytes": overhead, "total_bytes": total, "full_fp32_state_bytes": full,
            "ratio": total / full, "delta_ratio": delta / full}


# -- one entry --------------------------------------------------------------------------------
def _encode_image(t: torch.Tensor, dtype: str) -> tuple[torch.Tensor, str, bool]:
    """-> (stored tensor, encoding, gray); gray images (3 equal channels, e.g. colorization's
    target and a gray input photo) keep one channel."""
    t = t.detach().to("cpu").float()
    gray = is_gray(t)
    if gray:
        t = t[:, :1].contiguous()
    enc_t, enc = _encode_plain(t, dtype)
    return enc_t, enc, gray


def _encode_plain(t: torch.Tensor, dtype: str) -> tuple[torch.Tensor, str]:
    u8 = ((t.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if torch.equal(u8.float() / 127.5 - 1, t):  # came from 8-bit pixels: exact as uint8
        return u8, "u8"
    if dtype == "uint8":
        return u8, "u8"
    return t.to(IMAGE_DTYPES[dtype]), "float"


def _decode_image(t: torch.Tensor, enc: str, gray: bool = False) -> torch.Tensor:
    if enc == "u8":
        out = t.float() / 127.5 - 1  # the same arithmetic as imaging.to_tensor: exact round trip
    else:
        out = t.to(torch.float32, copy=True)  # never hand out the cached tensor itself
    return out.expand(-1, 3, -1, -1).contiguous() if gray else out


def _canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class CachedResult:
    """A reconstruction in compact form: ``meta`` (the JSON document) + ``tensors``."""
    meta: dict
    tensors: dict = field(repr=False)

    @property
    def key(self) -> str | None:
        return self.meta.get("key")

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values()) + len(_canonical(self.meta))

    # ---- building ----
    @classmethod
    def from_result(cls, result: ReconstructionResult, gan, *, key: str | None = None,
                    delta_dtype: str = "fp16", image_dtype: str = "uint8",
                    extra: dict | None = None) -> "CachedResult":
        if delta_dtype not in DELTA_DTYPES:
            raise ValueError(f"delta_dtype must be one of {sorted(DELTA_DTYPES)}")
        if image_dtype not in IMAGE_DTYPES:
            raise ValueError(f"image_dtype must be one of {sorted(IMAGE_DTYPES)}")
        ddt = DELTA_DTYPES[delta_dtype]
        base = gan.G.state_dict()
        state = result.generator_state
        if set(state) != set(base):
            missing = sorted(set(base) - set(state))[:1] or sorted(set(state) - set(base))[:1]
            raise CacheError(f"the result's generator state does not fit the model (key '{missing[0]}')")
        tensors, deltas, wide, full = {}, [], [], []
        for name, b in base.items():
            t = state[name].detach().to("cpu")
            b = b.detach().to("cpu")
            if tuple(t.shape) != tuple(b.shape):
                raise CacheError(f"generator tensor '{name}' has shape {tuple(t.shape)}, the model "
                                 f"{tuple(b.shape)}")
            if t.dtype == b.dtype and torch.equal(t, b):
                continue
            if not (t.is_floating_point() and b.is_floating_point()):
                tensors[f"full/{name}"] = t.clone()
                full.append(name)
                continue
            d = t.double() - b.double()
            dn = d.to(ddt)
            if not torch.isfinite(dn).all() and torch.isfinite(d).all():
                dn = d.float()  # does not fit the narrow type: keep this one in fp32
                wide.append(name)
            tensors[f"delta/{name}"] = dn
            deltas.append(name)
        images = {}
        for n in IMAGE_NAMES:
            t = getattr(result, n)
            same = next((m for m in images if images[m]["tensor"] is not None
                         and torch.equal(getattr(result, m), t)), None)
            if same is not None:
                images[n] = {"same_as": same, "tensor": None}
                continue
            enc_t, enc, gray = _encode_image(t, image_dtype)
            tensors[f"img/{n}"] = enc_t
            images[n] = {"encoding": enc, "tensor": enc_t, **({"gray": True} if gray else {})}
        hist = result.history or []
        tensors["history"] = torch.tensor([[float(h.get(c, float("nan"))) for c in HISTORY_COLUMNS]
                                           for h in hist], dtype=torch.float64).reshape(-1, len(HISTORY_COLUMNS))
        meta = {
            "format": FORMAT, "version": VERSION, "key": key, "model": model_id(gan),
            "model_fingerprint": model_fingerprint(gan), "created": time.time(),
            "delta_dtype": str(ddt).replace("torch.", ""), "deltas": deltas, "wide_deltas": wide,
            "full_tensors": full,
            "images": {n: {k: v for k, v in d.items() if k != "tensor"} for n, d in images.items()},
            "history_columns": list(HISTORY_COLUMNS),
            "z": [float(v) for v in result.z.detach().cpu().reshape(-1)],
            "z_shape": list(result.z.shape),
            "class_embedding": [float(v) for v in result.class_embedding.detach().cpu().reshape(-1)],
            "class_embedding_shape": list(result.class_embedding.shape),
            "class_id": int(result.class_id), "task": result.task, "seed": int(result.seed),
            "preset": result.preset.to_dict(), "norm_blocks": [int(b) for b in result.norm_blocks],
            "cancelled": bool(result.cancelled), "stopped_early": bool(result.stopped_early),
            "stages_done": int(result.stages_done), "steps_done": int(result.steps_done),
            "search_loss": result.search_loss, "timings": dict(result.timings), "exact": bool(result.exact),
            "class_searched": bool(result.class_searched), "extra": extra or {},
        }
        return cls(meta, tensors)

    # ---- restoring ----
    def to_result(self, gan, copy: bool = False) -> ReconstructionResult:
        """Rebuild the full result on top of ``gan`` (which must be the base model)."""
        m = self.meta
        mid = model_id(gan)
        if m.get("model") != mid:
            raise CacheError(f"cached result made with model '{m.get('model')}', not the loaded '{mid}'")
        try:
            deltas, fulls = set(m["deltas"]), set(m["full_tensors"])
            state = {}
            for name, b in gan.G.state_dict().items():
                b = b.detach().to("cpu")
                if name in deltas:
                    d = self.tensors[f"delta/{name}"]
                    if tuple(d.shape) != tuple(b.shape):
                        raise CacheError(f"delta for '{name}' has shape {tuple(d.shape)}, model {tuple(b.shape)}")
                    # fp16/bf16 values are exact in the base's dtype, so one correctly rounded add
                    state[name] = b + d.to(b.dtype)
                elif name in fulls:
                    state[name] = self.tensors[f"full/{name}"].to(b.dtype, copy=True)
                else:
                    state[name] = b.clone() if copy else b
            imgs = {}
            for n in IMAGE_NAMES:
                info = m["images"][n]
                if "same_as" in info:
                    imgs[n] = imgs[info["same_as"]].clone()
                else:
                    imgs[n] = _decode_image(self.tensors[f"img/{n}"], info["encoding"], bool(info.get("gray")))
            cols = m["history_columns"]
            hist = []
            for row in self.tensors["history"].tolist():
                h = dict(zip(cols, row))
                for c in ("stage", "iteration"):
                    if c in h:
                        h[c] = int(h[c])
                hist.append(h)
            z = torch.tensor(m["z"], dtype=torch.float32).reshape(m["z_shape"])
            c = torch.tensor(m["class_embedding"], dtype=torch.float32).reshape(m["class_embedding_shape"])
            result = ReconstructionResult(
                image=imgs["image"], final=imgs["final"], z=z, class_id=int(m["class_id"]),
                class_embedding=c, generator_state=state, target=imgs["target"], observed=imgs["observed"],
                preset=Preset.from_dict(m["preset"]), task=str(m["task"]), seed=int(m["seed"]),
                norm_blocks=tuple(int(b) for b in m["norm_blocks"]), history=hist,
                cancelled=bool(m["cancelled"]), stopped_early=bool(m["stopped_early"]),
                stages_done=int(m["stages_done"]), steps_done=int(m["steps_done"]),
                search_loss=m.get("search_loss"), timings=dict(m.get("timings") or {}), exact=bool(m["exact"]),
                class_searched=bool(m.get("class_searched", False)))
        except CacheError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
            raise CacheError(f"cached result is incomplete or inconsistent ({type(e).__name__}: {e})") from None
        problem = fit_problem(result, gan)
        if problem:
            raise CacheError(f"cached result does not fit the model: {problem}")
        return result

    # ---- files ----
    def write(self, folder, stem: str | None = None) -> tuple[Path, Path]:
        """``<stem>.json`` + ``<stem>.<token>.safetensors``; the JSON (the commit record) last.
        On failure nothing new is left behind."""
        folder = Path(folder)
        stem = stem or self.key or secrets.token_hex(16)
        tpath = folder / f"{stem}.{secrets.token_hex(6)}.safetensors"
        save_tensors(self.tensors, tpath)
        try:
            doc = dict(self.meta, tensors_file=tpath.name, tensors_sha256=sha256_file(tpath),
                       tensors_bytes=tpath.stat().st_size)
            doc = json.loads(json.dumps(doc))  # the checksum covers exactly what a reader parses
            doc["checksum"] = hashlib.sha256(_canonical(doc)).hexdigest()
            jpath = atomic_write_bytes(folder / f"{stem}.json", json.dumps(doc, indent=1).encode())
        except BaseException:
            tpath.unlink(missing_ok=True)
            raise
        return jpath, tpath

    @staticmethod
    def parse_document(raw: bytes, where="cache entry") -> dict:
        """The JSON document with its checksum verified (no tensors read)."""
        if len(raw) > MAX_JSON:
            raise CacheError(f"{where}: settings file is implausibly large")
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CacheError(f"{where}: settings are not valid JSON ({e})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise CacheError(f"{where}: not a DGP Studio cached result")
        ver = doc.get("version")
        if not isinstance(ver, int):
            raise CacheError(f"{where}: no format version")
        if ver > VERSION:
            raise CacheVersionError(f"{where}: written by a newer DGP Studio (format {ver})")
        check = doc.pop("checksum", None)
        if check != hashlib.sha256(_canonical(doc)).hexdigest():
            raise CacheError(f"{where}: checksum mismatch (the settings file is damaged)")
        if not isinstance(doc.get("tensors_file"), str) or "/" in doc["tensors_file"] \
                or "\\" in doc["tensors_file"] or doc["tensors_file"].startswith("."):
            raise CacheError(f"{where}: bad tensor file name")
        return doc

    @classmethod
    def read(cls, json_path, tensors_path=None, raw: bytes | None = None) -> "CachedResult":
        """Read and verify an entry.  ``FileNotFoundError`` if a file is missing (a concurrent
        eviction); ``CacheError`` if anything is damaged."""
        json_path = Path(json_path)
        raw = json_path.read_bytes() if raw is None else raw
        doc = cls.parse_document(raw, str(json_path))
        tpath = Path(tensors_path) if tensors_path is not None else json_path.parent / doc["tensors_file"]
        data_sha = sha256_file(tpath)
        if data_sha != doc.get("tensors_sha256"):
            raise CacheError(f"{tpath}: checksum mismatch (the tensor file is damaged)")
        try:
            tensors, _ = load_tensors(tpath)
        except TensorFileError as e:
            raise CacheError(str(e)) from None
        for k in ("tensors_file", "tensors_sha256", "tensors_bytes"):
            doc.pop(k, None)
        try:
            need = [f"delta/{n}" for n in doc["deltas"]] + [f"full/{n}" for n in doc["full_tensors"]]
            need += [f"img/{n}" for n, i in doc["images"].items() if "same_as" not in i] + ["history"]
            missing = [n for n in need if n not in tensors]
        except (KeyError, TypeError, AttributeError) as e:
            raise CacheError(f"{json_path}: incomplete settings ({type(e).__name__}: {e})") from None
        if missing:
            raise CacheError(f"{tpath}: tensor '{missing[0]}' is missing")
        return cls(doc, tensors)


# -- the cache ----------------------------------------------------------------------------------
class ResultCache:
    """Memory LRU (byte budget) in front of a disk store (byte budget, LRU eviction).

    ``put(key, result, gan)`` / ``get(key, gan)``; ``get_entry``/``put_entry`` for compact
    entries (project files use them); ``drop(key)``, ``clear()``, ``disk_usage()``.
    ``root=None`` -> ``user_cache_dir()``; ``disk=False`` keeps it in memory only.
    Disk failures (full, read-only) never raise from ``put``: a warning, and it returns False."""

    def __init__(self, root=None, memory_budget: int = 1 << 30, disk_budget: int = 10 << 30,
                 disk: bool = True, delta_dtype: str = "fp16", image_dtype: str = "uint8"):
        self.memory_budget = int(memory_budget)
        self.disk_budget = int(disk_budget)
        self.delta_dtype, self.image_dtype = delta_dtype, image_dtype
        self.dir = (Path(root) if root is not None else user_cache_dir()) / SUBDIR if disk else None
        self._mem: "OrderedDict[str, CachedResult]" = OrderedDict()
        self._mem_bytes = 0
        self._lock = threading.RLock()
        self.stats = {"memory_hits": 0, "disk_hits": 0, "misses": 0, "corrupt": 0, "disk_errors": 0}

    # ---- public ----
    def put(self, key: str, result: ReconstructionResult, gan, extra: dict | None = None,
            allow_partial: bool = False) -> CachedResult | None:
        """Store a finished result (a cancelled one only with ``allow_partial``)."""
        if result.cancelled and not allow_partial:
            return None
        entry = CachedResult.from_result(result, gan, key=key, delta_dtype=self.delta_dtype,
                                         image_dtype=self.image_dtype, extra=extra)
        self.put_entry(entry)
        return entry

    def put_entry(self, entry: CachedResult) -> bool:
        """Memory and disk; True when the disk copy was written (or there is no disk store)."""
        key = self._check_key(entry.key)
        self._mem_put(key, entry)
        return self._disk_put(key, entry) if self.dir is not None else True

    def get(self, key: str, gan) -> ReconstructionResult | None:
        entry = self.get_entry(key)
        return entry.to_result(gan) if entry is not None else None

    def get_entry(self, key: str) -> CachedResult | None:
        key = self._check_key(key)
        with self._lock:
            entry = self._mem.get(key)
            if entry is not None:
                self._mem.move_to_end(key)
                self.stats["memory_hits"] += 1
        if entry is not None:
            self._touch(key)
            return entry
        entry = self._disk_get(key) if self.dir is not None else None
        if entry is None:
            self.stats["misses"] += 1
            return None
        self.stats["disk_hits"] += 1
        self._mem_put(key, entry)
        return entry

    def __contains__(self, key: str) -> bool:
        with self._lock:
            if key in self._mem:
                return True
        return self.dir is not None and (self.dir / f"{key}.json").exists()

    def drop(self, key: str) -> None:
        key = self._check_key(key)
        with self._lock:
            e = self._mem.pop(key, None)
            if e is not None:
                self._mem_bytes -= e.nbytes
        if self.dir is not None and self.dir.exists():
            with file_lock(self.dir / ".lock"):
                self._delete_entry_locked(key)

    def clear(self, memory: bool = True, disk: bool = True) -> None:
        if memory:
            with self._lock:
                self._mem.clear()
                self._mem_bytes = 0
        if disk and self.dir is not None and self.dir.exists():
            with file_lock(self.dir / ".lock"):
                for p in self.dir.iterdir():
                    if p.name != ".lock":
                        p.unlink(missing_ok=True)

    def memory_usage(self) -> int:
        return self._mem_bytes

    def disk_usage(self) -> int:
        if self.dir is None or not self.dir.exists():
            return 0
        return sum(p.stat().st_size for p in self.dir.iterdir() if p.name != ".lock" and p.is_file())

    def disk_keys(self) -> list[str]:
        if self.dir is None or not self.dir.exists():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json") if _KEY_RE.match(p.stem))

    # ---- memory ----
    def _mem_put(self, key, entry) -> None:
        size = entry.nbytes
        with self._lock:
            old = self._mem.pop(key, None)
            if old is not None:
                self._mem_bytes -= old.nbytes
            if size > self.memory_budget:
                return
            self._mem[key] = entry
            self._mem_bytes += size
            while self._mem_bytes > self.memory_budget and self._mem:
                _, e = self._mem.popitem(last=False)
                self._mem_bytes -= e.nbytes

    # ---- disk ----
    @staticmethod
    def _check_key(key) -> str:
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise ValueError("cache keys are 64 lowercase hex digits (use cache_key())")
        return key

    def _touch(self, key) -> None:
        if self.dir is not None:
            try:
                os.utime(self.dir / f"{key}.json")
            except OSError:
                pass

    def _disk_put(self, key, entry) -> bool:
        size = entry.nbytes
        if size > self.disk_budget:
            return False
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            with file_lock(self.dir / ".lock"):
                old = self._referenced_file(self.dir / f"{key}.json")
                _, tpath = entry.write(self.dir, key)
                if old is not None and old != tpath.name:
                    (self.dir / old).unlink(missing_ok=True)
                self._evict_locked(keep=key)
            return True
        except OSError as e:
            from .errors import friendly_error
            self.stats["disk_errors"] += 1
            warnings.warn(f"result cache: not saved to disk - {friendly_error(e)}", RuntimeWarning, stacklevel=3)
            return False

    def _disk_get(self, key) -> CachedResult | None:
        jpath = self.dir / f"{key}.json"
        for _attempt in range(3):
            try:
                raw = jpath.read_bytes()
            except FileNotFoundError:
                return None
            except OSError as e:
                warnings.warn(f"result cache: cannot read {jpath} ({e})", RuntimeWarning, stacklevel=3)
                return None
            try:
                entry = CachedResult.read(jpath, raw=raw)
            except FileNotFoundError:
                continue  # replaced or evicted by another process meanwhile: look again
            except CacheVersionError:
                return None
            except CacheError as e:
                self._drop_corrupt(key, raw, str(e))
                return None
            except OSError as e:  # unreadable (permissions, I/O error): a miss, left for the user
                warnings.warn(f"result cache: cannot read entry {key[:12]} ({e})", RuntimeWarning, stacklevel=3)
                return None
            if entry.key != key:
                self._drop_corrupt(key, raw, f"{jpath}: holds the entry for another key")
                return None
            self._touch(key)
            return entry
        # the JSON keeps pointing at a missing tensor file: a damaged entry
        self._drop_corrupt(key, raw, f"{jpath}: its tensor file is missing")
        return None

    def _drop_corrupt(self, key, raw: bytes, why: str) -> None:
        self.stats["corrupt"] += 1
        warnings.warn(f"result cache: dropped a damaged entry - {why}", CacheCorruptionWarning, stacklevel=4)
        with file_lock(self.dir / ".lock"):
            jpath = self.dir / f"{key}.json"
            try:
                now = jpath.read_bytes()
            except FileNotFoundError:
                return
            if now == raw:  # still the damaged one (not replaced by a good entry meanwhile)
                self._delete_entry_locked(key)

    @staticmethod
    def _referenced_file(jpath: Path) -> str | None:
        try:
            doc = json.loads(jpath.read_bytes())
            name = doc.get("tensors_file")
            return name if isinstance(name, str) and "/" not in name and not name.startswith(".") else None
        except (OSError, ValueError, AttributeError):
            return None

    def _delete_entry_locked(self, key) -> None:
        jpath = self.dir / f"{key}.json"
        ref = self._referenced_file(jpath)
        jpath.unlink(missing_ok=True)  # the commit record first: readers then see a miss
        if ref:
            (self.dir / ref).unlink(missing_ok=True)
        for p in self.dir.glob(f"{key}.*.safetensors"):
            p.unlink(missing_ok=True)

    def _evict_locked(self, keep: str | None = None) -> None:
        """Under the lock: remove strays (temp files, tensor files no JSON points to), then
        least recently used entries until the folder fits the budget."""
        entries, referenced = [], set()
        for j in self.dir.glob("*.json"):
            try:
                st = j.stat()
            except FileNotFoundError:
                continue
            ref = self._referenced_file(j)
            size = st.st_size
            if ref:
                referenced.add(ref)
                try:
                    size += (self.dir / ref).stat().st_size
                except FileNotFoundError:
                    pass
            entries.append((st.st_mtime_ns, j.stem, size))
        for p in self.dir.iterdir():
            if p.name == ".lock":
                continue
            stray = p.name.endswith(".tmp") or (p.suffix == ".safetensors" and p.name not in referenced)
            if stray:
                p.unlink(missing_ok=True)
        total = sum(e[2] for e in entries)
        for _, stem, size in sorted(entries):
            if total <= self.disk_budget:
                break
            if stem == keep:
                continue
            self._delete_entry_locked(stem)
            total -= size
