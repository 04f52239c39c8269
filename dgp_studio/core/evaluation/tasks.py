"""Per-task runners: simulate the degradation, restore with DGP and the baselines, score.

Every method of one image starts from the same initial latent (one candidate search per task,
image and generator, shared), so differences come from the method, not from the initial latent.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from .. import presets
from ..biggan import BigGAN
from ..degradations import Colorization, Identity, Inpainting, SuperResolution
from ..imaging import to_tensor
from ..losses import DGPLoss
from ..metrics import mse, psnr, rmse, ssim, tensor01
from ..reconstructor import Reconstructor
from .baselines import (ABLATION_TITLES, ABLATION_VARIANTS, ablation_preset, bicubic_upsample, dip_gan,
                        same_schedule, z_only)
from .colour_metrics import ab_error, colourfulness
from .runstore import RunStore, model_fingerprint, run_fingerprint


@dataclass
class RunOutput:
    final: torch.Tensor    # 1x3xRxR in [-1, 1], CPU: what the method returns
    time_s: float
    class_id: int | None = None
    steps: int = 0
    resumed: bool = False  # read back from the run store, not computed in this process


@dataclass
class Context:
    """What every task needs: the model, the schedule scaling, a cache of finished runs."""
    gan: BigGAN
    iters_scale: float = 1.0
    select_num: int | None = None
    dip_seed: int = 0
    progress_factory: object = None   # label -> (callback, close) or None
    store: RunStore | None = None     # finished runs on disk (resume after an interruption)
    cache: dict = field(default_factory=dict)
    _searches: dict = field(default_factory=dict)
    _dip: BigGAN | None = None
    _model_fp: str | None = None

    @property
    def resolution(self) -> int:
        return self.gan.resolution

    def preset(self, name: str) -> presets.Preset:
        p = presets.get(name).scaled(self.iters_scale)
        return p if self.select_num is None else replace(p, select_num=int(self.select_num))

    def dip(self) -> BigGAN:
        if self._dip is None:
            self._dip = dip_gan(self.gan, self.dip_seed)
        return self._dip

    def initial_latent(self, skey, gan, preset, degradation, observed, class_id, seed):
        """The engine's candidate search (DGP.md section 5), done once per (task, image, generator):
        it depends only on the target, the generator, the seed, select_num and sample_std, so DGP,
        z-only and the ablation variants of one image share it. -> (z0, class_id, seconds)."""
        if skey in self._searches:
            return self._searches[skey]
        dev = gan.device
        rec = Reconstructor(gan, preset, degradation.to(dev), preview_every=0)
        obs = to_tensor(observed, dev)
        t0 = time.perf_counter()
        with torch.no_grad():
            target = (degradation.target(obs, gan.resolution) if isinstance(degradation, SuperResolution)
                      else degradation.target(obs))
            rec.G = gan.G  # Reconstructor.search reads the generator here (run() sets it the same way)
            try:
                z0, cid, _ = rec.search(target, class_id, seed, DGPLoss(gan.D, target))
            finally:
                rec.G = None
        out = (z0.detach().cpu(), int(cid), time.perf_counter() - t0)
        self._searches[skey] = out
        return out

    def restore(self, key, gan, preset, degradation, observed, class_id, seed) -> RunOutput:
        """One engine run; identical (task, method, image) runs are done once per evaluation.
        ``time_s`` = the (shared) search's time + this run's optimisation: a standalone run's cost."""
        if key in self.cache:
            return self.cache[key]
        which = "random-G" if gan is self._dip else "trained"
        fp = None
        if self.store is not None:
            if self._model_fp is None:
                self._model_fp = model_fingerprint(self.gan)
            fp = run_fingerprint(self._model_fp, key, preset, observed, class_id, seed,
                                 f"{which}:{self.dip_seed}" if which == "random-G" else which,
                                 finish=degradation.finish_version)
            rec_ = self.store.load(fp)
            if rec_ is not None and tuple(rec_["final"].shape) == (1, 3, gan.resolution, gan.resolution):
                out = RunOutput(final=rec_["final"], time_s=float(rec_["time_s"]), class_id=rec_.get("class_id"),
                                steps=int(rec_.get("steps", 0)), resumed=True)
                self.cache[key] = out
                return out
        skey = (key[0], key[-1], which, preset.select_num, preset.sample_std, class_id, seed)
        z0, cid, search_s = self.initial_latent(skey, gan, preset, degradation, observed, class_id, seed)
        rec = Reconstructor(gan, preset, degradation, preview_every=0)
        cb, close = (self.progress_factory(" ".join(map(str, key))) if self.progress_factory else (None, None))
        t0 = time.perf_counter()
        try:
            res = rec.run(observed, class_id=cid, z_init=z0, seed=seed, progress=cb)
        finally:
            if close:
                close()
        out = RunOutput(final=res.final.detach().cpu(), time_s=search_s + time.perf_counter() - t0,
                        class_id=res.class_id, steps=res.steps_done)
        if fp is not None and not res.cancelled:
            self.store.save(fp, {"final": out.final, "time_s": out.time_s, "class_id": out.class_id,
                                 "steps": out.steps})
        self.cache[key] = out
        return out


