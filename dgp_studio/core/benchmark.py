"""The engine benchmark behind ``bench/engine.py`` and ``dgp-studio bench``.

Exact and fast runs of the same preset on the same input, in one process and alternating
(exact first in even repeats, fast first in odd ones), so that a shared or throttled
machine slows both alike; the table reports the fast/exact ratio of wall and CPU time.
Peak memory: on CUDA ``torch.cuda.max_memory_allocated``; on the CPU the peak resident
set size above the run's starting point, sampled every 5 ms from /proc (or the
process's ``ru_maxrss`` where /proc is missing).
"""
from __future__ import annotations

import dataclasses
import os
import platform
import resource
import threading
import time

import torch

from . import presets, runtime
from .biggan import BigGANConfig
from .degradations import Inpainting, make_degradation
from .metrics import psnr, tensor01


def random_config(spec: str) -> BigGANConfig:
    """``RESxCH`` (e.g. ``256x96``): the release's layout at >= 128 px, the bundled prior's below."""
    try:
        res, ch = (int(v) for v in spec.lower().split("x"))
    except ValueError:
        raise ValueError(f"--random wants RESxCH such as 256x96, not {spec!r}") from None
    if res >= 128:
        return BigGANConfig(resolution=res, G_ch=ch, D_ch=ch, dim_z=120, shared_dim=128, n_classes=1000,
                            G_attn=(64,), D_attn=(64,))
    return BigGANConfig(resolution=res, G_ch=ch, D_ch=ch, dim_z=100, shared_dim=64, n_classes=5,
                        G_attn=(res // 2,), D_attn=(res // 2,))


class PeakMemory:
    """Peak memory of a block of work: CUDA allocator peak, or sampled RSS growth on the CPU."""

    def __init__(self, device):
        self.device = torch.device(device)
        self.peak_bytes = 0

    @staticmethod
    def _rss() -> int | None:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        self._base = self._rss()
        self._peak = self._base or 0
        self._stop = threading.Event()
        if self._base is not None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            v = self._rss()
            if v is not None and v > self._peak:
                self._peak = v

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device)
            return False
        self._stop.set()
        if self._base is None:  # no /proc: the process's lifetime peak is all there is
            self.peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        else:
            self._thread.join()
            v = self._rss()
            self._peak = max(self._peak, v or 0)
            self.peak_bytes = self._peak - self._base
        return False


def make_input(gan, task: str, seed: int = 0):
    """A clean image the model can make (class 0), the task's degradation and the observation
    (inpainting: the paper's centred hole of side res // 3)."""
    res = gan.resolution
    mask = Inpainting.centered_hole(res).mask if task in ("inpainting", "hybrid") else None
    deg = make_degradation(task, mask=mask)
    clean = gan.sample(0, n=1, std=0.5, seed=seed).float()
    return clean, deg, deg.simulate(clean)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


MODES = ("exact", "fast", "fast-fp32", "fast-bf16", "fast-graph", "fast-eager", "reference")
GRAPH_MODES = {"fast-graph": True, "fast-eager": False}  # fast path with / without CUDA graphs
BASELINES = ("exact", "reference")  # the modes the fast ones are compared with


def run_once(gan, preset, deg, observed, mode: str = "fast", seed: int = 0, precision=None,
             search_batch: int | None = None) -> dict:
    """One run; ``mode``: exact, fast (``precision`` or the device's default), fast-fp32, fast-bf16,
    fast-graph / fast-eager (CUDA graphs on / off; on other devices both are plain fast runs),
    or reference (the exact path plus the release's per-iteration recomputation of D(x_hat) and
    D's spectral norms: the same result in the time the issue's reference timing describes)."""
    from .reconstructor import Reconstructor
    dev = gan.device
    exact = mode in BASELINES
    if mode.startswith("fast-") and mode not in GRAPH_MODES:
        precision = mode.split("-", 1)[1]
    rec = Reconstructor(gan, preset, deg, exact=exact, preview_every=0, precision=None if exact else precision,
                        reference_work=mode == "reference", cuda_graphs=GRAPH_MODES.get(mode),
                        search_batch=search_batch)
    _sync(dev)
    c0, w0 = time.process_time(), time.perf_counter()
    with PeakMemory(dev) as mem:
        res = rec.run(observed, class_id=0, seed=seed)
    _sync(dev)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    t = res.timings
    stage_ms = [1000 * s / n if n else 0.0 for s, n in zip(t["stage_s"], t["stage_iterations"])]
    fid = psnr(tensor01(deg(res.image.to(dev)).cpu()), tensor01(res.target))
    return {"mode": mode, "search_s": t["search_s"], "stage_ms": stage_ms, "cuda_graphs": t.get("cuda_graphs"),
            "optimise_s": t["optimise_s"], "total_s": wall, "cpu_s": cpu, "peak_mib": mem.peak_bytes / 2 ** 20,
            "psnr_fit": fid, "search_loss": res.search_loss,
            "last_losses": res.history[-1] if res.history else None, "result": res}


def time_manipulations(gan, result, repeats: int = 5) -> dict:
    """Best-of-N wall/CPU ms of a jitter grid of 8 and of one morph frame (lambda 0.5)."""
    from . import manipulate
    r = manipulate.Renderer(gan)
    b = dataclasses.replace(result, z=result.z + 0.3, generator_state={
        k: (v + 1e-3 if v.is_floating_point() else v) for k, v in result.generator_state.items()})
    jobs = {"jitter_8": lambda: manipulate.jitter(gan, result, n=8, std=0.5, seed=0, renderer=r),
            "morph_frame": lambda: manipulate.morph(gan, result, b, [0.5], renderer=r)}
    out = {}
    for name, job in jobs.items():
        job()  # warm-up
        best_w = best_c = float("inf")
        for _ in range(repeats):
            c0, w0 = time.process_time(), time.perf_counter()
            job()
            _sync(gan.device)
            best_w = min(best_w, time.perf_counter() - w0)
            best_c = min(best_c, time.process_time() - c0)
        out[name] = {"wall_ms": 1000 * best_w, "cpu_ms": 1000 * best_c}
    return out


def machine_line(settings: dict) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = "load %.1f" % os.getloadavg()[0]
    except OSError:
        load = ""
    gpu = f", {settings['gpu']}" if "gpu" in settings else ""
    return (f"{cpu}, {runtime.usable_cores()} cores{gpu}, torch {torch.__version__}, threads {settings['threads']}, "
            f"fast dtype {settings['fast_dtype']}, search dtype {settings['search_dtype']}, {load}")


def format_table(rows: list[dict]) -> str:
    n_st = max(len(r["stage_ms"]) for r in rows)
    head = (["preset", "mode", "search s"] + [f"st{i + 1} ms/it" for i in range(n_st)]
            + ["optimise s", "total s", "cpu s", "peak MiB", "fit dB"])
    lines = [head]
    for r in rows:
        lines.append([r["preset"], r["mode"], f"{r['search_s']:.2f}"]
                     + [f"{v:.1f}" for v in r["stage_ms"]] + [""] * (n_st - len(r["stage_ms"]))
                     + [f"{r['optimise_s']:.1f}", f"{r['total_s']:.1f}", f"{r['cpu_s']:.1f}",
                        f"{r['peak_mib']:.0f}", f"{r['psnr_fit']:.2f}"])
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) if j > 1 else c.ljust(w) for j, (c, w) in enumerate(zip(l, widths)))
                     for l in lines)


