"""Turning failures into one readable line, for the CLI and the editor alike.

- ``InputError``: a user file (image, mask) that cannot be used; the message is one line.
- ``is_out_of_memory(exc)``: CUDA/MPS/CPU allocator failures, whatever class they arrive as.
- ``free_memory()``: what to call after an out-of-memory error before trying again.
- ``friendly_error(exc) -> str``: one line saying what went wrong and what to try next.

The engine's own error types (``CheckpointError``, ``SessionError``, ``CacheError``,
``ProjectError``, ``ModelStoreError``, ``InputError``) already carry one-line messages; they are
passed through.  Everything else gets its type name and first line.
"""
from __future__ import annotations

import errno
import gc

import torch

OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory", "not enough memory",
               "failed to allocate")


class InputError(ValueError):
    """A user-supplied file or value that cannot be used (one-line message)."""


def is_out_of_memory(exc: BaseException) -> bool:
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if isinstance(exc, MemoryError) or (oom_type is not None and isinstance(exc, oom_type)):
        return True
    if isinstance(exc, RuntimeError):
        msg = str(exc).lower()
        return any(m in msg for m in OOM_MARKERS)
    return False


def free_memory() -> None:
    """Release what a failed run left behind (cached GPU blocks, unreachable tensors)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) is not None \
            and torch.backends.mps.is_available():  # pragma: no cover - macOS
        mps.empty_cache()


def write_error(path, exc: OSError) -> str:
    """One line for a result that could not be written to ``path`` (never the temporary file's name)."""
    if exc.errno == errno.ENOSPC:
        return f"cannot write {path}: the disk is full - free some space and try again"
    if isinstance(exc, PermissionError):
        return f"cannot write {path}: permission denied - choose a folder you can write to"
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return f"cannot write {path}: {exc.filename or 'a file'} is a file where a folder is needed"
    if isinstance(exc, IsADirectoryError):
        return f"cannot write {path}: it is a folder"
    return f"cannot write {path}: {exc.strerror or _first_line(exc) or type(exc).__name__}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else ""


def _oom_message(exc: BaseException) -> str:
    msg = str(exc).lower()
    on_gpu = "cuda" in msg or "gpu" in msg or "mps" in msg or type(exc).__name__ == "OutOfMemoryError"
    where = "GPU" if on_gpu else "computer"
    tips = ("close other programs using the GPU, pick a smaller model, or run on the CPU "
            "(--device cpu / Settings > Device)" if on_gpu else
            "close other programs, pick a smaller model, or lower the candidate-search batch")
    return f"Out of memory: the {where} ran out of memory during the run. Try again after you {tips}."


# our exception classes: their messages are written for users (one line, naming the file)
OUR_ERRORS = frozenset({
    "BatchError", "CacheError", "CheckpointError", "DatasetError", "DownloadError", "InputError", "IntakeError",
    "ModelStoreError", "OverwriteError", "ProjectError", "RestoreError", "SessionError", "TensorFileError",
    "UserError"})


def friendly_error(exc: BaseException) -> str:
    """One line for a message box or stderr."""
    if is_out_of_memory(exc):
        return _oom_message(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" writing {exc.filename}" if exc.filename else ""
        return f"The disk is full{where}: free some space (or lower the cache size in Settings) and try again."
    if isinstance(exc, PermissionError):
        return f"Permission denied: {exc.filename or _first_line(exc)} - choose a folder you can write to."
    if isinstance(exc, FileNotFoundError):
        return f"File not found: {exc.filename or _first_line(exc)}"
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename or _first_line(exc)}: is a folder, not a file"
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        return f"{exc.filename or _first_line(exc)}: a file is in the way where a folder is needed"
    if any(c.__name__ in OUR_ERRORS for c in type(exc).__mro__):
        return _first_line(exc) or type(exc).__name__
    if type(exc).__name__ == "Cancelled":
        return "Cancelled."
    line = _first_line(exc)
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__
