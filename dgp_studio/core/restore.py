"""One photo through DGP at its own size: pick the region, run the model on it, composite.

Shared by ``dgp-studio restore``, the batch runner and the editor.  What each task returns:

- colorize: the whole photo (default region: the whole frame squeezed into the model's square -
  chroma is low-frequency and the lightness stays the photo's own, so the squeeze does not show;
  a square ``region`` colorizes just that square and fades into the rest);
- inpaint: the whole photo with only the hole (+ a feather band) changed; default region: a
  square around the hole; a hole larger than one square needs several runs with ``region``;
- sr: the region (default: the centred square; whole photos no larger than res/f px go through
  as they are) at f times its size, back-projected onto the photo's own pixels
  (``composite.sr_composite``: a larger region keeps its detail);
- hybrid: the region (default: the whole frame, as colorize) at f times its
  size: the photo's own lightness (back-projected into the model's), the model's colour and fill
  (``composite.hybrid_composite``);
- reconstruct / defend: the region's result at the region's size.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from PIL import Image

from . import composite as cp
from . import presets as presets_mod
from .classes import resolve_class
from .degradations import Inpainting, SuperResolution, lab_recombine, make_degradation
from .imaging import to_pil
from .intake import IntakeImage, open_image
from .reconstructor import ReconstructionResult, Reconstructor

MAX_OUTPUT_PIXELS = 100_000_000  # sr and hybrid write the region f x larger: ~1.2 GB and ~1 min at this size
TASKS = ("colorize", "inpaint", "sr", "hybrid", "reconstruct", "defend")
TASK_PRESET = {"colorize": "colorization", "inpaint": "inpainting", "sr": "super-resolution",
               "hybrid": "hybrid", "reconstruct": "reconstruct", "defend": "defence"}
_ALIASES = {"colorization": "colorize", "colorise": "colorize", "colourise": "colorize", "colourize": "colorize",
            "colorisation": "colorize", "inpainting": "inpaint", "super-resolution": "sr", "super-resolve": "sr",
            "defence": "defend", "defense": "defend", "reconstruction": "reconstruct"}


MAX_ITERS_SCALE = 100  # 140,000 iterations: hours, not forever
MAX_SEED = 2 ** 62  # torch takes 64-bit seeds; a batch or an evaluation adds the photo's index to it
MAX_CANDIDATES = 100_000  # the editor's limit too: 200x the paper's 500, minutes of search, 40 MB of z
MAX_FEATHER = 1000  # px; an inpainting seam grows the hole once per px over the whole photo


def seed_problem(seed: int) -> str | None:
    """Why a seed cannot be used (restore, eval and the manipulations), or None."""
    return f"--seed must be between -{MAX_SEED} and {MAX_SEED}" if abs(int(seed)) > MAX_SEED else None


def schedule_problem(iters_scale: float, seed: int, candidates: int | None = None) -> str | None:
    """Why an iteration scale, a seed or a candidate count cannot be used (restore and eval alike), or None."""
    if not 0 < iters_scale <= MAX_ITERS_SCALE:
        return f"--iters-scale must be > 0 and at most {MAX_ITERS_SCALE} (1 = the paper's schedule)"
    if (problem := seed_problem(seed)):
        return problem
    if candidates is not None and not 0 <= candidates <= MAX_CANDIDATES:
        return f"--candidates must be between 0 and {MAX_CANDIDATES:,} (the paper searches 500)"
    return None


class RestoreError(ValueError):
    """The photo/settings combination cannot be processed; one line for the user."""


def canonical_task(task: str) -> str:
    t = _ALIASES.get(task.lower(), task.lower())
    if t not in TASKS:
        raise RestoreError(f"unknown task '{task}'; choose one of {', '.join(TASKS)}")
    return t


@dataclass
class RestoreSettings:
    task: str
    scale: int | None = None          # sr: 4 by default; hybrid: 2
    class_spec: str | int | None = None
    iters_scale: float = 1.0
    candidates: int | None = None     # overrides the preset's select_num
    seed: int = 0
    exact: bool = False
    region: str | None = None         # 'x,y,size' | 'center' | 'full' | None = the task's default
    feather: int | None = None        # px; None = one model pixel
    chroma_smooth: float | None = None  # colorize: sigma in model px for the model's chroma; None = default
    preset: str | None = None         # preset name; None = the task's

    def __post_init__(self):
        self.task = canonical_task(self.task)
        if self.scale is not None and int(self.scale) not in (2, 4, 8):
            raise RestoreError(f"--scale must be 2, 4 or 8, not {self.scale}")
        problem = schedule_problem(self.iters_scale, self.seed, self.candidates)
        if problem:
            raise RestoreError(problem)
        if self.feather is not None and not 0 <= self.feather <= MAX_FEATHER:
            raise RestoreError(f"--feather must be between 0 and {MAX_FEATHER} px")
        if self.chroma_smooth is not None and not 0 <= self.chroma_smooth <= 16:
            raise RestoreError("--chroma-smooth must be between 0 (off) and 16 model pixels")

    @property
    def factor(self) -> int:
        if self.task == "sr":
            return int(self.scale or 4)
        if self.task == "hybrid":
            return int(self.scale or 2)
        return 1

    def make_preset(self):
        p = presets_mod.get(self.preset or TASK_PRESET[self.task]).scaled(self.iters_scale)
        if self.candidates is not None:
            p = replace(p, select_num=int(self.candidates))
        return p

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RestoreOutput:
    image: Image.Image                 # the result (RGB); attach ``alpha`` when saving
    alpha: Image.Image | None          # the input's transparency, already fitted to ``image``
    result: ReconstructionResult
    region: cp.Region
    model_input: Image.Image           # what the model saw (the region at its resolution)
    region_result: Image.Image         # the model's output for the region (task post-processing)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def losses(self) -> dict:
        return dict(self.result.history[-1]) if self.result.history else {}


def load_mask(path_or_img, size, orientation: int = 1, notes: list | None = None) -> np.ndarray:
    """Mask image (white = fill; see maskimage) -> HxW bool 'hole'; must match the photo's size (or its aspect).
    ``orientation``: the photo's EXIF orientation; a mask of the photo's stored (unturned) size is
    turned the same way, with a note in ``notes``."""
    from .errors import InputError
    from .intake import IntakeError
    from .maskimage import TURNED_NOTE, fit_to_photo, read_fill_coverage
    img = path_or_img
    if not isinstance(img, (Image.Image, np.ndarray)):
        try:
            gray = read_fill_coverage(path_or_img)
        except IntakeError as e:
            raise RestoreError(f"mask: {e}") from None
    else:
        gray = np.asarray(img.convert("L")) if isinstance(img, Image.Image) else np.asarray(img)
        if gray.ndim == 3:
            gray = gray.mean(axis=2)
        if gray.dtype == bool:
            gray = gray.astype(np.uint8) * 255
    try:
        gray, turned = fit_to_photo(gray, size, orientation)
    except InputError as e:
        raise RestoreError(str(e)) from None
    if turned and notes is not None:
        notes.append(TURNED_NOTE)
    return gray > 127


def _choose_region(settings: RestoreSettings, size, res: int, hole, notes) -> cp.Region:
    t = settings.task
    spec = settings.region
    if spec not in (None, "", "auto"):
        try:
            region = cp.parse_region(spec, size)
        except ValueError as e:
            raise RestoreError(str(e)) from None
        if hole is not None:
            inside = hole[region.slices()].sum()
            if inside == 0:
                raise RestoreError("the mask has no pixel inside the chosen region")
            if inside < hole.sum():
                notes.append(f"the mask reaches outside the region: only its part inside "
                             f"({100 * inside / hole.sum():.0f}%) is filled; run again on the result with "
                             "another --region to fill the rest")
        return region
    if t in ("colorize", "hybrid"):
        # the whole frame: colour is low-frequency and the lightness stays the photo's own (an old
        # photo's scratches are filled at the model's scale; restore() says so when that is coarse)
        return cp.full_region(size)
    if t == "inpaint":
        region = cp.region_around(hole, res)
        if region is None:
            raise RestoreError("the mask is larger than one square region of the photo: fill it region by "
                               "region with --region x,y,size (each run on the previous result)")
        return region
    if t == "sr" and max(size) * settings.factor <= res:
        return cp.full_region(size)  # a small whole photo goes straight through
    if t == "sr" and settings.factor > 1:
        # the model's input is res/f px: on a larger square it adds detail only at its own scale
        # (the result is mostly the photo enlarged), so the default is one input's worth of pixels
        side = res // settings.factor
        w, h = size
        notes.append(f"x{settings.factor} super-resolution works on a {side} px square (the model's input): "
                     f"the centred one was used; choose another with --region x,y,{side}")
        return cp.Region((w - side) // 2, (h - side) // 2, side, side)
    return cp.center_region(size)


def colours_from_searched_class(result: ReconstructionResult) -> bool:
    """The class was left to the search and the run colorized (colorization, or a hybrid whose
    target is gray): the loss compares gray images, so the search cannot see colour, and the class
    it picked is a guess that decides the palette (docs/RESULTS.md, "One seed per photo is not enough")."""
    return result.class_searched and cp.colorized(result)


@dataclass
class PreparedRestore:
    """What the model is given for one photo (``prepare``), kept for ``finish``."""
    image: IntakeImage
    settings: RestoreSettings
    model_input: Image.Image
    degradation: object
    class_id: int | None
    region: cp.Region
    hole: np.ndarray | None
    notes: list
    t0: float


def restore(gan, image: IntakeImage | str | Image.Image, settings: RestoreSettings, mask=None, progress=None,
            should_stop=None, reconstructor: Reconstructor | None = None) -> RestoreOutput:
    """Run ``settings.task`` on ``image`` (an ``IntakeImage``, or a path, bytes or PIL image, read
    through ``open_image``); ``mask`` (inpaint/hybrid):
    HxW bool hole (True = fill), a PIL mask (white = fill) or a path."""
    prep = prepare(gan, image, settings, mask)
    rec = reconstructor or Reconstructor(gan, settings.make_preset(), prep.degradation, exact=settings.exact)
    result = rec.run(prep.model_input, class_id=prep.class_id, seed=settings.seed, progress=progress,
                     should_stop=should_stop)
    return finish(gan, prep, result)


def prepare(gan, image: IntakeImage | str | Image.Image, settings: RestoreSettings, mask=None) -> PreparedRestore:
    """Everything before the model runs: region, model input, degradation, class, notes
    (raises RestoreError for what cannot be done).  Batches run several photos' prepared
    inputs as one group (batch.py)."""
    t0 = time.perf_counter()
    if not isinstance(image, IntakeImage):  # a path, bytes or PIL image, as a script would pass it
        image = open_image(image)
    task = settings.task
    res = gan.resolution
    W, H = image.size
    notes = list(image.notes)
    if task in ("colorize", "hybrid"):  # both colorize: suggesting it would be noise
        notes = [n for n in notes if "colorization suggested" not in n]
    if task in ("colorize", "hybrid") and not (image.grayscale or image.toned):
        notes.append("the photo already has colour: the model's colours replace it (lightness is kept)")
    hole = None
    if task == "inpaint" and mask is None:
        raise RestoreError("inpainting needs a mask (--mask PNG, white = pixels to fill)")
    if mask is not None and task in ("inpaint", "hybrid"):
        hole = mask if (isinstance(mask, np.ndarray) and mask.dtype == bool) else \
            load_mask(mask, (W, H), image.info.orientation, notes)
        if hole.shape != (H, W):
            raise RestoreError(f"mask is {hole.shape[1]}x{hole.shape[0]} but the photo is {W}x{H}")
        if not hole.any():
            raise RestoreError("the mask is empty (nothing white): nothing to fill")
    try:
        class_id = resolve_class(settings.class_spec, gan.config)
    except ValueError as e:
        raise RestoreError(str(e)) from None
    region = _choose_region(settings, (W, H), res, hole, notes)
    f = settings.factor
    if task in ("sr", "hybrid") and region.width * region.height * f * f > MAX_OUTPUT_PIXELS:
        raise RestoreError(f"the {task} output would be {region.width * f}x{region.height * f} px "
                           f"({region.width * region.height * f * f / 1e6:.0f} MP, more than "
                           f"{MAX_OUTPUT_PIXELS / 1e6:.0f} MP): choose a smaller --region or reduce the photo first")
    in_side = res // f if task in ("sr", "hybrid") and f > 1 else res
    if task in ("reconstruct", "defend") and max(region.width, region.height) > res:
        notes.append(f"the result is the model's {res} px output enlarged to the {region.width}x{region.height} px "
                     f"region, so it has less detail than the photo (the method works at the model's resolution)")
    if in_side < res and max(region.width, region.height) > in_side:
        # the photo's own pixels are put back (composite.sr_composite / hybrid_composite)
        if task == "hybrid":
            notes.append(f"the model sees the {region.width}x{region.height} px region reduced to {in_side} px: it "
                         f"adds the colour, the fill and detail at its own scale; the result keeps the photo's "
                         f"lightness, enlarged x{f}, wherever the photo is not masked")
        else:
            notes.append(f"the model sees the {region.width}x{region.height} px region reduced to {in_side} px: "
                         f"it adds detail at its own scale only; the result keeps the photo's own detail, "
                         f"enlarged x{f} (a region of {in_side} px is enlarged by the model alone)")
    if task == "hybrid" and hole is not None and region.side > 2 * res:
        notes.append(f"the mask is filled at the model's scale (one of its pixels covers ~{region.side / res:.0f} "
                     f"photo px): thin scratches come out smooth; for a finer fill of a large hole, run with "
                     f"--region x,y,size around it")
    model_in = cp.crop_to_model(image.rgb, region, in_side, hole=hole)

    known = None
    if task == "inpaint":
        hole_m = cp.hole_to_model(hole, region, res)
        known = 1 - hole_m
        if float(known.max()) == 0:  # as the editor says it: the loss would see nothing of the photo
            raise RestoreError("the whole region is masked: leave some of the photo visible so the model has "
                               "something to match (or give a larger --region)")
        if float(known.mean()) < 0.05:  # the loss then sees almost nothing of the photo
            notes.append(f"the mask covers {100 * (1 - float(known.mean())):.0f} % of the region the model "
                         "sees: nothing of the photo is left to explain there, so the fill is the prior's own "
                         "invention; leave some of the surroundings unmasked")
        deg = Inpainting(known)
    elif task == "hybrid":
        parts = ["colorization", "sr"] + (["inpainting"] if hole is not None else [])
        if hole is not None:
            known = 1 - cp.hole_to_model(hole, region, res)
        deg = make_degradation("hybrid", mask=known, scale=f, hybrid_parts=parts)
    elif task == "sr":
        deg = SuperResolution(f)
    else:
        deg = make_degradation(task)
    return PreparedRestore(image, settings, model_in, deg, class_id, region, hole, notes, t0)


def finish(gan, prep: PreparedRestore, result: ReconstructionResult) -> RestoreOutput:
    """The model's result composited into the photo (see the module doc per task)."""
    image, settings, region, hole, notes = prep.image, prep.settings, prep.region, prep.hole, list(prep.notes)
    task, f = settings.task, settings.factor
    if result.cancelled:
        notes.append("cancelled: the result is the last state reached")
    if colours_from_searched_class(result):
        notes.append(f"the colours follow the class the search picked, '{gan.class_name(result.class_id)}'; the "
                     "search cannot see colour, so if the colours are wrong, name the class (--class, or the "
                     "class picker)")

    rgb = image.array()
    alpha = image.alpha
    sigma = cp.CHROMA_SIGMA if settings.chroma_smooth is None else settings.chroma_smooth  # colorize, hybrid
    if task == "colorize":
        out = Image.fromarray(cp.colorize_composite(rgb, result.image, region, settings.feather, chroma_sigma=sigma))
        # the final image has the default smoothing; another --chroma-smooth applies to the region result too
        region_result = to_pil(result.final if sigma == cp.CHROMA_SIGMA else
                               lab_recombine(result.image, result.observed, sigma))
    elif task == "inpaint":
        out = Image.fromarray(cp.inpaint_composite(rgb, hole, result.final, region, settings.feather))
        region_result = to_pil(result.final)
    else:
        size = (region.width * f, region.height * f)
        src = result.final  # the task's own finish (super-resolution: consistent with the input)
        if task == "hybrid":  # the photo's own lightness back-projected in, the model's colour and fill
            out = Image.fromarray(cp.hybrid_composite(rgb, src, region, f, hole=hole, chroma_sigma=sigma,
                                                      chroma_src=result.image))
        elif task == "sr":  # the photo's own pixels back-projected in
            out = Image.fromarray(cp.sr_composite(rgb, src, region, f))
        else:
            out = cp.resize_result(src, size)
        region_result = to_pil(src)
        if alpha is not None:
            alpha = alpha.crop(region.box).resize(size, Image.BILINEAR)
    return RestoreOutput(out, alpha, result, region, prep.model_input, region_result, notes,
                         time.perf_counter() - prep.t0)


def output_record(out: RestoreOutput, settings: RestoreSettings, source=None, model=None, device=None) -> dict:
    """What went into making a result: embedded in the PNG and written to the batch log."""
    r = out.result
    return {
        "status": "ok", "source": str(source) if source is not None else None, "task": settings.task,
        "settings": settings.to_dict(), "class_id": r.class_id, "region": out.region.to_list(),
        "size": list(out.image.size), "seconds": round(out.seconds, 3),
        "losses": {k: round(float(v), 6) for k, v in out.losses.items() if k not in ("stage", "iteration")},
        "steps": r.steps_done, "cancelled": r.cancelled, "model": model, "device": str(device) if device else None,
        "notes": out.notes,
    }
