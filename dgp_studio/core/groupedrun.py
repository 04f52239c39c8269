"""``GroupReconstructor``: several photos through one DGP schedule at once (grouped.py).

The per-image parts are the ordinary engine's: each photo's target, candidate search and
final rendering come from a ``Reconstructor`` of its own, so a photo's result is what a
single fast run gives it (up to rounding; tests/test_grouped.py).  Only the optimisation loop
is shared: one grouped forward/backward and one Adam step per iteration for the whole group,
on CUDA recorded once per stage and replayed (stepgraph.py), as the single fast path does.

Every photo of a group runs the same preset on the same model; each has its own degradation
(an inpainting mask each), class and seed.  Presets that stop early per image (defence) or
switch blocks to instance norm are refused: run those one at a time.
"""
from __future__ import annotations

import contextlib
import copy
import threading
import time
from dataclasses import dataclass

import torch

from . import runtime
from .biggan import BigGAN, freeze_sn_all, unfreeze_sn_all
from .checkpoint import require_discriminator
from .degradations import Degradation, Identity
from .devicelocks import run_lock
from .grouped import GroupedObjective
from .imaging import to_tensor
from .losses import DGPLoss
from .presets import Preset
from .reconstructor import (CUDA_SYNC_EVERY, LOSS_KEYS, Cancelled, Progress, ReconstructionResult,
                            Reconstructor, frozen_discriminator, graph_mode, set_stage_rates)


@dataclass
class GroupItem:
    image: object                       # what Reconstructor.run takes (tensor, PIL image, array)
    degradation: Degradation | None = None
    class_id: int | None = None         # None: found by the candidate search
    seed: int = 0


def group_unsupported(preset: Preset) -> str | None:
    """Why ``preset`` cannot run as a group (None: it can)."""
    if preset.stop_mse or preset.stop_ftr:
        return f"preset '{preset.name}' stops each image early on its own loss: run its images one at a time"
    if any(preset.use_in):
        return f"preset '{preset.name}' switches blocks to instance norm: run its images one at a time"
    return None


