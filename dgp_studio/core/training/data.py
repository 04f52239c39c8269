"""A folder of class folders as training data: cached in memory, multi-scale random square crops.

``DATA_DIR/<class>/*.png|jpg|...``: each sub-folder is a class (sorted by name).
Folders whose names start with ``_`` or ``.`` are skipped (extras such as cut-outs).
Images are decoded once and kept as uint8 tensors whose short side is just large
enough that the smallest crop still has ``resolution`` pixels, so every crop is
downscaled (never upscaled) when the source allows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import intake

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


class DatasetError(ValueError):
    """The data folder cannot be used; the message is one line."""


@dataclass
class ClassFolder:
    name: str
    files: list


def scan_class_folders(root) -> list[ClassFolder]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    classes = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        files = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTS)
        if files:
            classes.append(ClassFolder(d.name, files))
    if not classes:
        raise DatasetError(f"{root}: no class folders with images (expected {root}/<class>/<image>.png)")
    return classes


def _load_small(path: Path, short_side: int) -> torch.Tensor:
    """Through the intake (EXIF orientation, 16-bit and float scaled, CMYK, colour profiles, as
    restore reads photos), decoded small where the format allows; transparency over white;
    shrunk so the short side is <= ``short_side``; 3xHxW uint8."""
    info = intake.probe(path)
    w, h = info.stored_size
    # decode no smaller than twice the short side we keep (JPEG at 1/2, 1/4, 1/8 directly)
    photo = intake.open_image(path, max_side=math.ceil(2 * short_side * max(w, h) / max(1, min(w, h))))
    im = photo.rgb
    if photo.alpha is not None:
        im = Image.composite(im, Image.new("RGB", im.size, (255, 255, 255)), photo.alpha)
    s = min(im.size)
    if s > short_side:
        f = short_side / s
        im = im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.LANCZOS)
    return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).contiguous()


class ClassFolderDataset:
    """All images of a class-folder tree in memory; ``sample`` draws a batch of random crops.

    Classes are drawn uniformly (small classes are not drowned by large ones), then an
    image of that class, then a square crop whose side is a fraction ``U(min_scale, 1)``
    of the image's short side, optionally mirrored, resized to ``resolution``.
    """

    def __init__(self, root, resolution: int, min_scale: float = 0.4, flip: bool = True,
                 progress=None):
        if not 0 < min_scale <= 1:
            raise DatasetError(f"min_scale must be in (0, 1], got {min_scale}")
        self.root = Path(root)
        self.resolution = int(resolution)
        self.min_scale = float(min_scale)
        self.flip = flip
        folders = scan_class_folders(root)
        self.class_names = [c.name for c in folders]
        short = math.ceil(self.resolution / self.min_scale)
        self.images: list[torch.Tensor] = []
        self.labels: list[int] = []
        self.files: list[Path] = []
        total = sum(len(c.files) for c in folders)
        bad = []
        for ci, c in enumerate(folders):
            for f in c.files:
                try:
                    self.images.append(_load_small(f, short))
                except (OSError, ValueError, Image.DecompressionBombError) as e:  # IntakeError is a ValueError
                    bad.append(f"{f.relative_to(root)}: {e}")
                    continue
                self.labels.append(ci)
                self.files.append(f)
                if progress:
                    progress(len(self.images) + len(bad), total)
        self.skipped = bad
        self.by_class = [[i for i, l in enumerate(self.labels) if l == ci] for ci in range(len(folders))]
        empty = [self.class_names[i] for i, idx in enumerate(self.by_class) if not idx]
        if empty:
            raise DatasetError(f"{self.root}: no readable images in class folder(s) {', '.join(empty)}")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.images)

    def class_counts(self) -> dict[str, int]:
        return {n: len(idx) for n, idx in zip(self.class_names, self.by_class)}

    def crop(self, img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """One random square crop -> 3 x res x res float in [-1, 1]."""
        _, h, w = img.shape
        s = min(h, w)
        u = torch.rand(4, generator=gen).tolist()
        side = max(1, round(s * (self.min_scale + (1 - self.min_scale) * u[0])))
        top = int(u[1] * (h - side + 1))
        left = int(u[2] * (w - side + 1))
        x = img[:, top:top + side, left:left + side].float().unsqueeze(0)
        if side != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear",
                              align_corners=False, antialias=side > self.resolution)
        if self.flip and u[3] < 0.5:
            x = x.flip(3)
        return (x[0] / 127.5 - 1).clamp(-1, 1)

    def sample(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(n x 3 x res x res images in [-1, 1], n class ids)."""
        ys = torch.randint(0, self.n_classes, (n,), generator=gen)
        xs = []
        for y in ys.tolist():
            idx = self.by_class[y]
            i = idx[int(torch.randint(0, len(idx), (1,), generator=gen))]
            xs.append(self.crop(self.images[i], gen))
        return torch.stack(xs), ys
