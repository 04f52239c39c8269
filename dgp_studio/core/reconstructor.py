"""Progressive DGP reconstruction (DGP.md sections 4 and 5).

``Reconstructor.run`` is one loop that reports through a ``progress`` callback
and checks a cancel flag between iterations; the GUI worker and the CLI are
thin adapters over it.

``exact=True`` follows the reference's numerics: fp32, every group receives
gradients (so Adam's moments of zero-rate groups keep accumulating).
``exact=False`` (default) is the fast path (fastpath.py, docs/PERFORMANCE.md): no
gradients for frozen groups or the output layer, frozen layers' spectral norms
computed once per stage, a closed-form spectral-norm backward, bf16 channels-last
convolutions on CPUs with bf16 units and on CUDA GPUs, fused Adam, CUDA graphs, a bf16 candidate
search whose best few candidates are re-scored in fp32, and on CUDA losses read back
every ``sync_every`` iterations instead of every iteration.  Per stage only groups
< ft change, the output layer never does, and the final image is rendered by the
ordinary fp32 generator in both modes.
"""
from __future__ import annotations

import contextlib
import copy
import threading
import time
from dataclasses import dataclass, field

import torch

from . import runtime
from .biggan import BigGAN, freeze_sn_all, unfreeze_sn_all
from .checkpoint import require_discriminator
from .compiled import compiled_objective
from .degradations import Degradation, Identity, SuperResolution, Hybrid
from .devicelocks import run_lock
from .fastpath import FastObjective, rank_candidates
from .imaging import to_tensor
from .losses import DGPLoss, feature_l1_per_sample
from .presets import Preset
from .stepgraph import StepGraph

SEARCH_FEATURES = 3  # candidates are ranked by the last 3 D features (DGP.md section 5)
RESCORE_TOP = 8      # fast search: the best few by the bf16 ranking are re-scored in fp32
CUDA_SYNC_EVERY = 10  # fast path on CUDA: losses come back to the host every N iterations
CUDA_GRAPHS = True  # fast path on CUDA: record each stage's iteration once, replay it (stepgraph.py)
SEARCH_PIXELS = 10 * 256 * 256  # pixels per z-search batch: 10 candidates at 256 px, 40 at 128, 50 (cap) at 64
GRAPH_WARMUP = 3  # ordinary iterations at a stage's start before recording (state, caches, cuDNN choice)
LOSS_KEYS = ("total", "ftr", "mse", "nll")


class Cancelled(Exception):
    pass


def set_stage_rates(preset: Preset, s: int, z_opt, G_opt) -> int:
    """Stage ``s``'s learning rates (groups >= ft get 0; DGP.md section 4) -> ft."""
    ft = preset.ft_num[s]
    for i, g in enumerate(G_opt.param_groups):
        g["lr"] = preset.G_lrs[s] * (preset.lr_ratio[s] ** i) if i < ft else 0.0
    for g in z_opt.param_groups:
        g["lr"] = preset.z_lrs[s]
    return ft


def graph_mode(cuda_graphs, dev) -> str | None:
    """"cuda", "emulate" or None (plain iterations) for a fast run's ``cuda_graphs`` setting:
    None = ``CUDA_GRAPHS``, "emulate" runs the graph bookkeeping eagerly on any device (tests)."""
    if cuda_graphs == "emulate":
        return "emulate"
    on = CUDA_GRAPHS if cuda_graphs is None else bool(cuda_graphs)
    return "cuda" if on and dev.type == "cuda" else None


_D_LOCK = threading.Lock()
_D_USERS: dict[int, list] = {}  # id(D) -> [runs using it, requires_grad flags before the first]


