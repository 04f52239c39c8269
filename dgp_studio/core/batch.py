"""Folders of photos: collect, skip what is done, process each (one bad file never stops the
run), log every file to CSV + JSON, and spread files over several devices.

``--devices cuda:0,cuda:1`` starts one worker process per device (each loads the model once and
takes the next file from a shared queue); otherwise files run in this process on one device.
A file is "done" when its output PNG exists and carries our metadata record: writes are
atomic, so an interrupted run never leaves a half-written output that would be skipped.
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .errors import free_memory, is_out_of_memory, write_error
from .export import METADATA_KEY, check_not_input, read_record, result_format, save_result
from .fsutil import atomic_write_text
from .intake import IMAGE_EXTENSIONS, IntakeError, open_image
from .restore import RestoreError, RestoreSettings, finish, output_record, prepare, restore

LOG_NAME = "dgp_restore_log"
CSV_FIELDS = ["input", "output", "status", "error", "seconds", "task", "class_id", "loss_total", "loss_ftr",
              "loss_mse", "loss_nll", "steps", "region", "device", "seed", "iters_scale", "candidates",
              "notes", "settings"]


class BatchError(ValueError):
    """Nothing to do, or inputs that cannot be planned; one line for the user."""


@dataclass
class Item:
    src: Path
    out: Path
    rel: str                     # the input's path relative to the folder given (for the log)
    named: bool = False          # ``out`` is the file the user named (--out FILE), not a name we made up


@dataclass
class BatchReport:
    records: list = field(default_factory=list)
    log_csv: Path | None = None
    log_json: Path | None = None

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r["status"] == status)

    @property
    def failed(self) -> list:
        return [r for r in self.records if r["status"] == "error"]


# -- planning ---------------------------------------------------------------------------------
def _is_our_output(p: Path) -> bool:
    return p.suffix.lower() == ".png" and read_record(p) is not None


def collect_inputs(paths, recursive: bool = False, exclude=()) -> list[tuple[Path, Path]]:
    """(file, the folder it was found under or its own parent) for every photo named or inside a
    named folder.  Our own results (PNGs with a DGP Studio record) and ``exclude`` folders are left out."""
    excl = [Path(e).resolve() for e in exclude if e]
    found, seen = [], set()
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise BatchError(f"{p}: no such file or folder")
        if p.is_dir():
            it = p.rglob("*") if recursive else p.iterdir()
            files = sorted(f for f in it if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            files = [f for f in files if not any(_under(f, e) for e in excl) and not _is_our_output(f)]
            base = p
        else:
            files, base = [p], p.parent
        for f in files:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                found.append((f, base))
    return found


def _under(f: Path, folder: Path) -> bool:
    try:
        f.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def plan(inputs, task: str, out_dir=None, out_file=None) -> list[Item]:
    """Output path of each input: ``<stem>_<task>.png`` next to it, or under ``out_dir`` keeping
    sub-folders; ``out_file`` for a single input.  Never an input's own path."""
    if out_file is not None and len(inputs) != 1:
        raise BatchError("--out names one file: use --out-dir for several photos")
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise BatchError(f"--out-dir {out_dir}: is a file, not a folder")
    items, taken = [], set()
    for src, base in inputs:
        rel = src.relative_to(base) if _under(src, base.resolve()) else Path(src.name)
        if out_file is not None and (Path(out_file).is_dir() or str(out_file).endswith(("/", os.sep))):
            # --out FOLDER (or a new one, written with a trailing slash): the default name in it
            out = Path(out_file) / f"{src.stem}_{task}.png"
        elif out_file is not None:
            out = Path(out_file)
            if not out.suffix:
                out = out.with_suffix(".png")
            try:
                result_format(out)
            except ValueError as e:
                raise BatchError(str(e)) from None
            items.append(Item(src, out, str(rel), named=True))
            continue
        else:
            folder = (Path(out_dir) / rel.parent) if out_dir is not None else src.parent
            out = folder / f"{src.stem}_{task}.png"
            if out.resolve() in taken:  # photo.jpg and photo.png in one folder
                out = folder / f"{src.stem}_{src.suffix.lstrip('.').lower()}_{task}.png"
        taken.add(out.resolve())
        items.append(Item(src, out, str(rel)))
    srcs = [i.src for i in items]
    for it in (i for i in items if i.named):  # a made-up name on an input is refused per photo (foreign_output)
        try:
            check_not_input(it.out, srcs)
        except ValueError as e:
            raise BatchError(str(e)) from None
    return items