class GroupReconstructor:
    def __init__(self, gan: BigGAN, preset: Preset, precision: str | None = None,
                 cuda_graphs: bool | str | None = None, sync_every: int | None = None):
        """``precision``: None = per device (runtime.fast_dtype), "fp32" or "bf16".
        ``cuda_graphs``: None = as the single fast path (on CUDA), "emulate" for the tests."""
        require_discriminator(gan)
        why = group_unsupported(preset)
        if why:
            raise ValueError(why)
        self.gan = gan
        self.preset = preset.clipped(gan.G.n_groups, gan.D.n_features)
        self.precision = precision
        self.cuda_graphs = cuda_graphs
        self.sync_every = sync_every
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Thread-safe; the group stops before its next iteration and returns its last state."""
        self._cancel.set()

    def run(self, items: list[GroupItem], progress=None, should_stop=None, device=None) -> list[ReconstructionResult]:
        """One result per item, in order.  ``progress(Progress)``: losses are the group's means;
        during the search ``phase`` is "search" and ``elapsed`` the fraction of images searched."""
        if not items:
            return []
        self._cancel.clear()
        t0 = time.perf_counter()
        gan, p = self.gan, self.preset
        dev = torch.device(device) if device is not None else gan.device
        stop = (lambda: self._cancel.is_set() or bool(should_stop and should_stop()))
        recs, obs, targets = [], [], []
        for it in items:
            deg = (it.degradation if it.degradation is not None else Identity()).to(dev)
            rec = Reconstructor(gan, p, deg, exact=False, preview_every=0, precision=self.precision)
            rec._cancel = self._cancel  # one cancel flag for the group's searches too
            o = to_tensor(it.image, dev)
            t = rec._target(o)
            if not torch.isfinite(t).all():
                raise ValueError("an image has NaN/inf pixels outside the masked area")
            recs.append(rec)
            obs.append(o)
            targets.append(t)
        if len({tuple(t.shape) for t in targets}) != 1:
            raise ValueError("the images of a group must give targets of one size (same model, same task)")
        G = copy.deepcopy(gan.G).to(dev).eval()
        D = gan.D
        torch.manual_seed(items[0].seed)
        try:
            with run_lock(dev) if dev.type == "cuda" else contextlib.nullcontext(), \
                    frozen_discriminator(D), runtime.fast_math(dev):
                return self._run(G, D, items, recs, obs, targets, progress, stop, t0)
        finally:
            unfreeze_sn_all(G)

    def _search(self, G, D, items, recs, targets, progress, t0):
        zs, classes, losses, searched = [], [], [], []
        G.requires_grad_(False)
        freeze_sn_all(G)
        n = len(items)
        for i, (it, rec, t) in enumerate(zip(items, recs, targets)):
            rec.G = G
            try:
                z0, cls, loss = rec.search(t, it.class_id, it.seed, DGPLoss(D, t))
            except Cancelled:
                z0 = torch.zeros(1, self.gan.config.dim_z, device=t.device)
                cls, loss = (0 if it.class_id is None else it.class_id), None
            finally:
                rec.G = None
            zs.append(z0)
            classes.append(int(cls))
            losses.append(loss)
            searched.append(it.class_id is None)
            if progress:
                progress(Progress(0, self.preset.n_stages, 0, 0, 0, self.preset.total_iterations, 0, {},
                                  phase="search", elapsed=(i + 1) / n))
        unfreeze_sn_all(G)
        return torch.cat(zs), classes, losses, searched

    def _run(self, G, D, items, recs, obs, targets, progress, stop, t0):
        p, n = self.preset, len(items)
        dev = targets[0].device
        z0, classes, search_losses, searched = self._search(G, D, items, recs, targets, progress, t0)
        search_s = time.perf_counter() - t0
        y = torch.tensor(classes, device=dev)
        z = z0.clone().requires_grad_(True)
        obj = GroupedObjective(G, D, torch.cat(targets), [r.degradation for r in recs],
                               recs[0]._dtype(dev), p.update_embed)
        adam = dict(betas=(0.0, 0.999), eps=1e-8, fused=dev.type in ("cpu", "cuda"))
        graphs = graph_mode(self.cuda_graphs, dev)
        if graphs == "cuda":
            adam["capturable"] = True
        timings = {"search_s": search_s, "group_size": n, "cuda_graphs": graphs or "off"}
        z_opt = torch.optim.Adam([z], lr=p.z_lrs[0], **adam)
        G_opt = torch.optim.Adam([{"params": g} for g in obj.G.groups], lr=0.0, **adam)
        sync_every = self.sync_every or (CUDA_SYNC_EVERY if dev.type == "cuda" else 1)

        def zero_grad():
            z_opt.zero_grad(set_to_none=True)
            G_opt.zero_grad(set_to_none=True)

        histories = [[] for _ in range(n)]
        pending = []  # (stage, iteration, n_it, step, ft, stacked losses (4, N) on the device)

        def flush():
            if not pending:
                return
            rows = torch.stack([pr[5] for pr in pending]).float().cpu().tolist()  # (P, 4, N)
            for (s_, it_, n_, step_, ft_, _), vals in zip(pending, rows):
                for i in range(n):
                    histories[i].append({"stage": s_, "iteration": it_,
                                         **{key: vals[j][i] for j, key in enumerate(LOSS_KEYS)}})
                if progress:
                    means = {key: sum(vals[j]) / n for j, key in enumerate(LOSS_KEYS)}
                    progress(Progress(s_, p.n_stages, it_, n_, step_, p.total_iterations, ft_, means,
                                      None, time.perf_counter() - t0))
            pending.clear()

        side = None
        if graphs == "cuda":
            side = torch.cuda.Stream(dev)
            side.wait_stream(torch.cuda.current_stream(dev))
        step, stages_done, cancelled = 0, 0, False
        stage_s, stage_its = [], []
        t_opt = time.perf_counter()
        with torch.cuda.stream(side) if side is not None else contextlib.nullcontext():
            for s in range(p.n_stages):
                if stop():
                    cancelled = True
                    break
                t_stage = time.perf_counter()
                ft = set_stage_rates(p, s, z_opt, G_opt)
                obj.set_trainable(ft)
                k, wD, wM = p.ftr_num[s], float(p.w_D_loss[s]), float(p.w_mse[s])
                fixed_c = None if p.update_embed else obj.G.embed(y).detach()

                def iterate(k=k, wD=wD, wM=wM, fixed_c=fixed_c):
                    c = fixed_c if fixed_c is not None else obj.G.embed(y)
                    x_, total, parts_ = obj(z, c, k, wD, wM, p.w_nll)
                    total.backward()
                    z_opt.step()
                    G_opt.step()
                    return x_, torch.stack([parts_[key] for key in LOSS_KEYS])

                n_it, done, recorded = int(p.iterations[s]), 0, None
                for it in range(1, n_it + 1):
                    if stop():
                        cancelled = True
                        break
                    recorded, graphs = Reconstructor.record_when_due(graphs, recorded, it, n_it, iterate, zero_grad,
                                                                     side, timings, dev)
                    if recorded is not None:
                        _, losses = recorded.replay()
                        losses = losses.clone()
                    else:
                        zero_grad()
                        _, losses = iterate()
                        losses = losses.detach()
                    step += 1
                    done += 1
                    pending.append((s, it, n_it, step, ft, losses))
                    if len(pending) >= sync_every or it == n_it:
                        flush()
                else:
                    stages_done = s + 1
                flush()
                if recorded is not None:
                    recorded.release()
                stage_s.append(time.perf_counter() - t_stage)
                stage_its.append(done)
                if cancelled:
                    break
        if side is not None:
            torch.cuda.current_stream(dev).wait_stream(side)
        timings["optimise_s"] = time.perf_counter() - t_opt
        timings["ms_per_iter"] = 1000 * timings["optimise_s"] / max(step, 1)
        timings["stage_s"], timings["stage_iterations"] = stage_s, stage_its
        timings["total_s"] = time.perf_counter() - t0

        results = []
        G.requires_grad_(False)
        for i, (it, rec) in enumerate(zip(items, recs)):
            obj.G.copy_into(G, i)  # G (the run's own copy) takes each image's weights in turn
            with torch.no_grad():
                c = G.shared(y[i:i + 1])
                zi = z[i:i + 1].detach()
                img = G(zi, c)  # the ordinary fp32 generator, as a single run renders
                final = rec.degradation.postprocess(img, obs[i])
            state = {k_: v.detach().cpu().clone() for k_, v in G.state_dict().items()}
            results.append(ReconstructionResult(
                image=img.cpu(), final=final.cpu(), z=zi.cpu(), class_id=classes[i],
                class_embedding=c.cpu(), generator_state=state, target=targets[i].cpu(),
                observed=obs[i].cpu(), preset=p, task=rec.degradation.name, seed=it.seed,
                history=histories[i], cancelled=cancelled, stages_done=stages_done, steps_done=step,
                search_loss=search_losses[i], timings=dict(timings), exact=False,
                class_searched=searched[i]))
        return results