def _med(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])


def summarize(rows: list[dict]) -> list[dict]:
    """Per preset, baseline (exact, reference) and fast mode: medians, and baseline/fast ratios of
    wall, CPU, search, per stage (the ``exact_*`` keys hold the baseline's medians)."""
    out = []
    for name in dict.fromkeys(r["preset"] for r in rows):
        for base in BASELINES:
            ex = [r for r in rows if r["preset"] == name and r["mode"] == base]
            for mode in dict.fromkeys(r["mode"] for r in rows if r["mode"] not in BASELINES):
                fa = [r for r in rows if r["preset"] == name and r["mode"] == mode]
                if ex and fa:
                    out.append(_ratios(name, base, mode, ex, fa))
    return out


def _ratios(name, base, mode, ex, fa) -> dict:
    s = {"preset": name, "mode": mode, "baseline": base}
    for key in ("total_s", "cpu_s", "search_s", "optimise_s", "peak_mib", "psnr_fit"):
        s[f"exact_{key}"], s[f"fast_{key}"] = _med([r[key] for r in ex]), _med([r[key] for r in fa])
    s["speedup_total"] = s["exact_total_s"] / max(s["fast_total_s"], 1e-9)
    s["speedup_cpu"] = s["exact_cpu_s"] / max(s["fast_cpu_s"], 1e-9)
    s["speedup_search"] = s["exact_search_s"] / max(s["fast_search_s"], 1e-9)
    s["speedup_stages"] = [_med([r["stage_ms"][i] for r in ex]) / max(_med([r["stage_ms"][i] for r in fa]), 1e-9)
                           for i in range(len(ex[0]["stage_ms"]))]
    return s


