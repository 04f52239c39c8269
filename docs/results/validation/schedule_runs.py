"""One evaluation task on one photo, with the task's score taken every 25 iterations along the
whole schedule (fast path, bundled prior unless --model), for DGP or the deep-image-prior
baseline (the same schedule from a randomly initialised generator, as `dgp-studio eval`), and
with the class left to the search or started from the average of every class embedding.

    python docs/results/validation/schedule_runs.py TASK PHOTO [--method dgp|dip]
        [--class-start search|average] [--seed N] [--threads N] [--out DIR]

TASK: colorize, inpaint or sr4 (scored as `dgp-studio eval` scores them: a/b RMSE, PSNR inside
the centred hole, PSNR).  Prints the final score and the score every 50 iterations; writes
DIR/TASK_METHOD_START_PHOTO_SEED.json with every 25th.  Used in the eleventh session to ask
whether a shorter schedule or a class-agnostic start restores better with this prior.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

from dgp_studio.core import presets, runtime
from dgp_studio.core.checkpoint import load_biggan
from dgp_studio.core.evaluation.baselines import bicubic_upsample, dip_gan
from dgp_studio.core.evaluation.tasks import TASKS
from dgp_studio.core.imaging import fit_square, open_rgb, to_tensor
from dgp_studio.core.reconstructor import Reconstructor

PREVIEW_EVERY = 25


def with_average_class(gan):
    """A copy whose embedding table has one more row, the mean of the others: that row's id starts
    a run from every class's average conditioning (BN gains and biases are linear in it)."""
    gan = copy.copy(gan)
    G = gan.G = copy.deepcopy(gan.G)
    w = G.shared.weight.detach()
    G.shared = torch.nn.Embedding(w.shape[0] + 1, w.shape[1])
    with torch.no_grad():
        G.shared.weight.copy_(torch.cat([w, w.mean(0, keepdim=True)]))
    return gan, w.shape[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("task", choices=["colorize", "inpaint", "sr4"])
    ap.add_argument("photo")
    ap.add_argument("--method", choices=["dgp", "dip"], default="dgp")
    ap.add_argument("--class-start", choices=["search", "average"], default="search")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model")
    ap.add_argument("--out", default="validation_runs")
    a = ap.parse_args(argv)
    runtime.configure(torch.device("cpu"), a.threads)
    gan = load_biggan(a.model)
    res_px = gan.resolution
    task = TASKS[a.task]
    clean = to_tensor(fit_square(open_rgb(a.photo), res_px), "cpu")
    deg = task.degradation(res_px)
    observed = task.observe(clean, deg)
    metric = task.ablation_metric  # the task's headline score: a/b RMSE, hole PSNR, PSNR
    if a.method == "dip":
        gan = dip_gan(gan, 0)
    class_id = None
    if a.class_start == "average":
        gan, class_id = with_average_class(gan)

    def score(img):
        return float(task.score(img, clean, deg)[metric])

    along = []

    def progress(pr):
        if pr.preview is not None and pr.phase == "optimise":
            along.append({"stage": pr.stage + 1, "iteration": pr.iteration, "step": pr.step,
                          "loss": pr.losses.get("total"), metric: score(deg.postprocess(pr.preview, observed))})

    t0 = time.perf_counter()
    rec = Reconstructor(gan, presets.get(task.preset_name), deg, preview_every=PREVIEW_EVERY)
    result = rec.run(observed, class_id=class_id, seed=a.seed, progress=progress)
    out = {"task": a.task, "photo": Path(a.photo).name, "method": a.method, "class_start": a.class_start,
           "seed": a.seed, "metric": metric, "final": score(result.final), "along": along,
           "class_id": result.class_id, "seconds": time.perf_counter() - t0}
    if a.task == "sr4":
        out["bicubic"] = score(bicubic_upsample(observed, res_px))
    if a.task == "colorize":
        out["gray"] = score(observed)
    d = Path(a.out)
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{a.task}_{a.method}_{a.class_start}_{out['photo']}_{a.seed}.json").write_text(json.dumps(out, indent=1))
    extra = " ".join(f"{k} {out[k]:.3f}" for k in ("bicubic", "gray") if k in out)
    print(f"{a.task} {a.method} {a.class_start} {out['photo']} seed {a.seed}: final {metric} {out['final']:.3f} {extra}")
    print("  every 50 iterations: " + " ".join(f"{r[metric]:.2f}" for r in along if r["step"] % 50 == 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
