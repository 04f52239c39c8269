"""Model manager: the bundled prior plus user-registered model folders.

    store = ModelStore()                 # registry: <config dir>/models.json (DGP_STUDIO_CONFIG overrides)
    store.list()                         # [ModelEntry(name, path, bundled, exists)]
    store.add("/data/biggan256", name="biggan-256")   # checked first; files are never copied
    path = store.resolve("biggan-256")   # a registered name, the bundled name, or a path
    report = check_model(path)           # ModelReport: shapes validated, params, classes, sha256
    store.remove("biggan-256")           # forgets it; never deletes files
    download(url, sha256, "/data/biggan256", progress=cb)   # only when the user asks

A model is anything ``checkpoint.load_biggan`` accepts: a released folder (``G_ema_<sfx>.pth``
+ ``D_<sfx>.pth``, 128 / 256 / ch64_256) or our own format (``config.json`` + ``G_ema`` + ``D``).
``check_model`` loads it with ``weights_only=True``; the architecture is inferred from the
shapes and every tensor's shape must match it (``CheckpointError`` names the first bad key).

``download`` is resumable (HTTP Range on a ``<name>.part`` file), reports progress, verifies
SHA-256 before the file gets its final name (a mismatch deletes the part) and never overwrites
an existing file with different content.  Nothing here contacts a network unless called.
"""
from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from .fsutil import atomic_write_bytes, file_lock, sha256_file, user_config_dir
from .models import BUNDLED_DIR, DEFAULT_MODEL

REGISTRY = "models.json"
FORMAT = "dgp-studio-models"
VERSION = 1


class ModelStoreError(ValueError):
    """One-line problem with the model registry or a model."""


class DownloadError(ModelStoreError):
    pass


@dataclass
class ModelEntry:
    name: str
    path: str
    bundled: bool = False
    added: float | None = None

    @property
    def exists(self) -> bool:
        return Path(self.path).exists()


@dataclass
class ModelReport:
    name: str
    path: str
    resolution: int
    G_ch: int
    D_ch: int
    dim_z: int
    shared_dim: int
    n_classes: int
    G_attn: tuple
    D_attn: tuple
    g_params: int
    d_params: int
    has_D: bool
    class_names: list = field(default_factory=list)   # the first few (or all if short)
    files: list = field(default_factory=list)         # [(name, bytes, sha256)]

    def lines(self) -> list[str]:
        names = ", ".join(self.class_names[:5]) + (" ..." if self.n_classes > 5 else "")
        out = [f"model       {self.name}", f"path        {self.path}",
               f"resolution  {self.resolution} px",
               f"width       G_ch {self.G_ch}, D_ch {self.D_ch}; z {self.dim_z}, class embedding {self.shared_dim}",
               f"attention   G at {list(self.G_attn)} px, D at {list(self.D_attn)} px",
               f"parameters  G {self.g_params:,}  D {self.d_params:,}" + ("" if self.has_D else
                                                                       "  (no discriminator: DGP cannot run)"),
               f"classes     {self.n_classes}: {names}",
               "shapes      OK (every tensor matches the architecture)"]
        for name, size, sha in self.files:
            out.append(f"file        {name}  {size:,} bytes  sha256 {sha}")
        return out