def run_benchmark(gan, preset_names, iters_scale=1.0, select_num=None, repeats=1, seed=0, manip=False,
                  modes=("exact", "fast"), precision=None, search_batch=None, log=print) -> dict:
    rows = []
    last_fast = None
    # warm-up (allocator, oneDNN kernel creation, lazy imports) so the first timed mode is not penalised
    p0 = dataclasses.replace(presets.get(preset_names[0]).scaled(1e-9), select_num=2)
    _, deg0, obs0 = make_input(gan, p0.task, seed)
    for mode in modes:
        run_once(gan, p0, deg0, obs0, mode, seed=seed, precision=precision, search_batch=search_batch)
    for name in preset_names:
        p = presets.get(name).scaled(iters_scale)
        if select_num is not None:
            p = dataclasses.replace(p, select_num=int(select_num))
        clean, deg, observed = make_input(gan, p.task, seed)
        for rep in range(repeats):
            order = list(modes) if rep % 2 == 0 else list(reversed(modes))
            for mode in order:
                r = run_once(gan, p, deg, observed, mode, seed=seed, precision=precision, search_batch=search_batch)
                r["preset"] = p.name
                if mode not in BASELINES:
                    last_fast = r["result"]
                r.pop("result")
                rows.append(r)
                log(f"  {p.name:16s} {mode:5s} rep {rep + 1}: total {r['total_s']:.1f} s (cpu {r['cpu_s']:.1f} s), "
                    f"search {r['search_s']:.2f} s, fit {r['psnr_fit']:.2f} dB"
                    + (f", CUDA graphs: {r['cuda_graphs']}" if r.get("cuda_graphs") not in (None, "off") else ""))
    out = {"rows": rows, "summary": summarize(rows)}
    if manip and last_fast is not None:
        out["manipulations"] = time_manipulations(gan, last_fast)
    return out


def report(out: dict, header: str) -> str:
    lines = [header, "", format_table(out["rows"]), ""]
    for s in out["summary"]:
        st = " ".join(f"x{v:.2f}" for v in s["speedup_stages"])
        b = s["baseline"]
        lines.append(f"{s['preset']}: {s['mode']}/{b} speed-up total x{s['speedup_total']:.2f} (wall), "
                     f"x{s['speedup_cpu']:.2f} (CPU time); search x{s['speedup_search']:.2f}; per stage {st}; "
                     f"fit PSNR {b} {s['exact_psnr_fit']:.2f} dB, {s['mode']} {s['fast_psnr_fit']:.2f} dB")
    m = out.get("manipulations")
    if m:
        lines.append("manipulations (fast result, best of 5): " + ", ".join(
            f"{k} {v['wall_ms']:.0f} ms wall / {v['cpu_ms']:.0f} ms CPU" for k, v in m.items()))
    return "\n".join(lines)
