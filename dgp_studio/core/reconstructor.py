"""Progressive DGP reconstruction (DGP.md sections 4 and 5).

``Reconstructor.run`` is one loop that reports through a ``progress`` callback
and checks a cancel flag between iterations; the GUI worker and the CLI are
thin adapters over it.

``exact=True`` follows the reference's numerics: fp32, every group receives
gradients (so Adam's moments of zero-rate groups keep accumulating).
``exact=False`` (default) skips work that cannot change the result's intent:
no gradients for frozen groups, frozen layers' spectral norms computed once
per stage, losses read back to the host only when reported.
"""
from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field

import torch

from .biggan import BigGAN, freeze_sn_all, unfreeze_sn_all
from .degradations import Degradation, Identity, SuperResolution, Hybrid
from .imaging import to_tensor
from .losses import DGPLoss, feature_l1_per_sample
from .presets import Preset
from .spectral import sn_layers

SEARCH_FEATURES = 3  # candidates are ranked by the last 3 D features (DGP.md section 5)


class Cancelled(Exception):
    pass


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


class Reconstructor:
    def __init__(self, gan: BigGAN, preset: Preset, degradation: Degradation | None = None,
                 exact: bool = False, preview_every: int = 20, search_batch: int = 50):
        if gan.D is None:
            raise ValueError("DGP needs the discriminator: load the model with its D checkpoint")
        self.gan = gan
        self.preset = preset.clipped(gan.G.n_groups, gan.D.n_features)
        self.degradation = degradation if degradation is not None else Identity()
        self.exact = exact
        self.preview_every = preview_every
        self.search_batch = search_batch
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

    @torch.no_grad()
    def search(self, target, class_id, seed: int, loss: DGPLoss, progress=None):
        """Best of N candidates z ~ N(0, sigma^2) (random class per candidate if unknown)."""
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
        losses = []
        for a in range(0, n, self.search_batch):
            if self._cancel.is_set():
                break
            z = zs[a:a + self.search_batch].to(dev)
            y = ys[a:a + self.search_batch].to(dev)
            x = self.degradation(G(z, G.shared(y)))
            feats = D(x)[1]
            tf = [t.expand_as(f) for t, f in zip(loss.target_feats, feats)]
            losses.append(feature_l1_per_sample(feats, tf, k).cpu())
            if progress:
                progress(Progress(0, p.n_stages, 0, 0, 0, p.total_iterations, 0, {}, phase="search",
                                  elapsed=min(a + self.search_batch, n) / n))
        if not losses:
            raise Cancelled()
        losses = torch.cat(losses)
        best = int(torch.argmin(losses))
        return zs[best:best + 1].to(dev), int(ys[best]), float(losses[best])

    def _set_stage(self, s, z_opt, G_opt, n_groups):
        p = self.preset
        ft = p.ft_num[s]
        for i, g in enumerate(G_opt.param_groups):
            g["lr"] = p.G_lrs[s] * (p.lr_ratio[s] ** i) if i < ft else 0.0
        for g in z_opt.param_groups:
            g["lr"] = p.z_lrs[s]
        if not self.exact:
            groups = self.G.group_modules()
            for i, params in enumerate(self._groups):
                for q in params:
                    q.requires_grad_(i < ft)
            # frozen layers have constant normalised weights: compute W/sigma once per stage
            for i, m in enumerate(groups):
                for layer in sn_layers(m):
                    layer.unfreeze_sn() if i < ft else layer.freeze_sn()
        return ft

    # -- the run -------------------------------------------------------------------------
    def run(self, image, class_id: int | None = None, z_init=None, seed: int = 0, progress=None,
            should_stop=None, device=None) -> ReconstructionResult:
        self.optimise_calls += 1
        self._cancel.clear()
        t0 = time.perf_counter()
        gan, p = self.gan, self.preset
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
        freeze_sn_all(D)  # D is frozen: its normalised weights never change during a run
        torch.manual_seed(seed)
        try:
            return self._run(G, D, obs, target, class_id, z_init, seed, progress, stop, t0)
        finally:
            unfreeze_sn_all(D)
            unfreeze_sn_all(G)
            self.G = None

    def _run(self, G, D, obs, target, class_id, z_init, seed, progress, stop, t0):
        p, dev = self.preset, target.device
        loss_fn = DGPLoss(D, target)
        timings = {}
        search_loss = None
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
        if self.exact:
            G.requires_grad_(True)
            G.output_layer.requires_grad_(True)  # as the reference: gradients, but never stepped
        z_opt = torch.optim.Adam([z], lr=p.z_lrs[0], betas=(0.0, 0.999), eps=1e-8)
        G_opt = torch.optim.Adam([{"params": g} for g in self._groups], lr=0.0, betas=(0.0, 0.999), eps=1e-8)
        if not self.exact:
            G.output_layer.requires_grad_(False)
            if not p.update_embed:
                G.shared.requires_grad_(False)

        history, step, total = [], 0, p.total_iterations
        cancelled = stopped = False
        norm_blocks: set[int] = set()
        stages_done = 0
        t_opt = time.perf_counter()
        for s in range(p.n_stages):
            if stop():
                cancelled = True
                break
            ft = self._set_stage(s, z_opt, G_opt, G.n_groups)
            k, wD, wM = p.ftr_num[s], float(p.w_D_loss[s]), float(p.w_mse[s])
            if p.use_in[s]:
                blocks = [i for i in range(ft - 1)]
                with torch.no_grad():
                    G.switch_to_instance_norm(z, G.shared(y), blocks)
                norm_blocks.update(blocks)
            fixed_c = None if (p.update_embed or self.exact) else G.shared(y).detach()
            n_it = int(p.iterations[s])
            for it in range(1, n_it + 1):
                if stop():
                    cancelled = True
                    break
                c = fixed_c if fixed_c is not None else G.shared(y)
                x = G(z, c)
                total_loss, parts = loss_fn(self.degradation(x), z, k, wD, wM, p.w_nll)
                z_opt.zero_grad(set_to_none=True)
                G_opt.zero_grad(set_to_none=True)
                total_loss.backward()
                z_opt.step()
                G_opt.step()
                step += 1
                vals = {key: float(v.detach()) for key, v in parts.items()}
                history.append({"stage": s, "iteration": it, **vals})
                preview = None
                if progress and self.preview_every and (it % self.preview_every == 0 or it == n_it):
                    preview = x.detach().cpu()
                if progress:
                    progress(Progress(s, p.n_stages, it, n_it, step, total, ft, vals, preview,
                                      time.perf_counter() - t0))
                if (p.stop_mse and vals["mse"] < p.stop_mse) or (p.stop_ftr and wD and vals["ftr"] < p.stop_ftr):
                    stopped = True
                    break
            else:
                stages_done = s + 1
            if cancelled or stopped:
                if stopped:
                    stages_done = s + 1
                break
        timings["optimise_s"] = time.perf_counter() - t_opt
        timings["ms_per_iter"] = 1000 * timings["optimise_s"] / max(step, 1)

        G.requires_grad_(False)
        unfreeze_sn_all(G)
        with torch.no_grad():
            c = G.shared(y)
            img = G(z.detach(), c)
            final = self.degradation.postprocess(img, obs)
        timings["total_s"] = time.perf_counter() - t0
        state = {k_: v.detach().cpu().clone() for k_, v in G.state_dict().items()}
        return ReconstructionResult(
            image=img.cpu(), final=final.cpu(), z=z.detach().cpu(), class_id=int(class_id),
            class_embedding=c.detach().cpu(), generator_state=state, target=target.cpu(),
            observed=obs.cpu(), preset=p, task=self.degradation.name, seed=seed,
            norm_blocks=tuple(sorted(norm_blocks)), history=history, cancelled=cancelled,
            stopped_early=stopped, stages_done=stages_done, steps_done=step, search_loss=search_loss,
            timings=timings, exact=self.exact)
