"""Presets: the paper's per-stage schedules as frozen dataclasses.

Field names follow the authors' scripts.  Override with ``dataclasses.replace``:
``replace(presets.get("colorization"), iterations=(50, 50, 50, 50, 50))``.
Numbers are DGP.md section 7 (256 px release examples) unless marked "ours".
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

_STAGE_FIELDS = ("iterations", "ft_num", "ftr_num", "G_lrs", "z_lrs", "lr_ratio", "w_D_loss", "w_mse", "use_in")


@dataclass(frozen=True)
class Preset:
    name: str
    task: str
    iterations: tuple
    ft_num: tuple
    ftr_num: tuple
    G_lrs: tuple
    z_lrs: tuple
    lr_ratio: tuple
    w_D_loss: tuple
    w_mse: tuple
    use_in: tuple = ()
    w_nll: float = 0.02
    select_num: int = 500
    sample_std: float = 0.3
    update_embed: bool = False
    stop_mse: float = 0.0
    stop_ftr: float = 0.0
    description: str = field(default="", compare=False)

    def __post_init__(self):
        n = len(self.iterations)
        if n == 0:
            raise ValueError(f"preset '{self.name}': needs at least one stage")
        fixed = {}
        for f in _STAGE_FIELDS:
            v = getattr(self, f)
            if f == "use_in" and len(v) == 0:
                v = (False,) * n
            if not isinstance(v, (tuple, list)):
                v = (v,) * n  # a scalar applies to every stage
            v = tuple(v)
            if len(v) != n:
                raise ValueError(f"preset '{self.name}': '{f}' has {len(v)} values for {n} stages")
            fixed[f] = v
        for f, v in fixed.items():
            object.__setattr__(self, f, v)
        if any(int(i) < 0 for i in self.iterations):
            raise ValueError(f"preset '{self.name}': negative iteration count")
        if self.select_num < 0 or self.sample_std < 0:
            raise ValueError(f"preset '{self.name}': select_num and sample_std must be >= 0")

    @property
    def n_stages(self) -> int:
        return len(self.iterations)

    @property
    def total_iterations(self) -> int:
        return int(sum(self.iterations))

    def clipped(self, n_groups: int, n_features: int) -> "Preset":
        """``ft``/``k`` larger than the model has mean 'all of them'."""
        return replace(self, ft_num=tuple(min(int(f), n_groups) for f in self.ft_num),
                       ftr_num=tuple(min(int(k), n_features) for k in self.ftr_num))

    def scaled(self, factor: float) -> "Preset":
        """Same schedule with iterations scaled (the speed/quality choice)."""
        if factor == 1:
            return self
        return replace(self, iterations=tuple(max(1, round(i * factor)) if i else 0 for i in self.iterations))

    def stage(self, s: int) -> dict:
        return {f: getattr(self, f)[s] for f in _STAGE_FIELDS}

    def to_dict(self) -> dict:
        d = asdict(self)
        for f in _STAGE_FIELDS:
            d[f] = list(d[f])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Preset":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for f in _STAGE_FIELDS:
            if f in known:
                known[f] = tuple(known[f])
        return cls(**known)


ALL = 99  # "every group" / "every feature": clipped to the model

COLORIZATION = Preset(
    name="colorization", task="colorization",
    iterations=(200, 200, 300, 400, 300), ft_num=(2, 3, 4, 5, 6), ftr_num=(7,) * 5,
    G_lrs=(5e-5, 5e-5, 5e-5, 5e-5, 2e-5), z_lrs=(2e-3, 1e-3, 5e-4, 5e-5, 2e-5),
    lr_ratio=(0.7, 0.7, 0.8, 0.9, 1.0), w_D_loss=(1,) * 5, w_mse=(0,) * 5,
    w_nll=0.02, select_num=500, sample_std=0.5,
    description="Colorize a grayscale photo; the result keeps the input's lightness (Lab).")

INPAINTING = Preset(
    name="inpainting", task="inpainting",
    iterations=(200,) * 5, ft_num=(7,) * 5, ftr_num=(8,) * 5,
    G_lrs=(5e-5, 5e-5, 2e-5, 2e-5, 1e-5), z_lrs=(2e-3, 1e-3, 2e-5, 2e-5, 1e-5),
    lr_ratio=(1,) * 5, w_D_loss=(1, 1, 1, 1, 0.5), w_mse=(1, 1, 1, 1, 10),
    w_nll=0.02, select_num=500, sample_std=0.3, update_embed=True,
    description="Fill masked regions from the GAN's prior.")

SUPER_RESOLUTION = Preset(
    name="super-resolution", task="super-resolution",
    iterations=(200,) * 5, ft_num=(2, 3, 4, 5, 7), ftr_num=(8,) * 5,
    G_lrs=(5e-5, 5e-5, 2e-5, 1e-5, 1e-5), z_lrs=(2e-3, 1e-3, 2e-5, 1e-5, 1e-5),
    lr_ratio=(1,) * 5, w_D_loss=(1,) * 5, w_mse=(1,) * 5,
    w_nll=0.02, select_num=500, sample_std=0.3,
    description="x4 super-resolution, discriminator-biased (sharper, slightly lower PSNR).")

# ours: the MSE-biased variant raises the pixel loss in the last stage, as the inpainting schedule does
SUPER_RESOLUTION_MSE = replace(
    SUPER_RESOLUTION, name="super-resolution-mse", w_D_loss=(1, 1, 1, 1, 0.5), w_mse=(1, 1, 1, 1, 10),
    description="x4 super-resolution, MSE-biased (higher PSNR, smoother).")

# ours: the inpainting schedule (update_embed) drives the combined colorization + inpainting + x2 SR
HYBRID = replace(INPAINTING, name="hybrid", task="hybrid",
                 description="Several degradations at once (default colorization + inpainting + x2 SR).")

# ours: identity phi; the colorization-shaped schedule with the pixel loss on
RECONSTRUCT = Preset(
    name="reconstruct", task="reconstruct",
    iterations=(200, 200, 300, 400, 300), ft_num=(2, 3, 4, 5, ALL), ftr_num=(8,) * 5,
    G_lrs=(5e-5, 5e-5, 5e-5, 5e-5, 2e-5), z_lrs=(2e-3, 1e-3, 5e-4, 5e-5, 2e-5),
    lr_ratio=(1,) * 5, w_D_loss=(1,) * 5, w_mse=(1,) * 5,
    w_nll=0.02, select_num=500, sample_std=0.3,
    description="Explain the photo as it is (for manipulation or as a check).")

DEFENCE = Preset(
    name="defence", task="defence",
    iterations=(100, 900), ft_num=(ALL, ALL), ftr_num=(8, 8),
    G_lrs=(2e-7, 1e-4), z_lrs=(5e-2, 1e-4), lr_ratio=(1, 1), w_D_loss=(0, 0), w_mse=(1, 1),
    w_nll=0.02, select_num=500, sample_std=0.3, stop_mse=5e-3,
    description="Remove adversarial noise: reconstruct with MSE and stop early at MSE 5e-3.")

JITTER = Preset(
    name="jitter", task="reconstruct",
    iterations=(125, 125, 100), ft_num=(ALL,) * 3, ftr_num=(8,) * 3,
    G_lrs=(2e-7, 2e-5, 2e-6), z_lrs=(1e-1, 1e-2, 2e-4), lr_ratio=(1,) * 3,
    w_D_loss=(1,) * 3, w_mse=(0,) * 3, w_nll=0.2, select_num=500, sample_std=0.5,
    description="Reconstruction tuned for random jitter of the scene.")

CATEGORY_TRANSFER = replace(JITTER, name="category-transfer",
                            description="Reconstruction tuned for changing the class, same pose.")

MORPHING = replace(JITTER, name="morphing", update_embed=True,
                   description="Reconstruction of each image of a morph pair.")

_PRESETS = {p.name: p for p in (COLORIZATION, INPAINTING, SUPER_RESOLUTION, SUPER_RESOLUTION_MSE, HYBRID,
                                RECONSTRUCT, DEFENCE, JITTER, CATEGORY_TRANSFER, MORPHING)}
_ALIASES = {"colorize": "colorization", "inpaint": "inpainting", "sr": "super-resolution",
            "sr4": "super-resolution", "sr-mse": "super-resolution-mse", "defend": "defence",
            "defense": "defence", "reconstruction": "reconstruct", "transfer": "category-transfer",
            "morph": "morphing"}


def names() -> list[str]:
    return list(_PRESETS)


def get(name: str) -> Preset:
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _PRESETS:
        raise KeyError(f"unknown preset '{name}'; choose one of {', '.join(_PRESETS)}")
    return _PRESETS[key]
