"""Reconstruction on a QThread: a thin adapter over ``Reconstructor.run``.

The engine's progress callback runs on the worker thread; it converts previews to QImage
there and hands the UI small batches at most every ``emit_interval`` seconds, so the UI
thread's work per iteration stays tiny.  Pause = the callback waits on an event; cancel =
``rec.cancel()`` plus ``should_stop``, both checked before every iteration.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field

import torch
from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QImage

from dgp_studio.core import Reconstructor
from dgp_studio.core.imaging import to_tensor

from .imageconv import array_to_qimage, tensor_to_qimage

TARGET_SNAPSHOTS = 80  # previews per run, whatever its length
_threads_configured = False


def configure_threads() -> int:
    """Once per process: leave a core to the UI thread so it never waits for the CPU
    (``DGP_STUDIO_THREADS`` overrides), and hand the GIL over every 1 ms instead of 5 ms so the
    UI thread never waits long for the worker's Python code between torch calls."""
    global _threads_configured
    if not _threads_configured:
        _threads_configured = True
        env = os.environ.get("DGP_STUDIO_THREADS", "")
        n = int(env) if env.isdigit() and int(env) > 0 else max(1, (os.cpu_count() or 2) - 1)
        torch.set_num_threads(n)
        sys.setswitchinterval(0.001)
    return torch.get_num_threads()


WORKER_NICE = 5   # the UI thread wins when both want the CPU; the run takes what is left


def lower_thread_priority() -> None:
    """Linux gives each thread its own nice value: raise the calling thread's (a no-op where
    that is not possible).  ``DGP_STUDIO_WORKER_NICE`` overrides."""
    env = os.environ.get("DGP_STUDIO_WORKER_NICE", "")
    n = int(env) if env.lstrip("-").isdigit() else WORKER_NICE
    if n <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + n))
    except OSError:
        pass


@dataclass
class Job:
    doc_id: int
    image: object                 # what the model sees: PIL at its resolution (or res/f for SR)
    degradation: object
    preset: object
    class_id: int | None
    seed: int
    task: str
    box: tuple = (0, 0, 0)        # the photo region it came from
    hole: object = None           # bool mask at model resolution (inpainting)
    label: str = ""
    finalize: object = None       # callable(result) run on the worker after the run (full-res composite)
    composite: object = None      # what ``finalize`` returned
    full_hole: object = None      # photo-size bool hole the composite uses (kept with the result)
    cache_key: str | None = None  # key in the disk result cache (gui/run_cache.py)
    from_cache: bool = False      # set by the worker: the result came from the cache, nothing ran


@dataclass
class Snapshot:
    step: int
    stage: int
    iteration: int
    ft_num: int
    image: QImage                  # the generator's raw output (what the timeline shows)
    losses: dict
    elapsed: float
    display: QImage | None = None  # the task's post-processing applied (what the canvas shows)


@dataclass
class Tick:
    """What the UI needs after a batch of iterations."""
    job_index: int
    phase: str
    step: int
    total: int
    stage: int
    n_stages: int
    iteration: int
    stage_iterations: int
    ft_num: int
    it_per_s: float
    rows: list = field(default_factory=list)   # (step, stage, total, ftr, mse) per iteration
    search_fraction: float = 0.0