@contextlib.contextmanager
def frozen_discriminator(D, freeze_sn: bool = True):
    """D stays fixed during DGP: only the input gradient is ever needed, and its normalised
    weights never change.  Several runs may share one D (photos restored at once in threads,
    each with its own copy of G): the first run in freezes it, the last one out restores it."""
    with _D_LOCK:
        entry = _D_USERS.get(id(D))
        if entry is None:
            entry = _D_USERS[id(D)] = [0, [q.requires_grad for q in D.parameters()]]
            D.requires_grad_(False)
            if freeze_sn:  # (a reference-work run joining a frozen D reads the same values)
                freeze_sn_all(D)
        entry[0] += 1
    try:
        yield D
    finally:
        with _D_LOCK:
            entry[0] -= 1
            if entry[0] == 0:
                del _D_USERS[id(D)]
                unfreeze_sn_all(D)
                for q, r in zip(D.parameters(), entry[1]):
                    q.requires_grad_(r)


@dataclass
class Progress:
    stage: int              # 0-based stage index
    n_stages: int
    iteration: int          # 1-based within the stage
    stage_iterations: int
    step: int               # 1-based over the whole run
    total_steps: int
    ft_num: int             # groups being tuned (0 = linear, i = block i-1)
    losses: dict            # floats: total, ftr, mse, nll
    preview: torch.Tensor | None = None   # 1x3xHxW raw G output on the CPU, every N iterations
    elapsed: float = 0.0
    phase: str = "optimise"  # "search" during the candidate search


@dataclass
class ReconstructionResult:
    image: torch.Tensor            # raw G output, 1x3xHxW in [-1, 1]
    final: torch.Tensor            # task post-processing applied
    z: torch.Tensor                # 1 x dim_z
    class_id: int
    class_embedding: torch.Tensor  # 1 x shared_dim, the c used
    generator_state: dict          # tuned G's state dict (CPU tensors)
    target: torch.Tensor           # x_hat
    observed: torch.Tensor         # what the user gave, as a tensor
    preset: Preset
    task: str
    seed: int
    norm_blocks: tuple = ()        # blocks switched to instance norm (needed to re-render)
    history: list = field(default_factory=list)
    cancelled: bool = False
    stopped_early: bool = False
    stages_done: int = 0
    steps_done: int = 0
    search_loss: float | None = None
    timings: dict = field(default_factory=dict)
    exact: bool = False
    class_searched: bool = False   # the class was picked by the search, not given (the editor says so)


