"""Checks behind the hybrid's full-size output (ninth session): what `restore --task hybrid` writes,
against the clean photo, before (the model's finished image enlarged) and now
(``composite.hybrid_composite``: the photo's own lightness back-projected in, the model's colour
and fill).

    python docs/results/hybrid_fullsize_checks.py HELDOUT [--side 256] [--iters-scale 1] [--seed 0]

Each held-out photo, centre square at ``--side`` px, is the clean truth.  The "old photo" the user
has is that square made gray and halved (Lanczos), so the x2 hybrid's output has the truth's size.
Cases: "hole", a scratch (white square, side/8, off centre) given as --mask, whole frame (the
default); "hole-crop", the same with --region the square around the scratch at the model input's
scale (32 px: the default before the ninth session's last change); "whole", no mask, whole frame
(the photo goes through a 32 px model input).  Scored inside the output's region of the truth: Lab lightness PSNR (peak 100) outside
the hole, RGB PSNR, PSNR in the hole, Lab a/b MAE; "bicubic" is the gray photo enlarged x2 (lightness
outside the hole only: it has no colour and no fill).  Third case, "sr": the colour photo halved,
`restore --task sr --scale 2 --region full` (before: the model's image enlarged; bicubic: the
halved photo enlarged).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from dgp_studio.core import composite as cp  # noqa: E402
from dgp_studio.core.checkpoint import load_biggan  # noqa: E402
from dgp_studio.core.color import rgb_to_lab  # noqa: E402
from dgp_studio.core.evaluation.colour_metrics import ab_error  # noqa: E402
from dgp_studio.core.imaging import to_tensor  # noqa: E402
from dgp_studio.core.intake import open_image  # noqa: E402
from dgp_studio.core.metrics import psnr, tensor01  # noqa: E402
from dgp_studio.core.restore import RestoreSettings, restore  # noqa: E402


def square(path, side):
    im = open_image(path).rgb  # colour-managed to sRGB, as restore reads photos (rocket.jpg is Adobe RGB)
    w, h = im.size
    s = min(w, h)
    return im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((side, side), Image.LANCZOS)


def scores(out: Image.Image, truth: Image.Image, hole=None) -> dict:
    o, t = tensor01(to_tensor(out)), tensor01(to_tensor(truth))
    keep = None if hole is None else ~torch.from_numpy(hole)[None, None]
    r = {"L known": psnr(rgb_to_lab(o)[:, :1], rgb_to_lab(t)[:, :1], mask=keep, data_range=100.0),
         "rgb": psnr(o, t), "ab": ab_error(o, t)["mae"]}
    if hole is not None:
        r["hole"] = psnr(o, t, mask=~keep)
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("heldout")
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--iters-scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cases", nargs="+", choices=("hole", "hole-crop", "whole", "sr"),
                    default=["hole", "hole-crop", "whole", "sr"])
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    gan = load_biggan()
    S, s = args.side, args.side // 2
    rows = {}
    for path in sorted(p for p in Path(args.heldout).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")):
        truth = square(path, S)
        old = truth.convert("L").resize((s, s), Image.LANCZOS).convert("RGB")
        for case in args.cases:
            hole = None
            photo = old
            if case in ("hole", "hole-crop"):
                hole = np.zeros((s, s), bool)
                a, k = s // 3, s // 8
                hole[a:a + k, a + k:a + 2 * k] = True
                arr = np.array(old)
                arr[hole] = 255  # the scratch
                photo = Image.fromarray(arr)
            if case == "sr":  # the colour photo halved, x2 super-resolution of the whole frame
                photo = truth.resize((s, s), Image.LANCZOS)
            region = "full"
            if case == "hole-crop":  # the square around the scratch at the model input's scale
                region = cp.region_around(hole, gan.resolution // 2)
            st = RestoreSettings(task="sr" if case == "sr" else "hybrid", scale=2, seed=args.seed,
                                 iters_scale=args.iters_scale, region=region)
            out = restore(gan, open_image(photo), st, mask=hole)
            reg = out.region
            box = (2 * reg.left, 2 * reg.top, 2 * (reg.left + reg.width), 2 * (reg.top + reg.height))
            t = truth.crop(box)
            h2 = None
            if hole is not None:
                h2 = np.kron(hole[reg.slices()], np.ones((2, 2), bool))
            before = cp.resize_result(out.result.final, out.image.size)
            bic = (photo if case == "sr" else old).crop(reg.box).resize(out.image.size, Image.BICUBIC)
            row = {}
            for name, img in (("before", before), ("now", out.image)):
                row.update({f"{name} {k}": v for k, v in scores(img, t, h2).items()})
            row.update({f"bicubic {k}": v for k, v in scores(bic, t, h2).items() if case == "sr" or k == "L known"})
            rows.setdefault(case, []).append(row)
            print(case, path.stem, f"region {reg.to_list()}", "  ".join(f"{k} {v:.2f}" for k, v in row.items()),
                  flush=True)
    for case, rs in rows.items():
        print("mean", case, "  ".join(f"{k} {sum(r[k] for r in rs) / len(rs):.2f}" for k in rs[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