def foreign_output(item: Item) -> str | None:
    """Why ``item`` must not be written: its made-up output name is taken by a file DGP Studio did
    not write (e.g. the user's own 'cat_colorize.png'), which is never overwritten; None if free."""
    if item.named or not item.out.exists() or read_record(item.out) is not None:
        return None
    return (f"{item.out} exists and was not written by DGP Studio: it is kept; move it, or give --out-dir "
            "(or --out) another place")


def is_done(out: Path) -> dict | None:
    rec = read_record(out) if out.exists() else None
    return rec if rec and rec.get("status") == "ok" else None


# -- one file -----------------------------------------------------------------------------------
def process_file(gan, item: Item, settings: RestoreSettings, mask=None, progress=None, model_name=None,
                 device=None, session_path=None, should_stop=None) -> dict:
    """Restore one photo and write its PNG (record embedded); returns the log record.
    Any failure becomes a record with status 'error' and a one-line reason."""
    t0 = time.perf_counter()
    try:
        img = open_image(item.src)
        out = restore(gan, img, settings, mask=mask, progress=progress, should_stop=should_stop)
        rec = output_record(out, settings, source=item.src, model=model_name, device=device)
        _save(out.image, item, alpha=out.alpha, record=rec, exif=img.exif)
        if session_path is not None:
            from .session import save_session
            try:
                save_session(out.result, session_path, gan, extra={
                    # absolute: manipulations of the session never write over these files, from any folder
                    "source": str(Path(item.src).resolve()), "region": out.region.to_list(),
                    "output": str(Path(item.out).resolve()),
                    "intake_notes": out.notes})
            except OSError as e:
                raise RestoreError(write_error(session_path, e)) from None
        rec = dict(rec, output=str(item.out), input=item.rel, seconds=round(time.perf_counter() - t0, 3))
        return rec
    except Exception as e:  # noqa: BLE001 - one bad file is reported, never fatal to the batch
        return _failure(item, settings, e, t0, device)


def _failure(item, settings, e, t0, device) -> dict:
    """The log record of a file that failed: our own errors' one line, else type, first line and
    a short traceback (call inside the ``except``)."""
    if isinstance(e, (IntakeError, RestoreError)):
        return _error(item, settings, str(e), t0, device)
    msg = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    return _error(item, settings, msg, t0, device, traceback.format_exc(limit=3))


def group_reason(settings: RestoreSettings) -> str | None:
    """Why photos with these settings cannot run as a group (None: they can)."""
    from .groupedrun import group_unsupported
    if settings.exact:
        return "--exact runs one photo at a time"
    return group_unsupported(settings.make_preset())


def process_group(gan, items: list[Item], settings: RestoreSettings, mask=None, progress=None,
                  model_name=None, device=None) -> list[dict]:
    """Restore several photos as one group (groupedrun.py: one optimisation loop for all of them,
    each with its own weights) and write each PNG; -> one log record per item, in order.  A photo
    that cannot be opened or prepared gets its error record and the others still run; a group
    that runs out of memory is redone one photo at a time.  Each record's ``seconds`` is the
    group's time shared equally."""
    from .groupedrun import GroupItem, GroupReconstructor
    t0 = time.perf_counter()
    records: dict[int, dict] = {}
    ready = []
    for i, item in enumerate(items):
        try:
            img = open_image(item.src)
            ready.append((i, item, img, prepare(gan, img, settings, mask)))
        except Exception as e:  # noqa: BLE001 - reported per file, never fatal to the batch
            records[i] = _failure(item, settings, e, t0, device)
    results = []
    if ready:
        try:
            runner = GroupReconstructor(gan, settings.make_preset())
            results = runner.run([GroupItem(pr.model_input, pr.degradation, pr.class_id, settings.seed)
                                  for _, _, _, pr in ready], progress=progress)
        except Exception as e:  # noqa: BLE001 - the group failed: every member says why
            if is_out_of_memory(e) and len(ready) > 1:
                # N photos' weights did not fit: these photos go one at a time, each with a note
                del e
                free_memory()
                for i, item, _, _ in ready:
                    rec = process_file(gan, item, settings, mask=mask, model_name=model_name, device=device)
                    if rec["status"] == "ok":
                        rec["notes"] = list(rec.get("notes", [])) + [
                            f"a group of {len(ready)} ran out of memory: restored on its own"]
                    records[i] = rec
            else:
                for i, item, _, _ in ready:
                    records[i] = _failure(item, settings, e, t0, device)
            ready = []
    share = (time.perf_counter() - t0) / max(len(items), 1)
    for (i, item, img, pr), result in zip(ready, results):
        try:
            out = finish(gan, pr, result)
            out.seconds = share
            if len(ready) > 1:
                out.notes.append(f"restored in a group of {len(ready)} photos (one optimisation loop, "
                                 f"each photo with its own weights)")
            rec = output_record(out, settings, source=item.src, model=model_name, device=device)
            _save(out.image, item, alpha=out.alpha, record=rec, exif=img.exif)
            records[i] = dict(rec, output=str(item.out), input=item.rel)
        except Exception as e:  # noqa: BLE001
            records[i] = _failure(item, settings, e, t0, device)
    return [records[i] for i in range(len(items))]


