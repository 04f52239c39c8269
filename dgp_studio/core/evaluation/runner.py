"""Run the chosen tasks over the images and gather every number into one report dict."""
from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import asdict, dataclass

import torch

from ..classes import class_names
from .tasks import ABLATION_SUBTASKS, TASKS, Ablation, Context

TASK_NAMES = ("reconstruct", "colorize", "inpaint", "sr4", "ablation")
TASK_ALIASES = {"reconstruction": "reconstruct", "colorization": "colorize", "inpainting": "inpaint",
                "sr": "sr4", "super-resolution": "sr4", "ablations": "ablation"}
QUICK_ITERS_SCALE = 0.02   # of the full schedule: 20-28 iterations per run
QUICK_SELECT_NUM = 20
QUICK_N = 2


def parse_tasks(spec) -> tuple:
    names = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    out = []
    for n in names:
        n = TASK_ALIASES.get(n, n)
        if n not in TASK_NAMES:
            raise ValueError(f"unknown task '{n}'; choose from {', '.join(TASK_NAMES)}")
        if n not in out:
            out.append(n)
    if not out:
        raise ValueError("no task given")
    return tuple(out)


@dataclass
class EvalSettings:
    tasks: tuple = ("reconstruct", "colorize", "inpaint", "sr4")
    ablation_tasks: tuple = ABLATION_SUBTASKS
    iters_scale: float = 1.0
    select_num: int | None = None   # None: the preset's (500)
    seed: int = 0
    quick: bool = False

    @classmethod
    def make(cls, tasks, ablation_tasks=ABLATION_SUBTASKS, quick=False, iters_scale=None, select_num=None,
             seed=0) -> "EvalSettings":
        """``quick`` supplies small defaults; explicit values win."""
        if iters_scale is None:
            iters_scale = QUICK_ITERS_SCALE if quick else 1.0
        if select_num is None and quick:
            select_num = QUICK_SELECT_NUM
        from ..restore import schedule_problem
        problem = schedule_problem(iters_scale, seed, select_num)
        if problem:
            raise ValueError(problem)
        abl = parse_tasks(ablation_tasks)
        bad = [a for a in abl if a not in ABLATION_SUBTASKS]
        if bad:
            raise ValueError(f"the ablation runs on {', '.join(ABLATION_SUBTASKS)}; not on {', '.join(bad)}")
        return cls(tasks=parse_tasks(tasks), ablation_tasks=abl, iters_scale=float(iters_scale),
                   select_num=select_num, seed=int(seed), quick=bool(quick))


