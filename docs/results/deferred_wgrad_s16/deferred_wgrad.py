"""Sixteenth session's prototype (docs/PERFORMANCE.md, "Sixteenth session"): the tuned G
convolutions' weight gradients computed on a worker thread while the main thread carries the
input-gradient chain (their W/sigma in a spectral-norm node of their own, run by a second
backward once the worker's gradients are in).  A/B against the engine's fast path in one process,
bare loop of stage 5 (every group tuned), interleaved blocks of 25 iterations.
Run from the repository root:
    python docs/results/deferred_wgrad_s16/deferred_wgrad.py MAIN_THREADS WORKER_THREADS"""
import sys, time, statistics, pathlib
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3]))
import torch, torch.nn.functional as F
from dgp_studio.core import runtime, fastpath
from dgp_studio.core.benchmark import make_input
from dgp_studio.core.checkpoint import load_biggan
from dgp_studio.core.fastpath import FastObjective, FastGenerator, sn_weights
from dgp_studio.core.spectral import SNConv2d, SNLinear
aten = torch.ops.aten
NT = int(sys.argv[1]) if len(sys.argv) > 1 else 2
WT = int(sys.argv[2]) if len(sys.argv) > 2 else 1
torch.set_num_threads(NT)
pool = ThreadPoolExecutor(1, initializer=lambda: torch.set_num_threads(WT))

def wgrad(go, x, w, has_b):
    _, gw, gb = aten.convolution_backward(go, x, w, [w.shape[0]] if has_b else None, [1, 1],
                                          [w.shape[-1] // 2] * 2, [1, 1], False, [0, 0], 1, [False, True, has_b])
    return gw, gb

class SplitConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, pad, sink, wref, bref):
        ctx.save_for_backward(x, w)
        ctx.pad, ctx.sink, ctx.wref, ctx.bref, ctx.hasb = pad, sink, wref, bref, b is not None
        return F.conv2d(x, w, b, 1, pad)
    @staticmethod
    def backward(ctx, go):
        x, w = ctx.saved_tensors
        go = go.contiguous(memory_format=torch.channels_last) if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() else go.contiguous()
        ctx.sink.append((ctx.wref[0], ctx.bref[0], pool.submit(wgrad, go, x, w, ctx.hasb)))
        gi = None
        if ctx.needs_input_grad[0]:
            gi = aten.convolution_backward(go, x, w, None, [1, 1], list(ctx.pad), [1, 1], False, [0, 0], 1, [True, False, False])[0]
        return gi, None, None, None, None, None, None

class DeferG(FastGenerator):
    DEFER = True
    sink = []
    def _is_deferred(self, m):
        return self.DEFER and isinstance(m, SNConv2d) and id(m) not in self._small
    def _prepare(self):
        if not (self._tuned and self.one_sn_node):
            return
        layers, weights, dtypes, cl = self._node_args
        idx = [[i for i, m in enumerate(layers) if self._is_deferred(m) == d] for d in (False, True)]
        for part in idx:
            if not part: continue
            outs = sn_weights([layers[i] for i in part], [weights[i] for i in part], [dtypes[i] for i in part], [cl[i] for i in part])
            for i, w in zip(part, outs):
                m, fp32 = self._tuned[i]
                self._step[(id(m), fp32)] = self._copy_view(w) if id(m) in self._copies else w
    def conv(self, x, layer):
        if id(layer) in self._live and self._is_deferred(layer) and not (id(layer) in self._small):
            x = self.act(x)
            w = self.W(layer)
            b = self.bias(layer)
            return SplitConv.apply(x, w.detach(), None if b is None else b.detach(), layer.padding, self.sink, [w], [b])
        return super().conv(x, layer)

def finish(sink):
    ts, gs = [], []
    for w, b, fut in sink:
        gw, gb = fut.result()
        ts.append(w); gs.append(gw)
        if b is not None:
            ts.append(b); gs.append(gb)
    sink.clear()
    if ts:
        torch.autograd.backward(ts, gs)

gan = load_biggan(None); G, D = gan.G, gan.D
_, deg, obs = make_input(gan, "colorization")
cpu = torch.device("cpu")
def make(cls):
    fastpath.FastGenerator = cls
    fo = FastObjective(G, D, obs, deg, runtime.fast_dtype(cpu), runtime.channels_last(cpu))
    fastpath.FastGenerator = FastGenerator
    return fo
objs = {"current": make(FastGenerator), "deferred": make(DeferG)}
G.requires_grad_(False)
groups = G.group_params(False)
for g in groups:
    for q in g: q.requires_grad_(True)
state = {}
for name, fo in objs.items():
    fo.set_trainable(99)
    torch.manual_seed(0)
    z = torch.randn(1, G.config.dim_z, requires_grad=True)
    og = torch.optim.Adam([{"params": fo.G.optimised(g)} for g in groups], lr=1e-5, betas=(0.0, 0.999), fused=True)
    oz = torch.optim.Adam([z], lr=1e-4, betas=(0.0, 0.999), fused=True)
    state[name] = (fo, z, og, oz)
c = G.shared(torch.tensor([0])).detach()

def it(name):
    fo, z, og, oz = state[name]
    og.zero_grad(set_to_none=True); oz.zero_grad(set_to_none=True)
    x, total, parts = fo(z, c, 7, 1.0, 0.0, 0.02)
    total.backward()
    oz.step()
    finish(DeferG.sink)
    og.step()
    return total.item()

# correctness: one iteration's gradients, same start (copy params), compare
def grads(name):
    fo, z, og, oz = state[name]
    for o in (og, oz): o.zero_grad(set_to_none=True)
    x, total, _ = fo(z, c, 7, 1.0, 0.0, 0.02); total.backward(); finish(DeferG.sink)
    ps = [p for grp in og.param_groups for p in grp["params"]]
    return [p.grad.clone() if p.grad is not None else None for p in ps] + [z.grad.clone()]
ga, gb = grads("current"), grads("deferred")
err = max(((a - b).abs().max() / (a.abs().max() + 1e-30)).item() for a, b in zip(ga, gb) if a is not None)
print(f"threads main {NT} worker {WT}; gradients: {sum(a is not None for a in ga)} vs {sum(b is not None for b in gb)} tensors, max rel diff {err:.2e}", flush=True)
for n in state: 
    for _ in range(8): it(n)
res = {n: [] for n in state}
for r in range(6):
    for n in (list(state) if r % 2 == 0 else list(state)[::-1]):
        t = time.perf_counter()
        for _ in range(25): it(n)
        res[n].append(1000 * (time.perf_counter() - t) / 25)
    print(f"round {r}: " + "  ".join(f"{n} {res[n][-1]:.1f}" for n in state), flush=True)
print("medians: " + "  ".join(f"{n} {statistics.median(v):.1f} ms" for n, v in res.items()),
      f" ratio x{statistics.median(res['current'])/statistics.median(res['deferred']):.2f}")