def _save(image, item: Item, **kw) -> None:
    """The result file; a write that fails (disk full, no permission, a file where a folder should
    be) is one line naming the result, not the temporary file."""
    try:
        save_result(image, item.out, **kw)
    except OSError as e:
        raise RestoreError(write_error(item.out, e)) from None


def _error(item, settings, msg, t0, device, tb=None) -> dict:
    rec = {"input": item.rel, "source": str(item.src), "output": "", "status": "error", "error": msg,
           "task": settings.task, "settings": settings.to_dict(), "device": str(device) if device else None,
           "seconds": round(time.perf_counter() - t0, 3)}
    if tb:
        rec["traceback"] = tb
    return rec


def _skipped(item: Item, done: dict) -> dict:
    rec = dict(done)
    rec.update(status="skipped", input=item.rel, output=str(item.out),
               error="already done (output exists); --redo to process again")
    return rec


# -- the log ------------------------------------------------------------------------------------
def _csv_row(r: dict) -> dict:
    # a skipped file's row comes from the record inside its earlier output, which may be odd: types checked
    losses = r.get("losses") if isinstance(r.get("losses"), dict) else {}
    s = r.get("settings") if isinstance(r.get("settings"), dict) else {}
    region = r.get("region") if isinstance(r.get("region"), list) else []
    notes = r.get("notes") if isinstance(r.get("notes"), list) else []
    return {
        "input": r.get("input", ""), "output": r.get("output", ""), "status": r["status"],
        "error": r.get("error", ""), "seconds": r.get("seconds", ""), "task": r.get("task", ""),
        "class_id": r.get("class_id", ""), "loss_total": losses.get("total", ""), "loss_ftr": losses.get("ftr", ""),
        "loss_mse": losses.get("mse", ""), "loss_nll": losses.get("nll", ""), "steps": r.get("steps", ""),
        "region": " ".join(map(str, region)), "device": r.get("device") or "",
        "seed": s.get("seed", ""), "iters_scale": s.get("iters_scale", ""), "candidates": s.get("candidates", ""),
        "notes": "; ".join(map(str, notes)), "settings": json.dumps(s, sort_keys=True, default=str),
    }


def write_log(records: list, folder: Path, header: dict) -> tuple[Path, Path]:
    folder = Path(folder)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    w.writeheader()
    for r in records:
        w.writerow(_csv_row(r))
    csv_path, json_path = folder / f"{LOG_NAME}.csv", folder / f"{LOG_NAME}.json"
    atomic_write_text(csv_path, buf.getvalue())
    summary = {s: sum(1 for r in records if r["status"] == s) for s in ("ok", "skipped", "error")}
    atomic_write_text(json_path, json.dumps({**header, "summary": summary, "files": records}, indent=1, default=str))
    return csv_path, json_path