def check_model(path, hash_files: bool = True) -> ModelReport:
    """Load and validate a model (``CheckpointError`` / ``ModelStoreError`` with one line)."""
    from .checkpoint import _find_pair, load_biggan
    from .classes import class_names
    path = Path(path)
    if not path.exists():
        raise ModelStoreError(f"{path}: no such file or folder")
    gan = load_biggan(path, device="cpu")
    c = gan.config
    if path.is_dir():
        g, d = _find_pair(path)
        files = [f for f in (g, d, path / "config.json") if f is not None and f.exists()]
    else:
        m = re.match(r"^G(_ema)?(_.+)?\.(pth|safetensors)$", path.name)
        d = path.parent / f"D{m.group(2) or ''}.{m.group(3)}" if m else None
        files = [path] + ([d] if d is not None and d.exists() and gan.D is not None else [])
    report_files = [(f.name, f.stat().st_size, sha256_file(f) if hash_files else "-") for f in files]
    names = class_names(c)
    return ModelReport(
        name=gan.name, path=str(path.resolve()), resolution=c.resolution, G_ch=c.G_ch, D_ch=c.D_ch,
        dim_z=c.dim_z, shared_dim=c.shared_dim, n_classes=c.n_classes, G_attn=tuple(c.G_attn),
        D_attn=tuple(c.D_attn), g_params=sum(p.numel() for p in gan.G.parameters()),
        d_params=sum(p.numel() for p in gan.D.parameters()) if gan.D is not None else 0,
        has_D=gan.D is not None, class_names=list(names[:20]), files=report_files)


class ModelStore:
    def __init__(self, config_dir=None):
        self.dir = Path(config_dir) if config_dir is not None else user_config_dir()
        self.registry = self.dir / REGISTRY

    # ---- registry file ----
    def _load(self) -> list[dict]:
        if not self.registry.exists():
            return []
        try:
            doc = json.loads(self.registry.read_bytes())
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise ValueError("not a model registry")
            version = doc.get("version", 0)
            if not isinstance(version, int):
                raise ValueError("no format version")
            if version > VERSION:
                raise ValueError(f"written by a newer DGP Studio (format {version})")
            models = doc.get("models")
            if not isinstance(models, list) or not all(
                    isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(m.get("path"), str)
                    for m in models):
                raise ValueError("bad model list")
            return models
        except (OSError, ValueError) as e:
            raise ModelStoreError(f"{self.registry}: damaged ({e}); fix or delete it") from None

    def _save(self, models: list[dict]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        doc = {"format": FORMAT, "version": VERSION, "models": models}
        atomic_write_bytes(self.registry, json.dumps(doc, indent=1).encode())

    def _lock(self):
        return file_lock(self.dir / ".models.lock")

    # ---- public ----
    def bundled(self) -> ModelEntry:
        return ModelEntry(DEFAULT_MODEL, str(BUNDLED_DIR / DEFAULT_MODEL), bundled=True)

    def list(self) -> list[ModelEntry]:
        """The bundled prior first, then registered models (a damaged registry: a warning)."""
        try:
            models = self._load()
        except ModelStoreError as e:
            warnings.warn(str(e), RuntimeWarning, stacklevel=2)
            models = []
        return [self.bundled()] + [ModelEntry(m["name"], m["path"], False, m.get("added")) for m in models]

    def get(self, name: str) -> ModelEntry | None:
        return next((m for m in self.list() if m.name == name), None)

    def resolve(self, name_or_path) -> Path:
        """A registered/bundled name, else an existing path."""
        s = str(name_or_path)
        entry = self.get(s)
        if entry is not None:
            if not entry.exists and entry.bundled:
                raise ModelStoreError(f"the bundled prior '{s}' is not installed (expected in {entry.path})")
            if not entry.exists:
                raise ModelStoreError(f"model '{s}' is registered at {entry.path}, which no longer exists")
            return Path(entry.path)
        p = Path(s).expanduser()
        if p.exists():
            return p
        raise ModelStoreError(f"unknown model '{s}': not a registered name (see 'dgp-studio models list') "
                              "nor an existing path")

    def add(self, path, name: str | None = None, check: bool = True) -> ModelEntry:
        """Register a model folder/file after validating it; nothing is copied."""
        p = Path(path).expanduser()
        if not p.exists():
            raise ModelStoreError(f"{p}: no such file or folder")
        if check:
            report = check_model(p, hash_files=False)
            name = name or report.name
        name = (name or p.stem).strip()
        if not name or any(ch in name for ch in "\n\r\t") or len(name) > 100:
            raise ModelStoreError("a model name must be 1-100 printable characters")
        with self._lock():
            models = self._load()
            if name == DEFAULT_MODEL or any(m["name"] == name for m in models):
                raise ModelStoreError(f"a model named '{name}' already exists (choose another with --name)")
            entry = {"name": name, "path": str(p.resolve()), "added": time.time()}
            self._save(models + [entry])
        return ModelEntry(name, entry["path"], False, entry["added"])

    def remove(self, name: str) -> ModelEntry:
        """Forget a registered model; its files stay where they are."""
        if name == DEFAULT_MODEL:
            raise ModelStoreError(f"'{name}' is the bundled prior and cannot be removed")
        with self._lock():
            models = self._load()
            hit = next((m for m in models if m["name"] == name), None)
            if hit is None:
                raise ModelStoreError(f"no registered model named '{name}'")
            self._save([m for m in models if m is not hit])
        return ModelEntry(hit["name"], hit["path"], False, hit.get("added"))


# -- download ---------------------------------------------------------------------------------
def _file_name(url: str) -> str:
    base = unquote(Path(urlparse(url).path).name)
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in base).lstrip(".")
    return safe or "download.bin"


