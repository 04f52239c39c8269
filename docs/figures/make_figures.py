"""Side-by-side figures for the README: input, region result, full-resolution result.

    python docs/figures/make_figures.py [--model PATH] [--iters-scale 1] [--device cpu] [--only hybrid]

Held-out photos: scikit-image's sample photos (not in the bundled prior's training pool);
``pip install scikit-image`` is needed for this script only (a dev tool, not a dependency).
Writes docs/figures/colorization.jpg, inpainting.jpg, hybrid.jpg and figures.json (the measured
numbers; ``--only`` redoes some figures and keeps the others' numbers).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dgp_studio.core.checkpoint import load_biggan  # noqa: E402
from dgp_studio.core.composite import Region, inpaint_feather  # noqa: E402
from dgp_studio.core.intake import open_image  # noqa: E402
from dgp_studio.core.metrics import psnr  # noqa: E402
from dgp_studio.core.restore import RestoreSettings, restore  # noqa: E402

PANEL = 360  # height of each panel in the figure
FIGURES = ("colorization", "inpainting", "hybrid")


def sample_photo(name: str) -> Image.Image:
    try:
        from skimage import data
    except ImportError:
        sys.exit("this script needs scikit-image for its sample photos: pip install scikit-image")
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def lightness(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    Y = lin @ np.array([0.2126729, 0.7151522, 0.0721750])
    d = 6 / 29
    return 116 * np.where(Y > d ** 3, np.cbrt(Y), Y / (3 * d * d) + 4 / 29) - 16


def font(size=18):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # old Pillow
        return ImageFont.load_default()


def panel(img: Image.Image, title: str, box: Region | None = None, scale_to=PANEL, nearest=False) -> Image.Image:
    k = scale_to / img.height
    im = img.convert("RGB").resize((max(1, round(img.width * k)), scale_to),
                                   Image.NEAREST if nearest else Image.LANCZOS)
    if box is not None:
        d = ImageDraw.Draw(im)
        x0, y0, x1, y1 = (round(v * k) for v in box.box)
        d.rectangle([x0, y0, x1 - 1, y1 - 1], outline=(40, 140, 255), width=3)
    out = Image.new("RGB", (im.width, im.height + 30), (255, 255, 255))
    out.paste(im, (0, 30))
    ImageDraw.Draw(out).text((4, 5), title, fill=(0, 0, 0), font=font())
    return out


def row(panels, gap=10) -> Image.Image:
    w = sum(p.width for p in panels) + gap * (len(panels) - 1)
    h = max(p.height for p in panels)
    out = Image.new("RGB", (w, h), (255, 255, 255))
    x = 0
    for p in panels:
        out.paste(p, (x, 0))
        x += p.width + gap
    return out


def pick_class(gan, wanted):
    names = [n.lower() for n in (gan.config.class_names or [])]
    return wanted if wanted in names else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: the bundled prior)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iters-scale", type=float, default=1.0)
    ap.add_argument("--candidates", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent))
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--only", nargs="+", choices=FIGURES, default=list(FIGURES))
    args = ap.parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    gan = load_biggan(args.model, device=args.device)
    common = dict(iters_scale=args.iters_scale, candidates=args.candidates, seed=args.seed)
    numbers = {"model": gan.name, "resolution": gan.resolution, "settings": common}
    old = out_dir / "figures.json"
    if set(args.only) != set(FIGURES) and old.exists():
        kept = json.loads(old.read_text())
        if (kept.get("model"), kept.get("settings")) == (gan.name, common):
            numbers.update({k: v for k, v in kept.items() if k in FIGURES})
    for name in args.only:
        numbers[name] = globals()["figure_" + name](gan, common, out_dir)
    (out_dir / "figures.json").write_text(json.dumps(numbers, indent=1, default=float))
    print(json.dumps(numbers, indent=1, default=float))
    return 0


def figure_colorization(gan, common, out_dir) -> dict:
    # colorization: the cat photo turned gray, colorized at its own size (451 x 300)
    truth = sample_photo("chelsea")
    gray = truth.convert("L").convert("RGB")
    t0 = time.perf_counter()
    res = restore(gan, open_image(gray), RestoreSettings("colorize", class_spec=pick_class(gan, "animal"), **common))
    dt = time.perf_counter() - t0
    full = np.asarray(res.image)
    numbers = {
        "photo": "skimage.data.chelsea", "size": list(truth.size), "region": res.region.to_list(),
        "seconds": round(dt, 1), "class_id": res.result.class_id,
        "max_L_difference_vs_input": float(np.abs(lightness(full) - lightness(np.asarray(gray))).max()),
        "psnr_vs_colour_original_db": round(psnr(full, np.asarray(truth)), 2),
        "psnr_gray_input_vs_colour_original_db": round(psnr(np.asarray(gray), np.asarray(truth)), 2),
        "final_losses": res.losses}
    fig = row([panel(gray, "input (gray)"), panel(res.region_result, f"region result ({gan.resolution} px)", nearest=False),
               panel(res.image, f"full resolution {res.image.width}x{res.image.height}"),
               panel(truth, "original colour (not used)")])
    fig.save(out_dir / "colorization.jpg", quality=90)
    return numbers


def figure_inpainting(gan, common, out_dir) -> dict:
    # inpainting: the coffee photo with a hole over the spoon and cup rim, filled at 600 x 400
    truth = sample_photo("coffee")
    a = np.asarray(truth).copy()
    hole = np.zeros(a.shape[:2], bool)
    hole[150:230, 330:420] = True
    damaged = a.copy()
    damaged[hole] = (255, 255, 255)
    t0 = time.perf_counter()
    res = restore(gan, open_image(Image.fromarray(damaged)),
                  RestoreSettings("inpaint", class_spec=pick_class(gan, "indoor_object"), **common), mask=hole)
    dt = time.perf_counter() - t0
    full = np.asarray(res.image)
    changed = (full != a).any(axis=2)
    numbers = {
        "photo": "skimage.data.coffee", "size": list(truth.size), "hole": [330, 150, 90, 80],
        "region": res.region.to_list(), "seconds": round(dt, 1), "class_id": res.result.class_id,
        "psnr_in_hole_db": round(psnr(full, a, mask=hole), 2),
        "pixels_changed_outside_hole_plus_feather": int((changed & ~_dilate(hole, _feather(res))).sum()),
        "final_losses": res.losses}
    fig = row([panel(Image.fromarray(damaged), "input (white = hole)", box=res.region),
               panel(res.region_result, f"region result ({gan.resolution} px)"),
               panel(res.image, f"full resolution {res.image.width}x{res.image.height}"),
               panel(truth, "original (not used)")])
    fig.save(out_dir / "inpainting.jpg", quality=90)
    return numbers


def figure_hybrid(gan, common, out_dir) -> dict:
    # an "old photo": the cat photo gray at half size (225 x 150), hybrid x2 on the whole frame
    truth = sample_photo("chelsea")
    w, h = truth.size[0] // 2 * 2, truth.size[1] // 2 * 2
    truth = truth.crop((0, 0, w, h))
    old = truth.convert("L").resize((w // 2, h // 2), Image.LANCZOS).convert("RGB")
    t0 = time.perf_counter()
    res = restore(gan, open_image(old), RestoreSettings("hybrid", class_spec=pick_class(gan, "animal"), **common))
    dt = time.perf_counter() - t0
    full = np.asarray(res.image)
    enlarged = res.region_result.resize(res.image.size, Image.LANCZOS)  # the output before the composite
    bicubic = old.resize(res.image.size, Image.BICUBIC)
    L_truth = lightness(np.asarray(truth))

    def psnr_L(img):
        return round(float(10 * np.log10(100.0 ** 2 / np.mean((lightness(np.asarray(img)) - L_truth) ** 2))), 2)
    numbers = {
        "photo": "skimage.data.chelsea, gray, halved", "size": list(old.size), "region": res.region.to_list(),
        "output_size": list(res.image.size), "seconds": round(dt, 1), "class_id": res.result.class_id,
        "L_psnr_vs_original_db": psnr_L(full), "L_psnr_model_image_enlarged_db": psnr_L(enlarged),
        "L_psnr_bicubic_db": psnr_L(bicubic),
        "psnr_vs_colour_original_db": round(psnr(full, np.asarray(truth)), 2), "final_losses": res.losses}
    fig = row([panel(old, f"input (gray, {old.width}x{old.height})", nearest=True),
               panel(res.region_result, f"region result ({gan.resolution} px)"),
               panel(res.image, f"result x2 {res.image.width}x{res.image.height}"),
               panel(truth, "original colour (not used)")])
    fig.save(out_dir / "hybrid.jpg", quality=90)
    return numbers


def _feather(res) -> int:
    return inpaint_feather(res.region, res.result.image.shape[-1])


def _dilate(mask, r):
    h, w = mask.shape
    p = np.pad(mask, r)
    out = np.zeros_like(mask)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out |= p[dy:dy + h, dx:dx + w]
    return out


if __name__ == "__main__":
    sys.exit(main())
