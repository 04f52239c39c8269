"""Region -> model -> full image: crop a region to the generator's square, and write its
result back into the full-resolution photo.

- colorization: the model's a/b chroma is upsampled edge-aware (a guided filter whose
  guide is the photo's own full-resolution lightness) and joined to the ORIGINAL L, so every
  original detail survives and L is exact;
- inpainting: only the hole (plus a feather band of ``feather`` px around it) changes;
- super-resolution and the rest: the region's result is resized to the output size.

Pure array/tensor functions (no model here); ``restore.py`` drives them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .color import (CHROMA_SIGMA, gauss_blur, is_gray, lab_to_rgb, lab_to_rgb_linear, recombine_lightness,
                    rgb_to_lab)
from .degradations import SuperResolution
from .seam import seamless_fill

CHUNK_PIXELS = 1 << 20  # colour conversions run on row bands of about this many pixels


@dataclass(frozen=True)
class Region:
    """A rectangle of the photo (pixels); square except for 'full' on a non-square photo."""
    left: int
    top: int
    width: int
    height: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.left, self.top, self.left + self.width, self.top + self.height

    @property
    def side(self) -> int:
        return max(self.width, self.height)

    def slices(self):
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)

    def covers(self, size) -> bool:
        return (self.left, self.top, self.width, self.height) == (0, 0, size[0], size[1])

    def to_list(self) -> list[int]:
        return [self.left, self.top, self.width, self.height]


def center_region(size) -> Region:
    """Centred square on the short side (the default region)."""
    w, h = size
    s = min(w, h)
    return Region((w - s) // 2, (h - s) // 2, s, s)


def full_region(size) -> Region:
    return Region(0, 0, int(size[0]), int(size[1]))


def parse_region(spec, size) -> Region:
    """'x,y,size' (a square, top-left corner x,y), 'center' or 'full' -> Region inside the photo."""
    if isinstance(spec, Region):
        r = spec
    elif spec is None or str(spec).strip().lower() in ("", "center", "centre"):
        return center_region(size)
    elif str(spec).strip().lower() in ("full", "all", "whole"):
        return full_region(size)
    else:
        try:
            vals = [int(round(float(v))) for v in str(spec).replace(" ", "").split(",")]
        except ValueError:
            raise ValueError(f"region '{spec}': expected x,y,size (e.g. 120,40,512), 'center' or 'full'") from None
        if len(vals) == 3:
            r = Region(vals[0], vals[1], vals[2], vals[2])
        elif len(vals) == 4:
            r = Region(*vals)
        else:
            raise ValueError(f"region '{spec}': expected x,y,size (e.g. 120,40,512), 'center' or 'full'")
    w, h = size
    if r.width < 1 or r.height < 1:
        raise ValueError(f"region '{spec}': the size must be at least 1 px")
    if r.left < 0 or r.top < 0 or r.left + r.width > w or r.top + r.height > h:
        raise ValueError(f"region '{spec}' ({r.width}x{r.height} px at {r.left},{r.top}) does not lie inside "
                         f"the {w}x{h} photo")
    return r


def mask_bbox(hole: np.ndarray):
    ys, xs = np.nonzero(hole)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def region_around(hole: np.ndarray, res: int, context: float = 2.0) -> Region | None:
    """Square around the hole with room for context: ``context`` x the hole's extent, at least
    the model's resolution (or the short side), never more than the short side.
    None when the hole does not fit one square region."""
    h, w = hole.shape
    bb = mask_bbox(hole)
    short = min(w, h)
    if bb is None:
        return center_region((w, h))
    x0, y0, x1, y1 = bb
    ext = max(x1 - x0, y1 - y0)
    if ext > short:
        return None
    side = int(min(short, max(math.ceil(ext * context), min(res, short))))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(np.clip(round(cx - side / 2), 0, w - side))
    top = int(np.clip(round(cy - side / 2), 0, h - side))
    return Region(left, top, side, side)


# -- into the model ---------------------------------------------------------------------------
def crop_to_model(img: Image.Image, region: Region, size: int, hole: np.ndarray | None = None) -> Image.Image:
    """The region resized to ``size`` x ``size`` (Lanczos; big crops are box-reduced first).
    With ``hole`` (HxW bool over the whole photo), the hole's pixels are first replaced by a
    smooth continuation of the known ones, so no resampling kernel carries what was in the hole
    into the pixels the model must match."""
    crop = img.crop(region.box)
    if hole is not None:
        h = hole[region.slices()]
        if h.any():
            crop = Image.fromarray(prefill_hole(np.asarray(crop), h, size))
    if crop.size == (size, size):
        return crop
    return crop.resize((size, size), Image.LANCZOS, reducing_gap=3.0)


def prefill_hole(rgb: np.ndarray, hole: np.ndarray, size: int) -> np.ndarray:
    """``rgb`` with hole pixels replaced by the known pixels' local average (normalised
    convolution at ``size`` px, grown inwards where the hole is wide, upsampled bilinearly)."""
    H, W = hole.shape
    t = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
    k = torch.from_numpy(np.array(~hole, dtype=np.float32))[None, None]
    gh, gw = min(H, size), min(W, size)
    num = F.interpolate(t * k, size=(gh, gw), mode="area")
    den = F.interpolate(k, size=(gh, gw), mode="area")
    valid = den > 1e-6
    low = torch.where(valid, num / den.clamp_min(1e-6), torch.zeros_like(num))
    for _ in range(gh + gw):  # grow the known average into the hole, ring by ring
        if bool(valid.all()):
            break
        v = valid.float()
        s = F.avg_pool2d(low * v, 3, stride=1, padding=1, count_include_pad=False)
        c = F.avg_pool2d(v, 3, stride=1, padding=1, count_include_pad=False)
        grow = (~valid) & (c > 0)
        low = torch.where(grow, s / c.clamp_min(1e-6), low)
        valid = valid | grow
    up = F.interpolate(low, size=(H, W), mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
    out = np.array(rgb, copy=True)
    out[hole] = up.round().clamp(0, 255).to(torch.uint8).numpy()[hole]
    return out


def hole_to_model(hole: np.ndarray, region: Region, size: int) -> torch.Tensor:
    """size x size float mask, 1 = unknown: a model pixel is unknown if any photo pixel it
    covers is in the hole."""
    h = torch.from_numpy(np.array(hole[region.slices()], dtype=np.float32))[None, None]
    if h.shape[-2:] == (size, size):
        return h[0, 0]
    return (F.interpolate(h, size=(size, size), mode="area") > 0).float()[0, 0]


# -- edge-aware upsampling ------------------------------------------------------------------
def box_mean(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window; at the borders, over the part inside the image."""
    if r <= 0:
        return x
    return F.avg_pool2d(x, 2 * r + 1, stride=1, padding=r, count_include_pad=False)


