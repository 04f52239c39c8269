"""One opened photo: its pixels, the region that goes through the model, its mask, its timeline."""
from __future__ import annotations

import itertools
import secrets
from pathlib import Path

import numpy as np
from PIL import Image

from dgp_studio.core.imaging import center_square

from .imageconv import pil_to_qimage
from .mask_layer import MaskLayer
from .timeline import TimelineData

_ids = itertools.count(1)


class Document:
    def __init__(self, image: Image.Image, path=None, note: str = "", alpha=None, suggestion=None, exif=None,
                 orientation: int = 1):
        self.id = next(_ids)
        self.orientation = orientation  # the file's EXIF orientation (already applied): a loaded mask may need it
        self.exif = exif                # the photo's EXIF (camera, date), upright: written into exports
        self.alpha = alpha              # kept to re-attach on export (PNG/WebP)
        self.suggestion = suggestion    # e.g. "colorize" for a monochrome photo
        self.path = Path(path) if path else None
        self.image = image if image.mode == "RGB" else image.convert("RGB")
        self.note = note
        self.qimage = pil_to_qimage(self.image)
        self.region = center_square(self.image)
        self.mask = MaskLayer(self.image.width, self.image.height)
        self.timeline = TimelineData()
        self.exported = True       # nothing to lose until a result exists
        # project file state (gui/project_io.py): edits bump ``revision``; a save or an
        # autosave records the revision it wrote, so "unsaved" is a comparison
        self.project_path: Path | None = None
        self.project_uid = secrets.token_hex(8)
        self.project_data = None       # the opened core.project.Project (its results re-attach on model change)
        self.original_bytes: bytes | None = None   # the embedded original, when opened from a project
        self.embed = True              # the save dialog's "embed the photo" choice
        self.run_settings: dict | None = None      # the task panel as it was for the last run (saved in projects)
        self.revision = 0
        self.saved_revision = 0
        self.autosaved_revision = 0

    def touch(self) -> None:
        """Something worth saving changed (result, mask, region)."""
        self.revision += 1

    @property
    def project_saved(self) -> bool:
        return self.project_path is not None and self.revision == self.saved_revision

    @classmethod
    def open(cls, path) -> "Document":
        from dgp_studio.core import intake  # EXIF, 16-bit, CMYK, palette, alpha, size limits
        return cls.from_intake(intake.open_image(path), path)

    @classmethod
    def from_intake(cls, loaded, path=None) -> "Document":
        """A document for a photo read by ``core.intake.open_image`` (``path``: where it lives, or None)."""
        return cls(loaded.rgb.convert("RGB"), path, loaded.note, loaded.alpha, loaded.suggestion, loaded.exif,
                   loaded.info.orientation)

    @property
    def name(self) -> str:
        if self.project_path is not None:
            return self.project_path.name
        return self.path.name if self.path else f"untitled-{self.id}"

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    def full_hole(self) -> np.ndarray:
        """Bool HxW at the photo's size: True = pixel to fill."""
        return self.mask.coverage() >= 0.5

    def is_grayscale(self) -> bool:
        if self.suggestion is not None:
            return self.suggestion.startswith("color")
        small = np.asarray(self.image.resize((64, 64)), dtype=np.int16)
        return int(np.abs(small - small.mean(axis=2, keepdims=True)).max()) <= 3