def timed(fn):
    t0 = time.perf_counter()
    x = fn()
    return RunOutput(final=x.detach().cpu(), time_s=time.perf_counter() - t0)


class Task:
    key = ""
    title = ""
    paper = ""
    preset_name = ""
    dgp_method = "dgp"        # the method that is the preset's DGP run (the ablation reuses it)
    methods: list = []        # (key, label)
    metrics: list = []        # (key, label, higher_is_better: True/False/None)
    ablation_metric = ""

    def degradation(self, res: int):
        raise NotImplementedError

    def observe(self, clean, deg):
        """What the user would hold (for SR: the low-resolution image)."""
        return deg.simulate(clean)

    def show_input(self, observed, res: int):
        """The observation at the model's resolution, for the image sheet."""
        return observed

    def score(self, out: torch.Tensor, clean: torch.Tensor, deg) -> dict:
        raise NotImplementedError

    def runs(self, ctx: Context, img, deg, observed, seed) -> dict:
        """method -> RunOutput."""
        raise NotImplementedError

    def dgp_run(self, ctx, img, deg, observed, seed, preset=None, method=None):
        method = method or self.dgp_method
        p = preset if preset is not None else ctx.preset(self.preset_name)
        return ctx.restore((self.key, method, img.name), ctx.gan, p, deg, observed, img.class_id, seed)

    def run_image(self, ctx: Context, img, seed: int):
        """-> (numbers: method -> {metric: value, time_s, ...}, sheet cells: [(label, tensor)])."""
        res = ctx.resolution
        deg = self.degradation(res)
        observed = self.observe(img.clean, deg)
        outs = self.runs(ctx, img, deg, observed, seed)
        numbers, cells = {}, [("clean", img.clean), ("input", self.show_input(observed, res))]
        labels = dict(self.methods)
        for m, _ in self.methods:
            o = outs[m]
            numbers[m] = {**self.score(o.final, img.clean, deg), "time_s": o.time_s,
                          "class_id": o.class_id, "steps": o.steps, "resumed": o.resumed}
            if o.final is not None:
                cells.append((labels[m], o.final))
        return numbers, cells


def _basic_scores(out, clean) -> dict:
    a, b = tensor01(out), tensor01(clean)
    return {"psnr": psnr(a, b), "ssim": ssim(a, b), "mse": mse(a, b)}