def guided_coefficients(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float):
    """He et al.'s guided filter as a local linear model src ~ A * guide + B; returns (A, B)
    already box-averaged, so the filtered output is ``A * guide + B``."""
    mI, mp = box_mean(guide, r), box_mean(src, r)
    var = box_mean(guide * guide, r) - mI * mI
    cov = box_mean(guide * src, r) - mI * mp
    a = cov / (var + eps)
    b = mp - a * mI
    return box_mean(a, r), box_mean(b, r)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    A, B = guided_coefficients(guide, src, r, eps)
    return A * guide + B


def guided_upsample(low: torch.Tensor, guide: torch.Tensor, eps: float = 5e-4, radius: int = 1) -> torch.Tensor:
    """Upsample ``low`` (1xCxhxw) to the guide's size (1x1xHxW, ~[0, 1]) so that its edges
    follow the guide's: guided-filter upsampling.  The local linear model low ~ A*guide + B is
    fitted where both live at the same scale (the guide area-averaged to hxw, windows of
    (2*radius+1)^2 low-res pixels); the smooth coefficients are then upsampled and applied to the
    full-resolution guide, so every edge of the photo reappears in the result at O(H*W) cost.
    (Fitting against a bilinearly upsampled ``low`` instead would pair a blurred signal with a
    sharp guide and soften the edges again; measured in tests/test_composite.py.)"""
    H, W = guide.shape[-2:]
    h, w = low.shape[-2:]
    g_low = guide if (h, w) == (H, W) else F.interpolate(guide, size=(h, w), mode="area")
    A, B = guided_coefficients(g_low, low, radius, eps)
    if (h, w) != (H, W):
        A = F.interpolate(A, size=(H, W), mode="bilinear", align_corners=False)
        B = F.interpolate(B, size=(H, W), mode="bilinear", align_corners=False)
    return A * guide + B


