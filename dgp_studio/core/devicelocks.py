"""Who may use a GPU while a CUDA graph is being recorded.

Measured on an H200 (twelfth session, docs/PERFORMANCE.md): two fast runs in two threads of one
process, each recording its stage graphs, broke each other's recordings ("operation not
permitted when stream is capturing"); both fell back to plain iterations, and with four such
runs one ended with a failed cuBLAS call and a ruined result (4.9 dB).  Runs side by side on
plain iterations gained nothing either (x0.74 with 2, x1.20 with 4 in images per hour).  So:

- ``run_lock(device)``: one reconstruction at a time per GPU in a process (a second one waits);
- ``capture_lock(device)``: held while a graph is recorded; the editor's renders take it too,
  so they wait for a recording (tens of milliseconds), never for a whole run.

Separate processes (``restore --devices cuda,cuda``) have separate CUDA contexts and are not
affected.  On the CPU nothing records graphs, and the locks are uncontended.
"""
from __future__ import annotations

import threading

import torch

_GUARD = threading.Lock()
_RUN: dict[str, threading.RLock] = {}
_CAPTURE: dict[str, threading.RLock] = {}


def device_key(device) -> str:
    """``cuda`` and ``cuda:0`` name the same GPU when it is the current one."""
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        return f"cuda:{torch.cuda.current_device() if torch.cuda.is_available() else 0}"
    return str(dev)


def _lock(table: dict, device) -> threading.RLock:
    key = device_key(device)
    with _GUARD:
        lock = table.get(key)
        if lock is None:
            lock = table[key] = threading.RLock()
        return lock


def run_lock(device) -> threading.RLock:
    return _lock(_RUN, device)


def capture_lock(device) -> threading.RLock:
    return _lock(_CAPTURE, device)