def describe_device(device) -> str:
    dev = torch.device(device)
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)} (CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"CPU: {cpu}; {os.cpu_count()} cores, torch uses {torch.get_num_threads()} thread(s)"


def _finite(v):
    return v if (isinstance(v, (int, float)) and math.isfinite(v)) else None


def mean_numbers(per_image: list[dict]) -> dict:
    """method -> metric -> mean over images (non-finite values make the mean non-finite)."""
    out: dict = {}
    for rec in per_image:
        for m, vals in rec.items():
            for k, v in vals.items():
                if k in ("class_id", "steps", "resumed") or v is None:
                    continue
                out.setdefault(m, {}).setdefault(k, []).append(float(v))
    return {m: {k: sum(vs) / len(vs) for k, vs in d.items()} for m, d in out.items()}


def ordering(ablation_means: dict, per_image: list[dict], task_key: str) -> dict:
    """Does MSE < discriminator < discriminator + progressive hold for the task's main metric?"""
    t = TASKS[task_key]
    metric = t.ablation_metric
    higher = dict((k, h) for k, _, h in t.metrics)[metric]
    order = ["mse", "discriminator", "discriminator+progressive"]

    def better(a, b):  # is a better than b
        return a > b if higher else a < b

    def holds(vals):
        return all(better(vals[i + 1], vals[i]) for i in range(len(vals) - 1))

    means = [ablation_means[task_key][v][metric] for v in order]
    per = [[rec[task_key][v][metric] for v in order] for rec in per_image]
    return {"metric": metric, "higher_is_better": higher, "order": order, "means": means,
            "holds_on_means": holds(means),
            "d_beats_mse_on_means": better(means[1], means[0]),
            "progressive_beats_d_on_means": better(means[2], means[1]),
            "images_holding": sum(holds(p) for p in per), "n_images": len(per)}


def run_evaluation(gan, images, settings: EvalSettings, log=None, progress_factory=None, store=None,
                   on_task_done=None):
    """-> (report dict, sheets: task -> {'columns', 'rows'}) ; ``images``: list of EvalImage.
    ``store``: a RunStore (finished runs are read back / saved); ``on_task_done(report, sheets)``
    is called after each task with the report so far (``report['complete']`` is False until the end)."""
    log = log or (lambda msg: None)
    ctx = Context(gan=gan, iters_scale=settings.iters_scale, select_num=settings.select_num,
                  dip_seed=settings.seed, progress_factory=progress_factory, store=store)
    t_all = time.perf_counter()
    report = {
        "format": "dgp-studio-eval", "format_version": 1,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "model": {"name": gan.name, "source": gan.source, "resolution": gan.resolution,
                  "n_classes": gan.config.n_classes, "G_ch": gan.config.G_ch, "D_ch": gan.config.D_ch,
                  "dim_z": gan.config.dim_z, "class_names": class_names(gan.config)},
        "device": str(gan.device), "device_description": describe_device(gan.device),
        "torch": torch.__version__,
        "settings": asdict(settings),
        "schedules": {},
        "images": [{"name": im.name, "class_id": im.class_id, "class_name": im.class_name,
                    "class_source": "folder" if im.class_id is not None else "searched",
                    "source_size": list(im.source_size), "seed": settings.seed + im.index}
                   for im in images],
        "tasks": {},
        "complete": False,
        "resumed_runs": 0,
    }
    sheets = {}
    for key in settings.tasks:
        task = Ablation(settings.ablation_tasks) if key == "ablation" else TASKS[key]
        t_task = time.perf_counter()
        per_image, rows = [], []
        for i, im in enumerate(images):
            t0 = time.perf_counter()
            nums, cells = task.run_image(ctx, im, settings.seed + im.index)
            wall = time.perf_counter() - t0
            per_image.append({"image": im.name, "class_id": im.class_id, "wall_s": wall, "methods": nums})
            if key == "ablation":
                rows += [(f"{im.name}\n{sub}", c) for sub, c in cells]
            else:
                rows.append((im.name, cells))
            log(f"[{key} {i + 1}/{len(images)}] {im.name}: {wall:.1f}s")
        entry = {"title": task.title, "paper": task.paper,
                 "methods": [{"key": k, "label": lab} for k, lab in task.methods],
                 "per_image": per_image, "wall_s": time.perf_counter() - t_task}
        if key == "ablation":
            subs = [t.key for t in task.subtasks]
            entry["subtasks"] = [{"key": t.key, "title": t.title, "metric": t.ablation_metric,
                                  "metrics": [{"key": k, "label": lab, "higher_is_better": h}
                                              for k, lab, h in t.metrics]} for t in task.subtasks]
            entry["mean"] = {s: mean_numbers([r["methods"][s] for r in per_image]) for s in subs}
            entry["ordering"] = {s: ordering(entry["mean"], [r["methods"] for r in per_image], s) for s in subs}
            columns = ["clean", "input"] + [lab for _, lab in task.methods]
        else:
            entry["metrics"] = [{"key": k, "label": lab, "higher_is_better": h} for k, lab, h in task.metrics]
            entry["mean"] = mean_numbers([r["methods"] for r in per_image])
            columns = [lab for lab, _ in rows[0][1]] if rows else []
        report["tasks"][key] = entry
        sheets[key] = {"columns": columns, "rows": rows}
        report["wall_s"] = time.perf_counter() - t_all
        report["resumed_runs"] = sum(1 for o in ctx.cache.values() if o.resumed)
        if on_task_done:
            on_task_done(report, sheets)
    for name in sorted({"reconstruct", "colorization", "inpainting", "super-resolution", "super-resolution-mse"}):
        report["schedules"][name] = ctx.preset(name).to_dict()
    report["wall_s"] = time.perf_counter() - t_all
    report["resumed_runs"] = sum(1 for o in ctx.cache.values() if o.resumed)
    report["complete"] = True
    return report, sheets
