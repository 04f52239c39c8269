"""The fast path's spectral norms in one autograd node per iteration (fastpath.SNWeights, the
default) against one node per layer: ATen ops per iteration (on CUDA each is at least one kernel)
and time per iteration, both in one process, alternating order.

    python bench/sn_node.py                                  # bundled prior, every group tuned, CPU
    python bench/sn_node.py --random 256x8 --precision fp32  # BigGAN-256's layer structure, CUDA's math
    python bench/sn_node.py --device cuda --random 256x96    # on a GPU (plain iterations, no graphs)

Ops are counted with the profiler: top-level ATen calls that compute (views and allocations left
out); a ``_foreach`` call counts once, as CUDA runs it as one fused kernel.
"""
from __future__ import annotations

import argparse
import collections
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from dgp_studio.core import runtime  # noqa: E402
from dgp_studio.core.benchmark import make_input, random_config  # noqa: E402
from dgp_studio.core.biggan import build_biggan, freeze_sn_all  # noqa: E402
from dgp_studio.core.checkpoint import load_biggan  # noqa: E402
from dgp_studio.core.compiled import compiled_objective  # noqa: E402
from dgp_studio.core.fastpath import FastObjective  # noqa: E402

NOT_COMPUTE = {"view", "as_strided", "t", "permute", "reshape", "expand", "detach", "empty", "empty_strided",
               "transpose", "unsqueeze", "squeeze", "split", "narrow", "slice", "select", "alias", "lift_fresh",
               "unbind", "resolve_conj", "resolve_neg", "_unsafe_view", "empty_like", "result_type", "is_nonzero",
               "contiguous", "to", "chunk", "split_with_sizes", "expand_as", "view_as"}


def make_step(gan, ft: int, dtype, one_node: bool, device, capturable: bool = False, compile_backend=None):
    """One fast iteration with groups < ft tuned, as the reconstructor runs it (``capturable``:
    optimisers that a CUDA graph can record; ``compile_backend``: the loss under torch.compile,
    core/compiled.py; both for bench/cuda_profile.py)."""
    _, deg, obs = make_input(gan, "colorization", 0)
    G = copy.deepcopy(gan.G).to(device).eval()
    D = gan.D
    D.requires_grad_(False)
    freeze_sn_all(D)
    obs = obs.to(device)
    deg.to(device)
    fast = FastObjective(G, D, deg.target(obs), deg, dtype, runtime.channels_last(device))
    fast.G.one_sn_node = one_node
    groups = [fast.G.optimised(g) for g in G.group_params(False)]
    for i, params in enumerate(groups):
        for q in params:
            q.requires_grad_(i < ft)
    fast.set_trainable(ft)
    z = (0.5 * torch.randn(1, gan.config.dim_z, generator=torch.Generator().manual_seed(0))).to(device)
    z.requires_grad_(True)
    loss = compiled_objective(fast, compile_backend) if compile_backend else fast
    adam = dict(betas=(0.0, 0.999), fused=True, capturable=capturable)
    z_opt = torch.optim.Adam([z], lr=1e-3, **adam)
    G_opt = torch.optim.Adam([{"params": g} for g in groups], lr=1e-4, **adam)
    c = G.shared(torch.tensor([0], device=device)).detach()

    def step():
        z_opt.zero_grad(set_to_none=True)
        G_opt.zero_grad(set_to_none=True)
        _, total, _ = loss(z, c, 7, 1.0, 1.0, 0.02)
        total.backward()
        z_opt.step()
        G_opt.step()
    return step


def alternate(steps: dict, blocks: int, iters: int, device) -> dict:
    """Median ms per iteration of each step, timed in blocks of ``iters`` whose order alternates."""
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    ms = {name: [] for name in steps}
    for b in range(blocks):
        for name in (list(steps) if b % 2 == 0 else list(steps)[::-1]):
            steps[name]()
            sync()
            t = time.perf_counter()
            for _ in range(iters):
                steps[name]()
            sync()
            ms[name].append(1000 * (time.perf_counter() - t) / iters)
    return {name: statistics.median(v) for name, v in ms.items()}


def count_ops(step) -> int:
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    n = collections.Counter()
    for e in prof.events():
        name = e.name
        if name.startswith("aten::") and name[6:] not in NOT_COMPUTE and \
                (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")):
            n[name] += 1
    return sum(n.values())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--random", metavar="RESxCH", help="random weights (default: the bundled prior)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--ft", type=int, default=99, help="groups tuned (default: all)")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default=None, help="default: the device's")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--iters", type=int, default=15, help="iterations per timed block")
    ap.add_argument("--blocks", type=int, default=6, help="timed blocks per variant")
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    runtime.configure(dev, args.threads)
    gan = build_biggan(random_config(args.random), device=dev, seed=0) if args.random else load_biggan(device=dev)
    ft = min(args.ft, gan.G.n_groups)
    dtype = runtime._DTYPES[args.precision] if args.precision else runtime.fast_dtype(dev)
    steps = {name: make_step(gan, ft, dtype, name == "one node", dev) for name in ("one node", "node per layer")}
    for name, step in steps.items():
        step()
        step()
        print(f"{name}: {count_ops(step)} ATen ops per iteration")
    med = alternate(steps, args.blocks, args.iters, dev)
    print(f"{args.random or 'bundled prior'}, {dev}, {str(dtype).split('.')[-1]}, groups tuned {ft}, "
          f"threads {torch.get_num_threads()}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in med.items()) +
          f"; node per layer / one node = x{med['node per layer'] / med['one node']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
