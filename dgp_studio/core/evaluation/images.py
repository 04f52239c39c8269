"""The evaluation images: a folder searched recursively, centre-cropped to the model's resolution.

Class of each image: if its parent folder (below the root) is named like one of the model's
classes (case-insensitive; '_' and '-' count as spaces; for ImageNet names any comma-separated
alias matches), that class is used; otherwise the class is unknown and the engine searches
over classes (DGP.md section 5).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..classes import class_names
from ..imaging import fit_square, open_rgb, to_tensor

EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}


@dataclass
class EvalImage:
    name: str              # path relative to the root, '/'-separated (unique in a report)
    path: Path
    clean: torch.Tensor    # 1x3xRxR in [-1, 1]
    class_id: int | None   # None = unknown (the engine searches)
    class_name: str | None
    source_size: tuple     # (width, height) of the file
    index: int = 0         # position among the folder's readable images: seed = base seed + index


def find_images(root) -> list[Path]:
    """Every image file under ``root`` (recursive), sorted by relative path; hidden files skipped."""
    root = Path(root)
    found = [p for p in root.rglob("*")
             if p.is_file() and p.suffix.lower() in EXTENSIONS
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _norm(s: str) -> str:
    return " ".join(s.lower().replace("_", " ").replace("-", " ").split())


def class_lookup(config) -> dict[str, int]:
    """Normalised class name (and each comma-separated alias) -> class id; ambiguous aliases dropped."""
    table: dict[str, int] = {}
    clash: set[str] = set()
    for i, name in enumerate(class_names(config)):
        keys = {_norm(name)} | {_norm(a) for a in name.split(",") if a.strip()}
        for k in keys:
            if k in table and table[k] != i:
                clash.add(k)
            table.setdefault(k, i)
    for k in clash:
        table.pop(k, None)
    return table


def class_from_folder(path: Path, root: Path, lookup: dict[str, int]) -> int | None:
    rel = path.relative_to(root)
    if len(rel.parts) < 2:
        return None  # directly in the root: no class folder
    return lookup.get(_norm(rel.parts[-2]))


def load_images(root, config, n: int | None = None, warn=None) -> list[EvalImage]:
    """First ``n`` readable images under ``root`` at ``config.resolution`` (unreadable ones are skipped)."""
    root = Path(root)
    lookup = class_lookup(config)
    names = class_names(config)
    out: list[EvalImage] = []
    for path in find_images(root):
        if n is not None and len(out) >= n:
            break
        try:
            img = open_rgb(path)
        except Exception as e:  # a broken file must not end a long evaluation
            if warn:
                warn(f"skipping {path}: {e}")
            continue
        cid = class_from_folder(path, root, lookup)
        clean = to_tensor(fit_square(img, config.resolution))
        out.append(EvalImage(name=path.relative_to(root).as_posix(), path=path, clean=clean, class_id=cid,
                             class_name=names[cid] if cid is not None else None, source_size=img.size,
                             index=len(out)))
    return out
