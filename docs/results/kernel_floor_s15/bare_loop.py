"""The fast stage-5 iteration (every group tuned) as a bare loop: forward, backward and Adam
timed apart and against their calls timed alone (bench/kernel_floor.py's recorder), then the
same stage through Reconstructor and the bare loop, alternating.  Fifteenth session,
docs/PERFORMANCE.md.  Run from the repository root: python docs/results/kernel_floor_s15/bare_loop.py"""
import sys, time, importlib.util, torch, statistics
import pathlib
ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
spec = importlib.util.spec_from_file_location("kf", ROOT / "bench" / "kernel_floor.py"); kf = importlib.util.module_from_spec(spec); spec.loader.exec_module(kf)
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
for _ in range(10): it()
T = {"fwd": [], "bwd": [], "opt": []}
for _ in range(60):
    t = [time.perf_counter()]
    def mark(s): T[s].append(time.perf_counter() - t[0]); t[0] = time.perf_counter()
    it(mark)
rec = kf.Recorder()
with rec:
    for _ in range(4): it(rec.flush)
for ph in ("fwd", "bwd", "opt"):
    iso = sum(kf.time_call(rec.example[k], 9) * n for k, n in rec.calls[ph].items()) / 4
    ncalls = sum(rec.calls[ph].values()) / 4
    print(f"{ph}: run {1000*statistics.median(T[ph]):.1f} ms, calls alone {1000*iso:.1f} ms, {ncalls:.0f} calls")

spec = importlib.util.spec_from_file_location("overhead", ROOT / "bench" / "overhead.py")
overhead = importlib.util.module_from_spec(spec); spec.loader.exec_module(overhead)
def recon_ms():  # the same stage through Reconstructor: bench/overhead.py's steady rate
    return overhead.ms_per_iteration(gan, iters=120, ft=6, skip=20)
def bare_ms(n=100):
    for _ in range(10): it()
    t = time.perf_counter()
    for _ in range(n): it()
    return 1000 * (time.perf_counter() - t) / n
for r in range(3):
    print(f"round {r}: Reconstructor stage 5 {recon_ms():.1f} ms/it, bare loop {bare_ms():.1f} ms/it", flush=True)