class Reconstruct(Task):
    key, title, paper = "reconstruct", "Reconstruction", "Table 1"
    preset_name = "reconstruct"
    methods = [("dgp", "DGP"), ("z-only", "z-only inversion (G fixed)")]
    metrics = [("psnr", "PSNR (dB)", True), ("ssim", "SSIM", True), ("mse", "MSE", False)]

    def degradation(self, res):
        return Identity()

    def score(self, out, clean, deg):
        return _basic_scores(out, clean)

    def runs(self, ctx, img, deg, observed, seed):
        p = ctx.preset(self.preset_name)
        return {"dgp": self.dgp_run(ctx, img, deg, observed, seed, p),
                "z-only": ctx.restore((self.key, "z-only", img.name), ctx.gan, z_only(p), deg, observed,
                                      img.class_id, seed)}


class Colorize(Task):
    key, title, paper = "colorize", "Colorization", "Sec. 4.2; scored here by Lab a/b error, not a classifier"
    preset_name = "colorization"
    methods = [("dgp", "DGP"), ("z-only", "z-only inversion (G fixed)"), ("gray", "left gray (input)"),
               ("clean", "clean photo (reference)")]
    metrics = [("ab_mae", "a/b MAE", False), ("ab_rmse", "a/b RMSE", False),
               ("colourfulness", "colourfulness", None)]
    ablation_metric = "ab_rmse"

    def degradation(self, res):
        return Colorization()

    def score(self, out, clean, deg):
        e = ab_error(tensor01(out), tensor01(clean))
        return {"ab_mae": e["mae"], "ab_rmse": e["rmse"], "colourfulness": colourfulness(tensor01(out))}

    def runs(self, ctx, img, deg, observed, seed):
        p = ctx.preset(self.preset_name)
        return {"dgp": self.dgp_run(ctx, img, deg, observed, seed, p),
                "z-only": ctx.restore((self.key, "z-only", img.name), ctx.gan, z_only(p), deg, observed,
                                      img.class_id, seed),
                "gray": timed(lambda: observed.clone()),
                "clean": RunOutput(final=img.clean, time_s=0.0)}

    def run_image(self, ctx, img, seed):
        numbers, cells = super().run_image(ctx, img, seed)
        # the sheet already shows the gray input and the clean photo
        return numbers, [c for c in cells if c[0] not in (dict(self.methods)["gray"], dict(self.methods)["clean"])]


class Inpaint(Task):
    key, title, paper = "inpaint", "Inpainting (scored inside the hole)", "Table 2"
    preset_name = "inpainting"
    methods = [("dgp", "DGP"), ("dip", "deep image prior (random G)"), ("z-only", "z-only inversion (G fixed)")]
    metrics = [("psnr_hole", "PSNR in hole (dB)", True), ("ssim_hole", "SSIM in hole", True)]
    ablation_metric = "psnr_hole"

    def degradation(self, res):
        return Inpainting.centered_hole(res)  # the paper's centred square, side min(H, W) // 3

    def score(self, out, clean, deg):
        hole = 1 - deg.mask.cpu()
        a, b = tensor01(out.cpu()), tensor01(clean.cpu())
        # SSIM on the hole's bounding box, so its 11x11 window never sees the known pixels around it
        ys, xs = torch.nonzero(hole[0, 0] > 0.5, as_tuple=True)
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        if min(y1 - y0, x1 - x0) > 5:
            box = (..., slice(y0, y1), slice(x0, x1))
            s_hole = ssim(a[box], b[box], hole[box])
        else:  # too small to crop for the window: the SSIM map averaged over the hole
            s_hole = ssim(a, b, hole)
        return {"psnr_hole": psnr(a, b, hole), "ssim_hole": s_hole}

    def runs(self, ctx, img, deg, observed, seed):
        p = ctx.preset(self.preset_name)
        return {"dgp": self.dgp_run(ctx, img, deg, observed, seed, p),
                "dip": ctx.restore((self.key, "dip", img.name), ctx.dip(), p, deg, observed, img.class_id, seed),
                "z-only": ctx.restore((self.key, "z-only", img.name), ctx.gan, z_only(p), deg, observed,
                                      img.class_id, seed)}


