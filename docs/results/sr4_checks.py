"""Checks behind the model card's x4 super-resolution note: can DGP's SR result beat bicubic with
(a) back-projection onto the low-resolution input (SuperResolution.postprocess, which the engine's
final image has had since the seventh session; "dgp" below is the generator's raw image), (b) averaging jittered renders of the tuned
generator (a cheap posterior-mean estimate), or (c, ``--weights``) a more MSE-biased loss?

    python docs/results/sr4_checks.py HELDOUT [--iters-scale 0.25] [--weights]

HELDOUT: the held-out photos of the model card (astronaut, chelsea, coffee, rocket).
Prints PSNR (dB) per photo and the means; the preset is super-resolution-mse, seed 0.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from dataclasses import replace  # noqa: E402

from dgp_studio.core import presets  # noqa: E402
from dgp_studio.core.checkpoint import load_biggan  # noqa: E402
from dgp_studio.core.degradations import SuperResolution  # noqa: E402
from dgp_studio.core.evaluation.baselines import bicubic_upsample  # noqa: E402
from dgp_studio.core.evaluation.images import load_images  # noqa: E402
from dgp_studio.core.manipulate import Renderer  # noqa: E402
from dgp_studio.core.metrics import psnr, tensor01  # noqa: E402
from dgp_studio.core.reconstructor import Reconstructor  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("heldout")
    ap.add_argument("--iters-scale", type=float, default=0.25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--weights", action="store_true", help="instead: loss-weight variants of the preset")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    gan = load_biggan()
    deg = SuperResolution(4)
    p = presets.get("super-resolution-mse").scaled(args.iters_scale)
    if args.weights:
        return weight_variants(gan, deg, p, args.heldout)
    renderer = Renderer(gan)
    rows = []
    for im in load_images(args.heldout, gan.config):
        clean, lr = im.clean, deg.simulate(im.clean)
        res = Reconstructor(gan, p, deg).run(lr, class_id=im.class_id, seed=0)

        def score(x):
            return psnr(tensor01(x), tensor01(clean))
        bic = bicubic_upsample(lr, gan.resolution)
        row = {"bicubic": score(bic), "bicubic+bp": score(deg.postprocess(bic, lr)), "dgp": score(res.image),
               "dgp+bp": score(deg.postprocess(res.image, lr))}
        for s in (0.1, 0.3, 0.5):
            zs = res.z + s * torch.randn(32, res.z.shape[1], generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                avg = renderer.render(res.generator_state, zs, res.class_embedding.expand(32, -1),
                                      res.norm_blocks).mean(0, keepdim=True)
            row[f"avg32@{s}+bp"] = score(deg.postprocess(avg, lr))
        rows.append(row)
        print(im.name, "  ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
    print("mean", "  ".join(f"{k} {sum(r[k] for r in rows) / len(rows):.2f}" for k in rows[0]))
    return 0


def weight_variants(gan, deg, p, heldout) -> int:
    variants = {"preset": p, "w_D 0": replace(p, w_D_loss=(0,) * 5, w_mse=(1,) * 5),
                "w_D 0.1": replace(p, w_D_loss=(0.1,) * 5), "w_mse 10": replace(p, w_mse=(10,) * 5)}
    images = load_images(heldout, gan.config)
    for name, v in variants.items():
        vals = []
        for im in images:
            lr = deg.simulate(im.clean)
            out = Reconstructor(gan, v, deg).run(lr, class_id=im.class_id, seed=0).image
            vals.append(psnr(tensor01(out), tensor01(im.clean)))
        print(f"{name}: " + "  ".join(f"{x:.2f}" for x in vals) + f"  mean {sum(vals) / len(vals):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
