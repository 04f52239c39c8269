"""Class names: ImageNet's for 1000-class models, the model card's for ours."""
from __future__ import annotations

import functools
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


@functools.lru_cache(maxsize=1)
def imagenet_names() -> tuple[str, ...]:
    path = RESOURCES / "imagenet_classes.tsv"
    if not path.exists():  # installed as a wheel: resources ship inside the package
        path = Path(__file__).resolve().parents[1] / "resources" / "imagenet_classes.tsv"
    names = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        if line.strip():
            idx, name = line.split("\t", 1)
            names[int(idx)] = name.strip()
    return tuple(names[i] for i in range(len(names)))


def class_names(config) -> list[str]:
    if getattr(config, "class_names", None):
        return list(config.class_names)
    if config.n_classes == 1000:
        return list(imagenet_names())
    return [f"class {i}" for i in range(config.n_classes)]


def resolve_class(spec, config) -> int | None:
    """'693', 693, 'paddle' or 'class 3' -> id; None/'unknown' -> None (engine searches)."""
    if spec is None:
        return None
    if isinstance(spec, int):
        idx = spec
    else:
        s = str(spec).strip()
        if s.lower() in ("", "unknown", "auto", "none"):
            return None
        if s.lstrip("-").isdigit():
            idx = int(s)
        else:
            names = class_names(config)
            low = [n.lower() for n in names]
            key = s.lower()
            if key in low:
                idx = low.index(key)
            else:
                hits = [i for i, n in enumerate(low) if key in [p.strip() for p in n.split(",")]]
                hits = hits or [i for i, n in enumerate(low) if key in n]
                if not hits:
                    choices = (f"this model's classes: {', '.join(names)}" if len(names) <= 30 else
                               f"the {len(names)} class names are in the editor's class picker")
                    raise ValueError(f"unknown class '{spec}': no class name contains it ({choices})")
                if len(hits) > 1:
                    shown = ", ".join(f"{i} ({names[i]})" for i in hits[:5])
                    raise ValueError(f"class '{spec}' is ambiguous: {shown}{' ...' if len(hits) > 5 else ''}")
                idx = hits[0]
    if not 0 <= idx < config.n_classes:
        raise ValueError(f"class id {idx} out of range: the model has {config.n_classes} classes")
    return idx
