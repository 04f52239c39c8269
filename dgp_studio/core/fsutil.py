"""File-system helpers shared by the cache, project files and the model manager.

- ``user_cache_dir()`` / ``user_config_dir()``: where DGP Studio keeps its data
  (env ``DGP_STUDIO_CACHE`` / ``DGP_STUDIO_CONFIG`` override, then XDG, then ~/.cache|~/.config).
- ``atomic_target(path)``: a temp path in the same folder to write to however one likes (PIL,
  torch.save, zipfile); on success it is fsynced and ``os.replace``s ``path``, with the permissions
  a plainly created file would get (or the replaced file's); on any failure (disk full included)
  the temp file is removed and the old file stays.  ``atomic_write_bytes``/``atomic_write_text`` on top.
- ``file_lock(path)``: an exclusive inter-process lock (``fcntl.flock``) plus an in-process lock;
  where ``fcntl`` does not exist it only serialises threads (the callers' writes stay atomic anyway).
- ``sha256_file(path)``.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
import tempfile
import threading
from pathlib import Path

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

APP = "dgp-studio"


def _xdg(env_override: str, xdg_var: str, fallback: str) -> Path:
    env = os.environ.get(env_override)
    if env:
        return Path(env).expanduser()
    base = os.environ.get(xdg_var)
    return (Path(base).expanduser() if base else Path.home() / fallback) / APP


def user_cache_dir() -> Path:
    return _xdg("DGP_STUDIO_CACHE", "XDG_CACHE_HOME", ".cache")


def user_config_dir() -> Path:
    return _xdg("DGP_STUDIO_CONFIG", "XDG_CONFIG_HOME", ".config")


_fallback_umask: int | None = None
_umask_guard = threading.Lock()


def _process_umask() -> int:
    """The umask, read without changing it where /proc allows (os.umask can only set it)."""
    global _fallback_umask
    try:
        m = re.search(r"^Umask:\s*([0-7]+)", Path("/proc/self/status").read_text(), re.M)
        if m:
            return int(m.group(1), 8)
    except OSError:
        pass
    with _umask_guard:
        if _fallback_umask is None:  # set-and-restore, once: another thread could create a file meanwhile
            _fallback_umask = os.umask(0o022)
            os.umask(_fallback_umask)
        return _fallback_umask


def _new_file_mode(path: Path) -> int:
    """mkstemp makes 0600 files; a result should be readable like any file the user saves."""
    try:
        return stat.S_IMODE(path.stat().st_mode)  # replacing a file keeps its permissions
    except OSError:
        return 0o666 & ~_process_umask()


@contextlib.contextmanager
def atomic_target(path):
    """``with atomic_target(p) as tmp: write tmp`` -> readers see the old ``p`` or the whole new one."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)  # a new folder for the result is what the user asked for
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDWR)  # writable: Windows cannot fsync (_commit) a read-only handle
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` so readers see the old file or the whole new one, never a part."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


class _PathLock:
    def __init__(self):
        self.rlock = threading.RLock()
        self.depth = 0  # only touched by the thread holding rlock
        self.fd = None


_locks: dict[str, _PathLock] = {}
_locks_guard = threading.Lock()


@contextlib.contextmanager
def file_lock(path):
    """Exclusive lock on ``path`` (created if missing) across threads and processes.
    Re-entrant within a thread (a nested call does not lock the file twice)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locks_guard:
        pl = _locks.setdefault(str(path.resolve()), _PathLock())
    with pl.rlock:
        if pl.depth == 0 and fcntl is not None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            pl.fd = fd
        pl.depth += 1
        try:
            yield
        finally:
            pl.depth -= 1
            if pl.depth == 0 and pl.fd is not None:
                fd, pl.fd = pl.fd, None
                try:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                finally:
                    os.close(fd)