class SuperRes4(Task):
    key, title, paper = "sr4", "x4 super-resolution", "Table 3"
    preset_name = "super-resolution"
    dgp_method = "dgp-d"
    methods = [("dgp-d", "DGP, D-biased (super-resolution)"), ("dgp-mse", "DGP, MSE-biased (super-resolution-mse)"),
               ("dip-d", "DIP, D-biased schedule"), ("dip-mse", "DIP, MSE-biased schedule"),
               ("bicubic", "bicubic")]
    metrics = [("psnr", "PSNR (dB)", True), ("rmse", "RMSE", False)]
    ablation_metric = "psnr"

    def degradation(self, res):
        return SuperResolution(4)

    def observe(self, clean, deg):
        return deg.simulate(clean)  # the res/4 image

    def show_input(self, observed, res):
        return F.interpolate(observed, size=(res, res), mode="nearest")

    def score(self, out, clean, deg):
        a, b = tensor01(out), tensor01(clean)
        return {"psnr": psnr(a, b), "rmse": rmse(a, b)}

    def runs(self, ctx, img, deg, observed, seed):
        pd, pm = ctx.preset("super-resolution"), ctx.preset("super-resolution-mse")
        r = ctx.resolution
        return {"dgp-d": self.dgp_run(ctx, img, deg, observed, seed, pd),
                "dgp-mse": ctx.restore((self.key, "dgp-mse", img.name), ctx.gan, pm, deg, observed,
                                       img.class_id, seed),
                "dip-d": ctx.restore((self.key, "dip-d", img.name), ctx.dip(), pd, deg, observed,
                                     img.class_id, seed),
                "dip-mse": ctx.restore((self.key, "dip-mse", img.name), ctx.dip(), pm, deg, observed,
                                       img.class_id, seed),
                "bicubic": timed(lambda: bicubic_upsample(observed, r))}


TASKS = {t.key: t for t in (Reconstruct(), Colorize(), Inpaint(), SuperRes4())}
ABLATION_SUBTASKS = ("colorize", "inpaint", "sr4")


class Ablation:
    """Table 4: the same images restored with MSE / discriminator / discriminator + progressive.
    The last variant is the preset itself, so a run already made by its task is reused."""
    key, title, paper = "ablation", "Ablation: loss and progression", "Table 4"
    methods = [(v, ABLATION_TITLES[v]) for v in ABLATION_VARIANTS]

    def __init__(self, subtasks=ABLATION_SUBTASKS):
        bad = [s for s in subtasks if s not in ABLATION_SUBTASKS]
        if bad:
            raise ValueError(f"ablation runs on {', '.join(ABLATION_SUBTASKS)}, not {', '.join(bad)}")
        self.subtasks = [TASKS[s] for s in subtasks]

    def run_image(self, ctx: Context, img, seed: int):
        """-> (sub -> variant -> numbers, [(row label, cells)] one sheet row per subtask)."""
        numbers, rows = {}, []
        for t in self.subtasks:
            deg = t.degradation(ctx.resolution)
            observed = t.observe(img.clean, deg)
            base = ctx.preset(t.preset_name)
            numbers[t.key] = {}
            cells = [("clean", img.clean), ("input", t.show_input(observed, ctx.resolution))]
            for v in ABLATION_VARIANTS:
                p = ablation_preset(base, v)
                if same_schedule(p, base):  # the task's own DGP run (done once, whichever asks first)
                    o = t.dgp_run(ctx, img, deg, observed, seed, base)
                else:
                    o = ctx.restore((t.key, f"ablation-{v}", img.name), ctx.gan, p, deg, observed,
                                    img.class_id, seed)
                numbers[t.key][v] = {**t.score(o.final, img.clean, deg), "time_s": o.time_s,
                                     "class_id": o.class_id, "steps": o.steps, "resumed": o.resumed}
                cells.append((ABLATION_TITLES[v], o.final))
            rows.append((t.key, cells))
        return numbers, rows