def download(url: str, sha256: str, to_dir, progress=None, filename: str | None = None,
             timeout: float = 30.0, chunk_size: int = 1 << 20) -> Path:
    """Fetch ``url`` into ``to_dir`` (resuming a ``.part`` left by an interrupted try) and
    verify its SHA-256.  ``progress(done_bytes, total_bytes_or_None)``.  Returns the file."""
    if urlparse(url).scheme not in ("http", "https"):
        raise DownloadError(f"{url}: only http:// and https:// addresses can be downloaded")
    sha256 = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise DownloadError("--sha256 must be 64 hexadecimal digits")
    to_dir = Path(to_dir).expanduser()
    to_dir.mkdir(parents=True, exist_ok=True)
    name = _file_name(filename or url)
    final, part = to_dir / name, to_dir / f"{name}.part"
    with file_lock(to_dir / f".{name}.download.lock"):
        if final.exists():
            if sha256_file(final) == sha256:
                return final
            raise DownloadError(f"{final} exists with different content; not overwritten")
        have = part.stat().st_size if part.exists() else 0
        _fetch(url, part, have, progress, timeout, chunk_size)
        got = sha256_file(part)
        if got != sha256:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{name}: SHA-256 mismatch (got {got[:16]}..., expected {sha256[:16]}...); "
                                "the download was deleted")
        part.replace(final)
    return final


def _fetch(url, part: Path, have: int, progress, timeout, chunk_size) -> None:
    headers = {"User-Agent": "dgp-studio", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            return  # nothing left to fetch: the part is complete (its hash decides)
        raise DownloadError(f"{url}: server answered {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise DownloadError(f"{url}: cannot connect ({reason})") from None
    with resp:
        start = 0
        if have and resp.status == 206:
            m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            start = int(m.group(1)) if m else -1
            if start != have:
                raise DownloadError(f"{url}: server resumed at the wrong offset; delete {part} and retry")
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        done = start
        mode = "ab" if start else "wb"  # a 200 answer to a Range request: start over
        try:
            with open(part, mode) as f:
                if progress:
                    progress(done, total)
                while True:
                    buf = resp.read(chunk_size)
                    if not buf:
                        break
                    f.write(buf)
                    done += len(buf)
                    if progress:
                        progress(done, total)
        except (http.client.IncompleteRead, socket.timeout, ConnectionError, urllib.error.URLError) as e:
            raise DownloadError(f"{url}: interrupted after {done:,} bytes ({type(e).__name__}); "
                                "run the same command again to resume") from None
        except OSError as e:  # writing the part failed (disk full, permissions): it stays resumable
            raise DownloadError(f"{part}: cannot write ({e.strerror or e}); free space and run again "
                                "to resume") from None
        if total is not None and done < total:
            raise DownloadError(f"{url}: interrupted after {done:,} of {total:,} bytes; "
                                "run the same command again to resume")


def file_sha256(path) -> str:
    """SHA-256 of a file (shown by ``check``; what ``download --sha256`` expects)."""
    return sha256_file(path)