def explain_error(e: BaseException, device: str) -> str:
    """A message a user can act on."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    oom = isinstance(e, MemoryError) or "out of memory" in text.lower() or "can't allocate memory" in text.lower() \
        or type(e).__name__ == "OutOfMemoryError"
    if oom:
        where = "the GPU" if str(device).startswith("cuda") else "this computer"
        tips = ["choose 'Fast preview'", "lower 'Candidates' in Advanced (the search batch is the peak)",
                "close other programs using memory"]
        if str(device).startswith("cuda"):
            tips.append("or start on the CPU with --device cpu")
        return f"Out of memory on {where}. Try: " + "; ".join(tips) + "."
    if isinstance(e, ValueError):
        return f"Cannot run: {text}"
    return f"The run failed ({type(e).__name__}: {text}). Try 'Fast preview' or another task; " \
           "if it keeps failing, run the same settings with 'dgp-studio restore' to see the full error."


class ReconstructionWorker(QThread):
    jobStarted = Signal(int, object)            # index, Job
    tick = Signal(object)                        # Tick
    snapshot = Signal(int, object)               # job index, Snapshot
    jobFinished = Signal(int, object, object)    # index, Job, ReconstructionResult
    failed = Signal(int, str)                    # index, readable message

    def __init__(self, gan, jobs: list[Job], device=None, emit_interval: float = 0.1,
                 preview_every: int | None = None, parent=None, result_cache=None):
        super().__init__(parent)
        self.gan, self.jobs = gan, list(jobs)
        self.result_cache = result_cache  # core.cache.ResultCache: hits skip the run, finished runs go in
        self.optimised = 0                # jobs that really ran the optimisation
        self.cache_hits = 0
        self.device = device or str(gan.device)
        self.emit_interval = emit_interval
        self.preview_every = preview_every
        self._resume = threading.Event()
        self._resume.set()
        self._cancelled = False
        self._rec: Reconstructor | None = None
        self.last_step = 0            # engine step seen by the callback (read by the UI / tests)
        self.index = 0
        self._rows: list = []
        self._last_emit = 0.0
        self._t_opt = None
        self._steps_at_t = 0

    # -- control from the UI thread ------------------------------------------------------------
    def cancel(self) -> None:
        self._cancelled = True
        rec = self._rec
        if rec is not None:
            rec.cancel()
        self._resume.set()  # a paused run must wake up to stop

    def set_paused(self, paused: bool) -> None:
        if paused and not self._cancelled:
            self._resume.clear()
        else:
            self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    # -- thread ---------------------------------------------------------------------------------
    def run(self) -> None:
        lower_thread_priority()
        for i, job in enumerate(self.jobs):
            if self._cancelled:
                break
            self.index = i
            self._rows, self._last_emit, self._t_opt, self.last_step, self._p = [], 0.0, None, 0, None
            self._observed = None
            cached = self._from_cache(job)
            if cached is not None:
                job.from_cache = True
                self.cache_hits += 1
                self._finalize(job, cached)
                self.jobFinished.emit(i, job, cached)
                continue
            every = self.preview_every or max(1, job.preset.total_iterations // TARGET_SNAPSHOTS)
            try:
                rec = Reconstructor(self.gan, job.preset, job.degradation, preview_every=every)
                self._rec = rec
                if self._cancelled:
                    rec.cancel()
                self.jobStarted.emit(i, job)
                self.optimised += 1
                result = rec.run(job.image, class_id=job.class_id, seed=job.seed, progress=self._progress,
                                 should_stop=lambda: self._cancelled)
            except Exception as e:  # noqa: BLE001 - every failure becomes a message in the UI
                if str(self.device).startswith("cuda"):
                    torch.cuda.empty_cache()
                self.failed.emit(i, explain_error(e, self.device))
                continue
            finally:
                self._rec = None
            self._finalize(job, result)
            self._flush(force=True)
            self.jobFinished.emit(i, job, result)
            self._store(job, result)

    @staticmethod
    def _finalize(job, result) -> None:
        if job.finalize is not None:
            try:
                job.composite = job.finalize(result)
            except Exception:  # noqa: BLE001 - the region result is still shown
                job.composite = None

    def _from_cache(self, job):
        """The cached result for ``job`` or None (a damaged or unusable entry is a miss)."""
        if self.result_cache is None or not job.cache_key:
            return None
        from . import run_cache
        try:
            entry = self.result_cache.get_entry(job.cache_key)
            if entry is None:
                return None
            result = entry.to_result(self.gan)
            # the task's finish is recomputed (milliseconds): a run cached by an earlier version
            # gets this version's finish, as a new run would
            result.final = job.degradation.postprocess(result.image, result.observed)
            return run_cache.tag(result, job.cache_key, entry)
        except Exception as e:  # noqa: BLE001 - the run simply happens
            import warnings
            warnings.warn(f"result cache: entry not used ({e})", RuntimeWarning)
            return None

    def _store(self, job, result) -> None:
        """After the UI has the result: keep it for next time (finished runs only; a full
        disk or any other failure only costs the cache entry)."""
        if self.result_cache is None or not job.cache_key or result.cancelled:
            return
        from . import run_cache
        try:
            entry = self.result_cache.put(job.cache_key, result, self.gan)
        except Exception as e:  # noqa: BLE001
            import warnings
            warnings.warn(f"result cache: not stored ({e})", RuntimeWarning)
            return
        run_cache.tag(result, job.cache_key, entry)

    def _progress(self, p) -> None:
        # pause: block here (between iterations) until resumed or cancelled
        while not self._resume.wait(0.1):
            if self._cancelled:
                break
        now = time.perf_counter()
        if p.phase == "search":
            self.tick.emit(Tick(self.index, "search", 0, p.total_steps, 0, p.n_stages, 0, 0, 0, 0.0,
                                search_fraction=p.elapsed))
            return
        if self._t_opt is None:
            self._t_opt, self._steps_at_t = now, p.step - 1
        self.last_step = p.step
        l = p.losses
        self._rows.append((p.step, p.stage, l.get("total", 0.0), l.get("ftr", 0.0), l.get("mse", 0.0)))
        self._p = p
        if p.preview is not None:
            self.snapshot.emit(self.index, Snapshot(p.step, p.stage, p.iteration, p.ft_num,
                                                    tensor_to_qimage(p.preview), dict(l), p.elapsed,
                                                    self._display(p.preview)))
        if now - self._last_emit >= self.emit_interval or p.step == p.total_steps:
            self._flush()

    def _display(self, preview):
        """The preview as the task will present it (kept pixels, original lightness...)."""
        job = self.jobs[self.index]
        try:
            if job.task == "inpainting" and job.hole is not None:
                # only the hole, transparent elsewhere: the canvas keeps the sharp photo around it
                import numpy as np
                from dgp_studio.core.imaging import to_uint8
                rgba = np.dstack([to_uint8(preview), np.asarray(job.hole, dtype=np.uint8) * 255])
                return array_to_qimage(rgba)
            with torch.no_grad():
                dev = self.gan.device  # the degradation's tensors (a mask) live there during a run
                if self._observed is None:
                    self._observed = to_tensor(job.image, dev)
                return tensor_to_qimage(job.degradation.postprocess(preview.to(dev), self._observed).cpu())
        except Exception:  # noqa: BLE001 - the raw preview is still worth showing
            return None

    def _flush(self, force: bool = False) -> None:
        p = getattr(self, "_p", None)
        if p is None or (not self._rows and not force):
            return
        now = time.perf_counter()
        dt = now - (self._t_opt or now)
        speed = (p.step - self._steps_at_t) / dt if dt > 0 else 0.0
        rows, self._rows = self._rows, []
        self._last_emit = now
        self.tick.emit(Tick(self.index, "optimise", p.step, p.total_steps, p.stage, p.n_stages, p.iteration,
                            p.stage_iterations, p.ft_num, speed, rows))