# -- running ------------------------------------------------------------------------------------
def run_batch(items: list[Item], settings: RestoreSettings, *, gan=None, model_path=None, devices=None,
              mask=None, log_dir=None, redo: bool = False, on_record=None, progress_factory=None,
              model_name=None, group: int = 1) -> BatchReport:
    """Process ``items``; ``gan`` (already loaded) runs them here, else ``devices`` (a list,
    e.g. ['cuda:0', 'cuda:1']) get one worker process each loading ``model_path``.
    ``on_record(done, total, record)`` is called after each file; the log is rewritten after
    each file too, so an interrupted batch still has one.  ``group`` > 1 (with ``gan``): that
    many photos at a time through one optimisation loop (``process_group``; on a GPU several
    photos cost little more than one); settings that cannot be grouped run one at a time."""
    report = BatchReport()
    header = {"task": settings.task, "settings": settings.to_dict(), "model": model_name,
              "devices": devices or [str(gan.device) if gan is not None else "cpu"],
              "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    todo = []
    for it in items:
        done = None if redo else is_done(it.out)
        foreign = foreign_output(it)
        if foreign is not None:
            report.records.append(_error(it, settings, foreign, time.perf_counter(), None))
            if on_record:
                on_record(len(report.records), len(items), report.records[-1])
        elif done is not None:
            report.records.append(_skipped(it, done))
            if on_record:
                on_record(len(report.records), len(items), report.records[-1])
        else:
            todo.append(it)

    def flush():
        if log_dir is not None:
            report.log_csv, report.log_json = write_log(report.records, log_dir, header)

    flush()
    if gan is None and not devices:
        raise BatchError("run_batch needs a loaded model (gan=) or a list of devices")
    if gan is not None and group > 1 and group_reason(settings) is None:
        for a in range(0, len(todo), group):
            chunk = todo[a:a + group]
            prog = progress_factory(chunk[0], len(chunk)) if progress_factory else None  # (first photo, group size)
            for rec in process_group(gan, chunk, settings, mask=mask, progress=prog, model_name=model_name,
                                     device=gan.device):
                report.records.append(rec)
                flush()
                if on_record:
                    on_record(len(report.records), len(items), rec)
    elif gan is not None:
        for it in todo:
            prog = progress_factory(it) if progress_factory else None
            rec = process_file(gan, it, settings, mask=mask, progress=prog, model_name=model_name,
                               device=gan.device)
            report.records.append(rec)
            flush()
            if on_record:
                on_record(len(report.records), len(items), rec)
    else:
        for rec in _run_workers(todo, settings, model_path, devices, mask):
            report.records.append(rec)
            flush()
            if on_record:
                on_record(len(report.records), len(items), rec)
    return report


def _worker(device: str, model_path, settings: RestoreSettings, mask, n_threads: int, tasks, results) -> None:
    """One process per device: load the model once, then take files until the queue says stop."""
    import torch
    torch.set_num_threads(max(1, n_threads))
    try:
        from .checkpoint import load_biggan, require_discriminator
        gan = load_biggan(model_path, device=device)
        require_discriminator(gan)
    except KeyboardInterrupt:
        return
    except Exception as e:
        results.put(("fatal", device, f"{device}: cannot load the model ({str(e).splitlines()[0] if str(e) else e})"))
        return
    name = getattr(gan, "name", None)
    try:
        while True:
            it = tasks.get()
            if it is None:
                break
            results.put(("start", device, it))
            results.put(("done", device, process_file(gan, it, settings, mask=mask, model_name=name, device=device)))
    except KeyboardInterrupt:  # Ctrl+C reaches every process of the group; the parent says what happened
        return


def _run_workers(todo, settings, model_path, devices, mask):
    import multiprocessing as mp
    if not todo:
        return
    devices = devices[:len(todo)]  # no idle workers: each would load the model and take cores
    ctx = mp.get_context("spawn")  # CUDA cannot be used in forked children
    tasks, results = ctx.Queue(), ctx.Queue()
    for it in todo:
        tasks.put(it)
    for _ in devices:
        tasks.put(None)
    n_cpu = sum(1 for d in devices if not str(d).startswith("cuda"))
    threads = max(1, (os.cpu_count() or 1) // max(1, n_cpu)) if n_cpu else 1
    procs = [ctx.Process(target=_worker, args=(d, model_path, settings, mask, threads, tasks, results),
                         daemon=True) for d in devices]
    for p in procs:
        p.start()
    remaining, alive, inflight, fatal = len(todo), len(procs), {}, None
    try:
        while remaining > 0 and alive > 0:
            try:
                kind, dev, payload = results.get(timeout=1.0)
            except Exception:  # queue.Empty: are the workers still there?
                if not any(p.is_alive() for p in procs):
                    break
                continue
            if kind == "fatal":
                alive -= 1
                fatal = payload
            elif kind == "start":
                inflight[dev] = payload
            else:
                inflight.pop(dev, None)
                remaining -= 1
                yield payload
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    if remaining > 0 and fatal is not None and not inflight:
        raise BatchError(fatal)
    for dev, it in inflight.items():  # a worker that died mid-file (crash, out of memory)
        remaining -= 1
        yield _error(it, settings, f"the worker on {dev} stopped while processing this file", time.perf_counter(), dev)
    if remaining > 0:
        raise BatchError(f"the workers stopped with {remaining} file(s) not processed")


__all__ = ["BatchError", "BatchReport", "Item", "collect_inputs", "plan", "is_done", "process_file",
           "run_batch", "write_log", "LOG_NAME", "METADATA_KEY"]