# -- colour helpers on big images (row bands, float64 where L must be exact) ---------------------
def _bands(h: int, w: int):
    step = max(1, CHUNK_PIXELS // max(w, 1))
    for a in range(0, h, step):
        yield a, min(h, a + step)


def _t01(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0


GAMUT_TOL = 1e-6  # as color.recombine_lightness


def lab_to_uint8(L: torch.Tensor, ab: torch.Tensor) -> np.ndarray:
    """Lightness + chroma -> HxWx3 uint8; chroma is reduced only where out of gamut
    (``color.recombine_lightness``, applied to just those pixels), so L holds."""
    h, w = L.shape[-2:]
    out = np.empty((h, w, 3), dtype=np.uint8)
    for a, b in _bands(h, w):
        lab = torch.cat([L[:, :, a:b], ab[:, :, a:b]], 1).double()
        lin = lab_to_rgb_linear(lab)
        bad = ~((lin >= -GAMUT_TOL) & (lin <= 1 + GAMUT_TOL)).all(dim=1)[0]
        rgb = lab_to_rgb(lab)[0]
        if bool(bad.any()):
            sub = lab[0][:, bad][None, :, None, :]  # 1x3x1xN
            rgb[:, bad] = recombine_lightness(sub[:, :1], sub[:, 1:])[0, :, 0, :]
        out[a:b] = (rgb.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return out


def border_weight(region: Region, size, feather: int, rows=None) -> torch.Tensor:
    """1x1xhxw weights (rows ``rows`` = (r0, r1) of the region only, if given): 1 inside the
    region, fading to 0 over ``feather`` px towards each region edge that lies inside the photo
    (edges on the photo's border need no seam)."""
    W, H = size
    h, w = region.height, region.width
    r0, r1 = rows if rows is not None else (0, h)
    if feather <= 0:
        return torch.ones(1, 1, r1 - r0, w, dtype=torch.float64)
    ys = (torch.arange(r0, r1, dtype=torch.float64)[:, None] + 0.5).expand(r1 - r0, w)
    xs = (torch.arange(w, dtype=torch.float64)[None, :] + 0.5).expand(r1 - r0, w)
    d = torch.full((r1 - r0, w), float("inf"), dtype=torch.float64)
    if region.left > 0:
        d = torch.minimum(d, xs)
    if region.top > 0:
        d = torch.minimum(d, ys)
    if region.left + w < W:
        d = torch.minimum(d, w - xs)
    if region.top + h < H:
        d = torch.minimum(d, h - ys)
    return (d / feather).clamp(0, 1)[None, None]


# -- composites -------------------------------------------------------------------------------
def model_chroma(g_out: torch.Tensor) -> torch.Tensor:
    """a/b of the generator's output (1x3xrxr in [-1, 1]) -> 1x2xrxr float64."""
    return rgb_to_lab(((g_out.detach().cpu().double().clamp(-1, 1) + 1) / 2))[:, 1:]


def chroma_coefficients(g_out: torch.Tensor, L: torch.Tensor, chroma_sigma: float, radius: int = 1,
                        eps: float = 5e-4):
    """Guided-filter coefficients (A, B) at the model's size that carry its chroma (smoothed by
    ``chroma_sigma`` model px) along the full-size lightness ``L`` (1x1xHxW, 0-100): the chroma
    at full size is up(A) * L/100 + up(B)."""
    low = model_chroma(g_out).float()
    if chroma_sigma > 0:
        low = gauss_blur(low, float(chroma_sigma))
    g_low = F.interpolate(L / 100.0, size=low.shape[-2:], mode="area")
    return guided_coefficients(g_low, low, radius, eps)


def region_lightness(rgb: np.ndarray, region: Region):
    """The region's pixels and their L* (1x1xhxw float32, converted in row bands)."""
    crop = rgb[region.slices()]
    h, w = crop.shape[:2]
    L = torch.empty(1, 1, h, w, dtype=torch.float32)
    for a, b in _bands(h, w):
        L[:, :, a:b] = rgb_to_lab(_t01(crop[a:b]))[:, :1]
    return crop, L


def chroma_rows(A: torch.Tensor, B: torch.Tensor, Lb: torch.Tensor, size, row0: int) -> torch.Tensor:
    """Full-size a*/b* (float64) for the rows of ``Lb`` starting at ``row0`` of an image of
    ``size``: up(A) * L/100 + up(B) (``chroma_coefficients``)."""
    win = (row0, row0 + Lb.shape[-2], 0, size[1])
    return (upsample_window(A, size, win, "bilinear") * (Lb / 100.0)
            + upsample_window(B, size, win, "bilinear")).double()


def colorize_composite(rgb: np.ndarray, g_out: torch.Tensor, region: Region, feather: int | None = None,
                       eps: float = 5e-4, radius: int = 1, chroma_sigma: float = CHROMA_SIGMA) -> np.ndarray:
    """Full-resolution colorization: the ORIGINAL lightness everywhere; inside ``region`` the
    model's chroma, upsampled guided by that lightness (``guided_upsample``'s method, applied in
    row bands so memory stays ~10 bytes per pixel); outside, the photo's own chroma (a seam of
    ``feather`` px blends the two where the region edge lies inside the photo).
    ``chroma_sigma`` (model pixels, 0 = off) smooths the model's chroma first (CHROMA_SIGMA)."""
    H, W = rgb.shape[:2]
    out = rgb.copy()
    ys, xs = region.slices()
    crop, L = region_lightness(rgb, region)
    h, w = crop.shape[:2]
    A, B = chroma_coefficients(g_out, L, chroma_sigma, radius, eps)
    seam = not region.covers((W, H))
    f = feather if feather is not None else max(2, round(region.side / g_out.shape[-1]))
    for a, b in _bands(h, w):
        Lb = L[:, :, a:b]
        ab = chroma_rows(A, B, Lb, (h, w), a)
        if seam:
            wgt = border_weight(region, (W, H), f, rows=(a, b))
            ab = wgt * ab + (1 - wgt) * rgb_to_lab(_t01(crop[a:b]))[:, 1:].double()
        out[ys, xs][a:b] = lab_to_uint8(Lb, ab)
    return out


def feathered_alpha(hole: torch.Tensor, feather: int) -> torch.Tensor:
    """1 on the hole, falling smoothly to 0 over ``feather`` px outside it (Chebyshev distance
    d: weight smoothstep(1 - d/(feather+1)) for d <= feather, 0 beyond)."""
    m = hole.float()
    while m.dim() < 4:
        m = m[None]
    alpha, cur = m.clone(), m
    for d in range(1, max(0, feather) + 1):
        cur = F.max_pool2d(cur, 3, stride=1, padding=1)  # the hole grown by d pixels
        s = 1 - d / (feather + 1)
        alpha = torch.maximum(alpha, cur * (s * s * (3 - 2 * s)))
    return alpha


def inpaint_feather(region: Region, res: int) -> int:
    """Default seam width outside the hole: half a model pixel (the fill's own blur scale),
    2 to 16 px, so a thin scratch does not drag a wide band of known pixels with it."""
    return int(min(16, max(2, round(0.5 * region.side / res))))


def inpaint_composite(rgb: np.ndarray, hole: np.ndarray, g_out: torch.Tensor, region: Region,
                      feather: int | None = None) -> np.ndarray:
    """Write the model's fill into the photo: pixels outside hole (+ ``feather`` px) and
    outside ``region`` stay bit-identical.  ``g_out`` is the task's finished image
    (``result.final``: its fill already meets the known pixels without a step, seam.py)."""
    H, W = rgb.shape[:2]
    out = rgb.copy()
    ys, xs = region.slices()
    f = feather if feather is not None else inpaint_feather(region, g_out.shape[-1])
    fill = g_out.detach().cpu().float().clamp(-1, 1)
    hole_r = np.asarray(hole[ys, xs])
    bb = mask_bbox(hole_r)
    if bb is None:
        return out
    # work only on the hole's bounding box grown by the feather (clipped to the region)
    c0, r0 = max(0, bb[0] - f), max(0, bb[1] - f)
    c1, r1 = min(region.width, bb[2] + f), min(region.height, bb[3] + f)
    alpha = feathered_alpha(torch.from_numpy(np.array(hole_r[r0:r1, c0:c1], dtype=np.float32)), f)[0, 0]
    up = upsample_window(fill, (region.height, region.width), (r0, r1, c0, c1))
    up255 = ((up[0].permute(1, 2, 0) + 1) * 127.5).clamp(0, 255)
    a = alpha[:, :, None]
    orig = torch.from_numpy(rgb[ys, xs][r0:r1, c0:c1].astype(np.float32))
    blend = orig * (1 - a) + up255 * a  # exact at both ends: alpha 0 -> original, 1 -> fill
    out[ys, xs][r0:r1, c0:c1] = blend.round().clamp(0, 255).to(torch.uint8).numpy()
    return out


BP_STEPS = 8  # back-projection steps onto the photo's own pixels: within ~0.3 levels of them after 8
BP_BAND_ROWS = 256  # photo rows per band: memory stays a few bands' worth, whatever the photo's size
BP_MARGIN = 40  # photo rows of context above and below a band: the 8 steps reach ~32 (2 + 2 per step)


def back_project_onto(model: torch.Tensor, photo: torch.Tensor, factor: int, top: float,
                      out_dtype: torch.dtype = torch.float32, band_rows: int = BP_BAND_ROWS) -> torch.Tensor:
    """``model`` (1xCxrxr, any size) enlarged to ``factor`` x ``photo``'s size (bicubic), then
    back-projected (``SuperResolution.back_project``, ``BP_STEPS``) until, shrunk ``factor`` x (Lanczos, as
    the model's input was made), it gives back ``photo`` (1xCxhxw): the photo keeps every pixel
    of detail it has, the model adds only what lies above it.  Values in [0, ``top``] (a hole:
    give ``photo_with_fill``'s photo).  Worked in bands of ``band_rows`` photo rows with
    ``BP_MARGIN`` rows of context, a channel at a time; ``out_dtype`` torch.uint8 rounds."""
    h, w = photo.shape[-2:]
    f = int(factor)
    H, W = h * f, w * f
    sr = SuperResolution(f) if f > 1 else None  # x1: the photo itself is the consistent image
    s = 2.0 / top  # back_project works on [-1, 1] images
    out = torch.empty(1, photo.shape[1], H, W, dtype=out_dtype)
    for a in range(0, h, band_rows):
        b = min(h, a + band_rows)
        a0, b0 = max(0, a - BP_MARGIN), min(h, b + BP_MARGIN)
        for c in range(photo.shape[1]):
            p = photo[:, c:c + 1, a0:b0] * s - 1
            if sr is None:
                x = p
            else:
                x = upsample_window(model[:, c:c + 1].float(), (H, W), (a0 * f, b0 * f, 0, W)) * s - 1
                x = sr.back_project(x.clamp(-1, 1), p, steps=BP_STEPS)
            keep = (x[:, :, (a - a0) * f:(b - a0) * f] + 1) / s
            out[:, c:c + 1, a * f:b * f] = keep.round() if out_dtype == torch.uint8 else keep
    return out


def sr_composite(rgb: np.ndarray, g_out: torch.Tensor, region: Region, factor: int, hole=None) -> np.ndarray:
    """Full-size super-resolution (also a hybrid that does not colorize): ``region`` enlarged
    ``factor`` x, the model's finished image back-projected onto the photo's own pixels at the
    region's size (``back_project_onto``), so a region larger than the model's input keeps its
    detail; on ``hole`` (HxW bool over the photo) the target is ``photo_with_fill``'s."""
    ys, xs = region.slices()
    photo = torch.from_numpy(np.array(rgb[ys, xs], dtype=np.float32)).permute(2, 0, 1)[None]
    model = (g_out.detach().cpu().float().clamp(-1, 1) + 1) * 127.5
    photo = photo_with_fill(photo, model, _hole_in(hole, region), 255.0)
    x = back_project_onto(model, photo, factor, 255.0, out_dtype=torch.uint8)
    return x[0].permute(1, 2, 0).numpy()


def _hole_in(hole, region: Region):
    h = None if hole is None else np.asarray(hole[region.slices()]).astype(bool)
    return h if h is not None and h.any() else None


def photo_with_fill(photo: torch.Tensor, model: torch.Tensor, hole: np.ndarray | None, top: float) -> torch.Tensor:
    """``photo`` (1xCxhxw) with its ``hole`` pixels (hxw bool) replaced by the model's image at
    the photo's size, shifted by the harmonic continuation of (photo - model) from the hole's rim
    (``seam.seamless_fill``): the fill meets the photo without a step, and a thin scratch takes
    its colour from the pixels on either side while the model supplies what varies inside."""
    if hole is None:
        return photo
    h, w = photo.shape[-2:]
    m = upsample_window(model.float(), (h, w), (0, h, 0, w))
    return seamless_fill(m, photo, torch.from_numpy(~hole), value_range=(0.0, top))


def hybrid_composite(rgb: np.ndarray, g_out: torch.Tensor, region: Region, factor: int, hole=None,
                     chroma_sigma: float = CHROMA_SIGMA, chroma_src: torch.Tensor | None = None) -> np.ndarray:
    """Full-size result of a colorizing hybrid run: ``region`` enlarged ``factor`` x (an
    (h*f)x(w*f)x3 uint8 array).  Lightness: the model's (``g_out``, the finished image)
    back-projected onto the photo's OWN lightness at the region's size (``back_project_onto``);
    on ``hole`` (HxW bool over the photo) onto ``photo_with_fill``'s.  Chroma: the model's
    (``chroma_src``, default ``g_out``: pass the raw image when ``g_out`` was smoothed already),
    smoothed by ``chroma_sigma`` model px and upsampled along that lightness (as
    ``colorize_composite``)."""
    _, Lp = region_lightness(rgb, region)
    g = g_out.detach().cpu().float().clamp(-1, 1)
    Lm = rgb_to_lab((g.double() + 1) / 2)[:, :1].float()
    Lp = photo_with_fill(Lp, Lm, _hole_in(hole, region), 100.0)
    L = back_project_onto(Lm, Lp, factor, 100.0)
    A, B = chroma_coefficients(g_out if chroma_src is None else chroma_src, L, chroma_sigma)
    H2, W2 = L.shape[-2:]
    out = np.empty((H2, W2, 3), dtype=np.uint8)
    for a, b in _bands(H2, W2):
        Lb = L[:, :, a:b]
        out[a:b] = lab_to_uint8(Lb, chroma_rows(A, B, Lb, (H2, W2), a))
    return out


def upsample_window(x: torch.Tensor, size, window, mode: str = "bicubic") -> torch.Tensor:
    """Rows r0:r1, cols c0:c1 of ``x`` resized to ``size`` - without building the rest of the
    big image (the sampling grid of F.interpolate with align_corners=False, edges clamped)."""
    H, W = size
    r0, r1, c0, c1 = window
    h, w = x.shape[-2:]
    if (h, w) == (H, W):
        return x[:, :, r0:r1, c0:c1]
    yy = (torch.arange(r0, r1, dtype=torch.float32) + 0.5) * h / H - 0.5
    xx = (torch.arange(c0, c1, dtype=torch.float32) + 0.5) * w / W - 0.5
    # grid_sample's normalised coordinates with align_corners=False
    gy = (yy + 0.5) / h * 2 - 1
    gx = (xx + 0.5) / w * 2 - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None].to(x.dtype)
    return F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=False)


def resize_result(g_out: torch.Tensor, size) -> Image.Image:
    """The model's square output resized to ``size`` (w, h): Lanczos, exact when equal."""
    from .imaging import to_pil
    img = to_pil(g_out.detach().cpu())
    return img if img.size == tuple(size) else img.resize(tuple(size), Image.LANCZOS)


def colorized(result) -> bool:
    """The run colorized: colorization, or a hybrid whose target (what the loss compares) is gray."""
    return result.task == "colorization" or (result.task == "hybrid" and is_gray(result.target))


def composite_result(image: Image.Image, result, box, task: str, hole=None, feather: int | None = None,
                     chroma_sigma: float = CHROMA_SIGMA):
    """The editor's hook: a finished ``ReconstructionResult`` for the square ``box``
    ((left, top, side) or a Region) written back into the full photo ``image`` (PIL RGB).
    ``hole``: True = filled, at the photo's size or the model's.  Returns a PIL image of the
    photo's size for colorization and inpainting; for super-resolution and the hybrid, the box
    enlarged by the run's factor (``sr_composite``, ``hybrid_composite``: the photo's detail kept);
    None for tasks whose result is the region itself (reconstruct, defend)."""
    region = box if isinstance(box, Region) else Region(int(box[0]), int(box[1]), int(box[2]), int(box[2]))
    t = task.lower()
    rgb = np.asarray(image.convert("RGB"))
    if t.startswith("color"):
        return Image.fromarray(colorize_composite(rgb, result.image, region, feather, chroma_sigma=chroma_sigma))
    full = None
    if hole is not None:
        hole = np.asarray(hole).astype(bool)
        if hole.shape == rgb.shape[:2]:
            full = hole
        else:  # a hole drawn at the model's resolution: spread it over the region
            up = Image.fromarray(hole.astype(np.uint8) * 255).resize((region.width, region.height), Image.NEAREST)
            full = np.zeros(rgb.shape[:2], dtype=bool)
            full[region.slices()] = np.asarray(up) > 127
    if t.startswith("inpaint") and full is not None:
        return Image.fromarray(inpaint_composite(rgb, full, result.final, region, feather))
    f = max(1, result.final.shape[-1] // result.observed.shape[-1])
    if t == "hybrid" and colorized(result):
        return Image.fromarray(hybrid_composite(rgb, result.final, region, f, hole=full,
                                                chroma_sigma=chroma_sigma, chroma_src=result.image))
    if t.startswith("super") or t == "hybrid":
        return Image.fromarray(sr_composite(rgb, result.final, region, f, hole=full))
    return None
