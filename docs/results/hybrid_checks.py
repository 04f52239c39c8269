"""Checks behind the hybrid finish (eighth session): colorization + inpainting + x2 SR, as the editor
and `restore --task hybrid` run it, on the held-out photos.  "raw" is the generator's image (what the
hybrid returned before), "finish" is ``Hybrid.postprocess``: lightness back-projected onto the
gray low-resolution input where that input saw no hole, the hole's fill joined without a step.

    python docs/results/hybrid_checks.py HELDOUT [--iters-scale 1] [--seed 0] [--preset hybrid]

The input is made as ``restore`` makes it: the 64 px photo with a centred hole (side 64 // 3)
pre-filled smoothly, reduced to 32 px (``crop_to_model``).  Prints PSNR (dB) against the clean
photo for the whole image, the known part and the hole, in RGB and in lightness (gray), and how
far the result's lightness, shrunk, is from the input where it saw no hole (in 8-bit levels);
"ab" is the Lab a/b error (MAE) of the colours against the photo's ("gray ab": leaving it gray), and
"colourful" the Hasler-Suesstrunk colourfulness of the result (the photo's in "photo colourful").
``--preset``: the schedule to run the hybrid degradation with (default: the hybrid preset).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dgp_studio.core import composite as cp  # noqa: E402
from dgp_studio.core import presets  # noqa: E402
from dgp_studio.core.checkpoint import load_biggan  # noqa: E402
from dgp_studio.core.degradations import SuperResolution, gray3, lanczos_down, make_degradation  # noqa: E402
from dgp_studio.core.evaluation.colour_metrics import ab_error, colourfulness  # noqa: E402
from dgp_studio.core.evaluation.images import load_images  # noqa: E402
from dgp_studio.core.imaging import to_pil, to_tensor  # noqa: E402
from dgp_studio.core.metrics import psnr, tensor01  # noqa: E402
from dgp_studio.core.reconstructor import Reconstructor  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("heldout")
    ap.add_argument("--iters-scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--preset", default="hybrid")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    gan = load_biggan()
    res = gan.resolution
    side, a = res // 3, (res - res // 3) // 2
    hole = np.zeros((res, res), bool)
    hole[a:a + side, a:a + side] = True
    known = torch.from_numpy(~hole).float()
    deg = make_degradation("hybrid", mask=known, scale=2, hybrid_parts=("colorization", "sr", "inpainting"))
    p = presets.get(args.preset).scaled(args.iters_scale)
    sr = SuperResolution(2)
    seen = 1 - sr.footprint_hit(torch.from_numpy(hole).float()[None, None])
    h = torch.from_numpy(hole)[None, None]
    rows = []
    for im in load_images(args.heldout, gan.config):
        clean = im.clean
        model_in = to_tensor(cp.crop_to_model(to_pil(clean), cp.full_region((res, res)), res // 2, hole=hole))
        r = Reconstructor(gan, p, deg).run(model_in, class_id=im.class_id, seed=args.seed)
        row = {"gray ab": ab_error(tensor01(gray3(clean)), tensor01(clean))["mae"],
               "photo colourful": colourfulness(tensor01(clean))}
        for name, x in (("raw", r.image), ("finish", r.final)):
            c, g = tensor01(clean), tensor01(x)
            row[f"{name} all"] = psnr(g, c)
            row[f"{name} known"] = psnr(g, c, mask=~h)
            row[f"{name} hole"] = psnr(g, c, mask=h)
            row[f"{name} gray known"] = psnr(tensor01(gray3(x)), tensor01(gray3(clean)), mask=~h)
            miss = (lanczos_down(gray3(x)[:, :1], 2) - gray3(model_in)[:, :1]) * seen
            row[f"{name} miss"] = float(miss.abs().max()) * 127.5
            row[f"{name} ab"] = ab_error(g, c)["mae"]
            row[f"{name} colourful"] = colourfulness(g)
        rows.append(row)
        print(im.name, "  ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
    print("mean", "  ".join(f"{k} {sum(r[k] for r in rows) / len(rows):.2f}" for k in rows[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
