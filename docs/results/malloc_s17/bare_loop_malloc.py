"""The fast stage-5 iteration (every group tuned) as a bare loop: ms per iteration, minor page
faults and kernel time per iteration.  Seventeenth session, docs/PERFORMANCE.md.  From the
repository root, once as is and once with glibc's thresholds raised:

    TAG=default python docs/results/malloc_s17/bare_loop_malloc.py
    TAG=mallopt MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456 \\
        python docs/results/malloc_s17/bare_loop_malloc.py
"""
import sys, time, importlib.util, torch, statistics
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3]))
from dgp_studio.core import runtime
from dgp_studio.core.benchmark import make_input
from dgp_studio.core.checkpoint import load_biggan
from dgp_studio.core.fastpath import FastObjective
torch.set_num_threads(2)
gan = load_biggan(None); G, D = gan.G, gan.D
_, deg, obs = make_input(gan, "colorization")
cpu = torch.device("cpu")
fast = FastObjective(G, D, obs, deg, runtime.fast_dtype(cpu), runtime.channels_last(cpu))  # as the engine on this CPU
G.requires_grad_(False)
groups = G.group_params(False)
for g in groups:
    for q in g: q.requires_grad_(True)
fast.set_trainable(99)
z = torch.randn(1, G.config.dim_z, requires_grad=True)
y = torch.tensor([0]); c = G.shared(y).detach()
opt_g = torch.optim.Adam([{"params": fast.G.optimised(g)} for g in groups], lr=1e-5, betas=(0.0, 0.999), fused=True)
opt_z = torch.optim.Adam([z], lr=1e-4, betas=(0.0, 0.999), fused=True)
def zero():
    opt_g.zero_grad(set_to_none=True); opt_z.zero_grad(set_to_none=True)
def it(mark=lambda s: None):
    zero()
    x, total, parts = fast(z, c, 7, 1.0, 0.0, 0.02); mark("fwd")
    total.backward(); mark("bwd")
    opt_z.step(); opt_g.step(); mark("opt")
import os, resource
for _ in range(10): it()
r0 = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
for _ in range(80): it()
dt = time.perf_counter() - t
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(f"{os.environ.get('TAG','')} {1000*dt/80:.1f} ms/it  minflt/it {(r1.ru_minflt-r0.ru_minflt)/80:.0f} sys ms/it {1000*(r1.ru_stime-r0.ru_stime)/80:.1f}", flush=True)
