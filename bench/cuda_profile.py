"""Where a fast iteration's time goes on a GPU: kernels per iteration, the sum of their device
time, and the wall time per iteration, plain and replayed from a CUDA graph, per precision and
number of tuned groups.  With graphs the host no longer adds gaps, so

    graph wall - kernel sum  = what is left between kernels (launch latency inside the graph)
    kernel sum               = what only fewer, fused or cheaper kernels (bf16) can cut

    python bench/cuda_profile.py --device cuda --random 256x96 --json prof.json
    python bench/cuda_profile.py --random 64x8 --precision fp32 --ft 2 --iters 2   # CPU smoke run

Kernels are read from the profiler's Chrome trace (events of category "kernel", plus memcpy and
memset); on the CPU the script reports top-level operator time instead, so it can be tried there.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from sn_node import make_step  # noqa: E402  (bench/sn_node.py: one fast iteration, as the reconstructor runs it)

from dgp_studio.core import runtime  # noqa: E402
from dgp_studio.core.benchmark import random_config  # noqa: E402
from dgp_studio.core.biggan import build_biggan  # noqa: E402
from dgp_studio.core.checkpoint import load_biggan  # noqa: E402

# kernel families by name; first match wins
FAMILIES = (("conv / matmul", re.compile(r"conv|gemm|xmma|cutlass|sm\d+_|wgrad|dgrad|implicit|winograd|cudnn", re.I)),
            ("reduction", re.compile(r"reduce|norm|softmax|dot", re.I)),
            ("adam", re.compile(r"adam|foreach|multi_tensor", re.I)),
            ("elementwise", re.compile(r"elementwise|vectorized|unrolled|copy|fill|index|cat|upsample", re.I)),
            ("memcpy / memset", re.compile(r"^memcpy|^memset|Memcpy|Memset")))


def family(name: str) -> str:
    for fam, rx in FAMILIES:
        if rx.search(name):
            return fam
    return "other"


def kernel_table(step, iters: int, device) -> dict:
    """Profile ``iters`` calls of ``step``: per-iteration kernel count and device time, by family
    and by name (CUDA); top-level operator time on the CPU."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(iters):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)["traceEvents"]
    finally:
        os.unlink(path)
    cats = {"kernel", "gpu_memcpy", "gpu_memset"} if device.type == "cuda" else {"cpu_op"}
    picked = [e for e in events if e.get("ph") == "X" and e.get("cat") in cats]
    if device.type != "cuda":  # top-level operators only: nested ones are inside their parents' time
        picked = [e for e in picked if not any(o is not e and o.get("cat") == "cpu_op" and o["ts"] <= e["ts"]
                                               and e["ts"] + e["dur"] <= o["ts"] + o["dur"] for o in picked)]
    by_name = collections.defaultdict(lambda: [0, 0.0])
    by_fam = collections.defaultdict(lambda: [0, 0.0])
    for e in picked:
        n = e["name"]
        by_name[n][0] += 1
        by_name[n][1] += e["dur"]
        f = family(n)
        by_fam[f][0] += 1
        by_fam[f][1] += e["dur"]
    per = 1.0 / iters
    return {"kernels_per_it": len(picked) * per,
            "kernel_ms_per_it": sum(e["dur"] for e in picked) * per / 1000,
            "families": {k: {"n": v[0] * per, "ms": v[1] * per / 1000}
                         for k, v in sorted(by_fam.items(), key=lambda kv: -kv[1][1])},
            "top": [{"name": k[:140], "n": v[0] * per, "ms": v[1] * per / 1000}
                    for k, v in sorted(by_name.items(), key=lambda kv: -kv[1][1])[:30]]}


def wall_ms(fn, iters: int, device) -> float:
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    fn()
    sync()
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    sync()
    return 1000 * (time.perf_counter() - t) / iters


def measure(gan, ft: int, precision: str, device, iters: int, compile_backend=None) -> dict:
    dtype = runtime._DTYPES[precision]
    cuda = device.type == "cuda"
    step = make_step(gan, ft, dtype, True, device, capturable=cuda, compile_backend=compile_backend)
    out = {"ft": ft, "precision": precision, "compile": compile_backend}
    with runtime.fast_math(device):
        side = torch.cuda.Stream(device) if cuda else None
        if cuda:
            side.wait_stream(torch.cuda.current_stream(device))
        with (torch.cuda.stream(side) if cuda else contextlib.nullcontext()):
            t = time.perf_counter()
            step()  # (compiles, with a backend)
            if cuda:
                torch.cuda.synchronize(device)
            out["first_s"] = time.perf_counter() - t
            for _ in range(2):
                step()
            out["eager_ms"] = wall_ms(step, iters, device)
            out["eager"] = kernel_table(step, max(2, iters // 4), device)
            if cuda:
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=side):
                    step()
                out["graph_ms"] = wall_ms(graph.replay, iters, device)
                out["graph"] = kernel_table(graph.replay, max(2, iters // 4), device)
                del graph
        if cuda:
            torch.cuda.current_stream(device).wait_stream(side)
            torch.cuda.synchronize(device)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--random", metavar="RESxCH", help="random weights (default: the bundled prior)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--ft", default="2,99", help="comma-separated numbers of tuned groups (99: all)")
    ap.add_argument("--precision", default="fp32,bf16", help="comma-separated: fp32, bf16")
    ap.add_argument("--iters", type=int, default=20, help="timed iterations per variant")
    ap.add_argument("--compile", default="", help="comma-separated variants: none, inductor, aot_eager "
                                                  "(the loss under torch.compile, core/compiled.py; default: none)")
    ap.add_argument("--threads", default="auto")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    runtime.configure(dev, args.threads)
    gan = build_biggan(random_config(args.random), device=dev, seed=0) if args.random else load_biggan(device=dev)
    rows = []
    variants = [None if v in ("", "none") else v for v in (args.compile or "none").split(",")]
    fts = [min(int(v), gan.G.n_groups) for v in args.ft.split(",")]
    for backend, precision, ft in itertools.product(variants, args.precision.split(","), fts):
        r = measure(gan, ft, precision, dev, args.iters, backend)
        rows.append(r)
        line = (f"{precision} ft {ft}{', ' + backend if backend else ''}: first call {r['first_s']:.1f} s, "
                f"plain {r['eager_ms']:.2f} ms/it")
        if "graph_ms" in r:
            g = r["graph"]
            line += (f", graph {r['graph_ms']:.2f} ms/it, {g['kernels_per_it']:.0f} kernels "
                     f"summing {g['kernel_ms_per_it']:.2f} ms (gaps {r['graph_ms'] - g['kernel_ms_per_it']:.2f} ms)")
        e = r["eager"]
        line += f"; eager trace {e['kernels_per_it']:.0f} events, {e['kernel_ms_per_it']:.2f} ms"
        print(line, flush=True)
        for fam, v in e["families"].items():
            print(f"    {fam:16s} {v['n']:7.1f} per it  {v['ms']:7.3f} ms")
        for t in e["top"][:12]:
            print(f"      {t['ms']:7.3f} ms  x{t['n']:5.1f}  {t['name'][:100]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": str(dev), "gpu": torch.cuda.get_device_name(dev)
                                               if dev.type == "cuda" else None, "torch": torch.__version__,
                                               "model": args.random or "bundled", "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