class Reconstructor:
    def __init__(self, gan: BigGAN, preset: Preset, degradation: Degradation | None = None,
                 exact: bool = False, preview_every: int = 20, search_batch: int | None = None,
                 precision: str | None = None, sync_every: int | None = None, reference_work: bool = False,
                 cuda_graphs: bool | str | None = None, compile_backend: str | None = None):
        """``precision`` (fast path only): None = per device (runtime.fast_dtype), "fp32" or "bf16".
        ``sync_every``: fast path, how often losses are read back (None: 1 on CPU, 10 on CUDA);
        progress still gets every iteration's losses, in bursts, and every preview on time.
        ``reference_work`` (with ``exact``; for the benchmark): also redo what the authors' release
        redoes every iteration although its value cannot change -- D(x_hat) and D's spectral
        norms -- so the result is the exact path's, bit for bit, in the release's time.
        ``search_batch``: candidates per batch in the z search; None = by resolution
        (``SEARCH_PIXELS``), so that the search never needs more memory than the optimisation:
        on an H200, BigGAN-256's fast run peaked at 5.8 GiB with batches of 50 and 3.6 GiB with 10.
        ``cuda_graphs`` (fast path on CUDA; ignored elsewhere): None = ``CUDA_GRAPHS``; "emulate"
        runs the graph bookkeeping eagerly on any device (tests).
        ``compile_backend`` (fast path): None = ``runtime.compile_backend()`` (off unless
        DGP_STUDIO_COMPILE is set), "inductor" or "aot_eager" (compiled.py)."""
        if reference_work and not exact:
            raise ValueError("reference_work is a variant of the exact path: pass exact=True")
        require_discriminator(gan)
        if precision is not None and precision not in runtime._DTYPES:
            raise ValueError(f"precision must be fp32 or bf16, not {precision!r}")
        self.gan = gan
        self.preset = preset.clipped(gan.G.n_groups, gan.D.n_features)
        self.degradation = degradation if degradation is not None else Identity()
        self.exact = exact
        self.preview_every = preview_every
        res = gan.resolution
        self.search_batch = int(search_batch) if search_batch else max(1, min(50, SEARCH_PIXELS // (res * res)))
        self.precision = precision
        self.sync_every = sync_every
        self.reference_work = reference_work
        self.cuda_graphs = cuda_graphs
        self.compile_backend = compile_backend
        self._cancel = threading.Event()
        self.optimise_calls = 0

    def cancel(self) -> None:
        """Thread-safe; the run stops before its next iteration and returns its last state."""
        self._cancel.set()

    # -- helpers -------------------------------------------------------------------------
    def _target(self, obs):
        res = self.gan.resolution
        deg = self.degradation
        with torch.no_grad():
            if isinstance(deg, (SuperResolution, Hybrid)):
                return deg.target(obs, res)
            if obs.shape[-1] != res or obs.shape[-2] != res:
                raise ValueError(f"image is {obs.shape[-1]}x{obs.shape[-2]}, the model works at {res}x{res}: "
                                 "crop/resize it first (dgp_studio.core.imaging.fit_square)")
            return deg.target(obs)

    def _dtype(self, dev, search: bool = False) -> torch.dtype:
        if self.precision is not None:
            return runtime._DTYPES[self.precision]
        return runtime.search_dtype(dev) if search else runtime.fast_dtype(dev)

    @torch.no_grad()
    def _score(self, zs, ys, target_feats, k, dev, on_batch=None, stoppable=True) -> torch.Tensor:
        """The reference scoring: fp32 modules, in batches of ``search_batch``."""
        G, D, n = self.G, self.gan.D, zs.shape[0]
        losses = []
        for a in range(0, n, self.search_batch):
            if stoppable and self._cancel.is_set():
                break
            z = zs[a:a + self.search_batch].to(dev)
            y = ys[a:a + self.search_batch].to(dev)
            feats = D(self.degradation(G(z, G.shared(y))))[1]
            tf = [t.expand_as(f) for t, f in zip(target_feats, feats)]
            losses.append(feature_l1_per_sample(feats, tf, k).cpu())
            if on_batch:
                on_batch(min(a + self.search_batch, n), n)
        return torch.cat(losses) if losses else torch.zeros(0)

    @torch.no_grad()
    def search(self, target, class_id, seed: int, loss: DGPLoss, progress=None):
        """Best of N candidates z ~ N(0, sigma^2) (random class per candidate if unknown).

        Fast path: all N ranked in the search dtype (bf16 where it pays), then the best
        RESCORE_TOP re-scored with the fp32 modules; the reported loss is the fp32 one."""
        p, G, D = self.preset, self.G, self.gan.D
        dev = target.device
        gen = torch.Generator().manual_seed(seed)
        n, dim = p.select_num, self.gan.config.dim_z
        if n == 0:
            return torch.zeros(1, dim, device=dev), (class_id if class_id is not None else 0), None
        zs = torch.randn(n, dim, generator=gen) * p.sample_std
        if class_id is None:
            ys = torch.randint(0, self.gan.config.n_classes, (n,), generator=gen)
        else:
            ys = torch.full((n,), int(class_id), dtype=torch.long)
        k = min(SEARCH_FEATURES, D.n_features)

        def on_batch(done, total):
            if progress:
                progress(Progress(0, p.n_stages, 0, 0, 0, p.total_iterations, 0, {}, phase="search",
                                  elapsed=done / total))

        if self.exact or n == 1:
            losses = self._score(zs, ys, loss.target_feats, k, dev, on_batch)
            if len(losses) == 0:
                raise Cancelled()
            best = int(torch.argmin(losses))
            return zs[best:best + 1].to(dev), int(ys[best]), float(losses[best])
        rough = rank_candidates(G, D, self.degradation, target, zs, ys, k, self.search_batch,
                                self._dtype(dev, search=True), runtime.channels_last(dev),
                                should_stop=self._cancel.is_set, on_batch=on_batch)
        if len(rough) == 0:
            raise Cancelled()
        top = torch.topk(rough, min(RESCORE_TOP, len(rough)), largest=False).indices
        fine = self._score(zs[top], ys[top], loss.target_feats, k, dev, stoppable=False)  # one short batch
        j = int(torch.argmin(fine))
        best = int(top[j])
        return zs[best:best + 1].to(dev), int(ys[best]), float(fine[j])

    def _set_stage(self, s, z_opt, G_opt, fast=None):
        ft = set_stage_rates(self.preset, s, z_opt, G_opt)
        if fast is not None:
            for i, params in enumerate(self._opt_groups):
                for q in params:
                    q.requires_grad_(i < ft)
            fast.set_trainable(ft)  # frozen layers' W/sigma computed once for this stage
        return ft

    def _graph_mode(self, dev) -> str | None:
        """"cuda", "emulate" or None (plain iterations)."""
        return None if self.exact else graph_mode(self.cuda_graphs, dev)

    @staticmethod
    def _record(graph_step, zero_grad, graphs, side, timings, device):
        """A StepGraph of this stage's iteration, or None (reason in timings) if recording fails."""
        t = time.perf_counter()
        rec = StepGraph(graph_step, zero_grad, emulate=graphs == "emulate", stream=side, device=device)
        try:
            rec.capture()
        except Exception as e:  # noqa: BLE001 - any failure: the plain iteration stays correct
            zero_grad()
            if graphs == "cuda":
                with contextlib.suppress(Exception):
                    torch.cuda.synchronize()
            timings["cuda_graphs"] = f"off after recording failed: {type(e).__name__}: {e}"
            return None
        timings["record_s"] = timings.get("record_s", 0.0) + time.perf_counter() - t
        return rec

    @classmethod
    def record_when_due(cls, graphs, recorded, it, n_it, step, zero_grad, side, timings, device):
        """At a stage's iteration GRAPH_WARMUP + 1 (when more follow), record ``step``:
        -> (recording or None, graph mode: None once a recording failed)."""
        if graphs and recorded is None and it == GRAPH_WARMUP + 1 and n_it - it >= 1:
            recorded = cls._record(step, zero_grad, graphs, side, timings, device)
            if recorded is None:
                graphs = None  # recording failed (reason in timings): plain iterations
        return recorded, graphs

    # -- the run -------------------------------------------------------------------------
    def run(self, image, class_id: int | None = None, z_init=None, seed: int = 0, progress=None,
            should_stop=None, device=None) -> ReconstructionResult:
        self.optimise_calls += 1
        self._cancel.clear()
        t0 = time.perf_counter()
        gan = self.gan
        dev = device or gan.device
        obs = to_tensor(image, dev)
        self.degradation.to(dev)
        target = self._target(obs)
        if not torch.isfinite(target).all():
            raise ValueError("the image has NaN/inf pixels outside the masked area")

        stop = (lambda: self._cancel.is_set() or bool(should_stop and should_stop()))
        G = copy.deepcopy(gan.G).to(dev).eval()
        self.G = G
        D = gan.D
        torch.manual_seed(seed)
        # one run at a time per GPU: runs recording graphs side by side break each other
        # (devicelocks.py); "emulate" takes it too, so the tests see the CUDA path's order
        exclusive = dev.type == "cuda" or self._graph_mode(dev) == "emulate"
        try:
            with (run_lock(dev) if exclusive else contextlib.nullcontext()), \
                    frozen_discriminator(D, freeze_sn=not self.reference_work), \
                    (runtime.fast_math(dev) if not self.exact else contextlib.nullcontext()):
                return self._run(G, D, obs, target, class_id, z_init, seed, progress, stop, t0)
        finally:
            unfreeze_sn_all(G)
            self.G = None

    def _run(self, G, D, obs, target, class_id, z_init, seed, progress, stop, t0):
        p, dev = self.preset, target.device
        # the exact objective; its fp32 target features also serve the search
        loss_fn = DGPLoss(D, target, recompute_target=self.reference_work)
        timings = {}
        search_loss = None
        class_searched = class_id is None and z_init is None
        G.requires_grad_(False)
        freeze_sn_all(G)
        if z_init is not None:
            z0 = torch.as_tensor(z_init, dtype=torch.float32, device=dev).reshape(1, -1)
            if z0.shape[1] != self.gan.config.dim_z:
                raise ValueError(f"z_init has {z0.shape[1]} values, the model needs {self.gan.config.dim_z}")
            if class_id is None:
                raise ValueError("class_id is required together with z_init")
        else:
            try:
                z0, class_id, search_loss = self.search(target, class_id, seed, loss_fn, progress)
            except Cancelled:
                z0 = torch.zeros(1, self.gan.config.dim_z, device=dev)
                class_id = 0 if class_id is None else class_id
        unfreeze_sn_all(G)
        timings["search_s"] = time.perf_counter() - t0
        y = torch.tensor([int(class_id)], device=dev)

        z = z0.clone().requires_grad_(True)
        self._groups = G.group_params(p.update_embed)
        adam = dict(betas=(0.0, 0.999), eps=1e-8)
        fast = None
        if self.exact:
            G.requires_grad_(True)
            G.output_layer.requires_grad_(True)  # as the reference: gradients, but never stepped
        else:
            fast = FastObjective(G, D, target, self.degradation, self._dtype(dev), runtime.channels_last(dev))
            backend = self.compile_backend or runtime.compile_backend()
            if backend == "inductor" and dev.type != "cuda":
                backend = None  # CPU: 457 s to compile one stage for x1.10 (compiled.py)
            if backend:
                loss_call = compiled_objective(fast, backend)
                timings["compile"] = backend  # each stage's first iteration includes its compilation
            else:
                loss_call = fast
            if dev.type in ("cpu", "cuda"):
                adam["fused"] = True  # one kernel for every tensor instead of ~6 per tensor
        graphs = self._graph_mode(dev)
        if graphs == "cuda":
            adam["capturable"] = True  # step counts on the device, so a recorded step can advance them
        timings["cuda_graphs"] = graphs or "off"
        # the fast path optimises layout copies of some weights (fastpath.FastGenerator)
        self._opt_groups = [fast.G.optimised(g) for g in self._groups] if fast is not None else self._groups
        z_opt = torch.optim.Adam([z], lr=p.z_lrs[0], **adam)
        G_opt = torch.optim.Adam([{"params": g} for g in self._opt_groups], lr=0.0, **adam)

        sync_every = 1  # CPU: reading a loss costs nothing, so every iteration reports at once
        if fast is not None and not (p.stop_mse or p.stop_ftr):  # early stops need every value
            if self.sync_every is not None:
                sync_every = max(1, int(self.sync_every))
            elif dev.type == "cuda":
                sync_every = CUDA_SYNC_EVERY
        history, step, total = [], 0, p.total_iterations

        def zero_grad():
            z_opt.zero_grad(set_to_none=True)
            G_opt.zero_grad(set_to_none=True)

        pending = []  # iterations whose losses are still on the device
        cancelled = stopped = False
        norm_blocks: set[int] = set()
        stages_done = 0
        stage_s, stage_its = [], []

        def flush():
            """Losses of the pending iterations to the host (one sync), then their progress calls."""
            nonlocal stopped
            if not pending:
                return
            keys = list(pending[0][5])
            vals_all = torch.stack([torch.stack([pr[5][key].detach().float() for key in keys])
                                    for pr in pending]).cpu().tolist()
            for (s_, it_, n_, step_, ft_, _, prev), row in zip(pending, vals_all):
                vals = dict(zip(keys, row))
                history.append({"stage": s_, "iteration": it_, **vals})
                if progress:
                    progress(Progress(s_, p.n_stages, it_, n_, step_, total, ft_, vals,
                                      prev.cpu() if prev is not None else None, time.perf_counter() - t0))
                wD_ = float(p.w_D_loss[s_])
                if (p.stop_mse and vals["mse"] < p.stop_mse) or (p.stop_ftr and wD_ and vals["ftr"] < p.stop_ftr):
                    stopped = True
            pending.clear()

        side = None
        if graphs == "cuda":  # ordinary and recorded iterations alike run on a side stream
            side = torch.cuda.Stream(dev)
            side.wait_stream(torch.cuda.current_stream(dev))
        preview_clone = graphs is not None or dev.type != "cpu"  # a preview must outlive the next step
        t_opt = time.perf_counter()
        with (torch.cuda.stream(side) if side is not None else contextlib.nullcontext()):
            for s in range(p.n_stages):
                if stop():
                    cancelled = True
                    break
                t_stage = time.perf_counter()
                ft = self._set_stage(s, z_opt, G_opt, fast)
                k, wD, wM = p.ftr_num[s], float(p.w_D_loss[s]), float(p.w_mse[s])
                if p.use_in[s]:
                    blocks = [i for i in range(ft - 1)]
                    with torch.no_grad():
                        G.switch_to_instance_norm(z, G.shared(y), blocks)
                    norm_blocks.update(blocks)
                fixed_c = None if (p.update_embed or self.exact) else G.shared(y).detach()
                n_it = int(p.iterations[s])
                done_its = 0
                recorded = None

                def iterate(k=k, wD=wD, wM=wM, fixed_c=fixed_c):
                    """One iteration after zeroed gradients: loss, backward, both steps -> (x, parts)."""
                    c = fixed_c if fixed_c is not None else G.shared(y)
                    if fast is not None:
                        x_, total_loss, parts_ = loss_call(z, c, k, wD, wM, p.w_nll)
                    else:
                        x_ = G(z, c)
                        total_loss, parts_ = loss_fn(self.degradation(x_), z, k, wD, wM, p.w_nll)
                    total_loss.backward()
                    z_opt.step()
                    G_opt.step()
                    return x_, parts_

                def recorded_step():  # what a recording holds: the losses stacked in LOSS_KEYS order
                    x_, parts_ = iterate()
                    return x_, torch.stack([parts_[key] for key in LOSS_KEYS])
                for it in range(1, n_it + 1):
                    if stop():
                        cancelled = True
                        break
                    recorded, graphs = self.record_when_due(graphs, recorded, it, n_it, recorded_step, zero_grad,
                                                            side, timings, dev)
                    if recorded is not None:
                        x, losses = recorded.replay()
                        parts = dict(zip(LOSS_KEYS, losses.clone().unbind()))
                    else:
                        zero_grad()
                        x, parts = iterate()
                    step += 1
                    done_its += 1
                    preview = None
                    if progress and self.preview_every and (it % self.preview_every == 0 or it == n_it):
                        preview = x.detach().clone() if preview_clone else x.detach()
                    pending.append((s, it, n_it, step, ft, parts, preview))
                    if len(pending) >= sync_every or preview is not None or it == n_it:
                        flush()
                    if stopped:
                        break
                else:
                    stages_done = s + 1
                flush()
                if recorded is not None:
                    recorded.release()
                stage_s.append(time.perf_counter() - t_stage)
                stage_its.append(done_its)
                if cancelled or stopped:
                    if stopped:
                        stages_done = s + 1
                    break
        if side is not None:
            torch.cuda.current_stream(dev).wait_stream(side)
        if fast is not None:
            fast.G.write_back()
        timings["optimise_s"] = time.perf_counter() - t_opt
        timings["ms_per_iter"] = 1000 * timings["optimise_s"] / max(step, 1)
        timings["stage_s"] = stage_s
        timings["stage_iterations"] = stage_its

        G.requires_grad_(False)
        unfreeze_sn_all(G)
        with torch.no_grad():
            c = G.shared(y)
            img = G(z.detach(), c)  # the ordinary fp32 generator in both modes
            final = self.degradation.postprocess(img, obs)
        timings["total_s"] = time.perf_counter() - t0
        state = {k_: v.detach().cpu().clone() for k_, v in G.state_dict().items()}
        return ReconstructionResult(
            image=img.cpu(), final=final.cpu(), z=z.detach().cpu(), class_id=int(class_id),
            class_embedding=c.detach().cpu(), generator_state=state, target=target.cpu(),
            observed=obs.cpu(), preset=p, task=self.degradation.name, seed=seed,
            norm_blocks=tuple(sorted(norm_blocks)), history=history, cancelled=cancelled,
            stopped_early=stopped, stages_done=stages_done, steps_done=step, search_loss=search_loss,
            timings=timings, exact=self.exact, class_searched=class_searched)
