"""Saving a finished reconstruction so manipulations never rerun the optimisation.

One safetensors file: tensors (z, class embedding, images, tuned generator
state) and a JSON metadata entry with the settings and a format version.
"""
from __future__ import annotations

import json
from pathlib import Path


from .presets import Preset
from .reconstructor import ReconstructionResult
from .resultcheck import fit_problem
from .tensorfile import TensorFileError, load_tensors, read_metadata, save_tensors

SESSION_FORMAT = "dgp-studio-session"
SESSION_VERSION = 1


class SessionError(ValueError):
    pass


def model_fingerprint(gan) -> str:
    c = gan.config
    return f"{gan.name}:{c.resolution}px:G{c.G_ch}:D{c.D_ch}:z{c.dim_z}:n{c.n_classes}"


def save_session(result: ReconstructionResult, path, gan=None, extra: dict | None = None) -> Path:
    path = Path(path)
    tensors = {"z": result.z, "class_embedding": result.class_embedding, "image": result.image,
               "final": result.final, "target": result.target, "observed": result.observed}
    tensors.update({f"G.{k}": v for k, v in result.generator_state.items()})
    meta = {
        "format": SESSION_FORMAT, "version": SESSION_VERSION, "class_id": result.class_id,
        "task": result.task, "seed": result.seed, "preset": result.preset.to_dict(),
        "norm_blocks": list(result.norm_blocks), "cancelled": result.cancelled,
        "stopped_early": result.stopped_early, "stages_done": result.stages_done,
        "steps_done": result.steps_done, "exact": result.exact, "timings": result.timings,
        "class_searched": result.class_searched,
        "model": model_fingerprint(gan) if gan is not None else None,
        "history": result.history[-2000:], **(extra or {}),
    }
    save_tensors(tensors, path, {"dgp_studio": json.dumps(meta)})
    return path


def is_session_file(path) -> bool:
    """Whether ``path`` holds a DGP Studio session (its header alone is read)."""
    try:
        meta = json.loads(read_metadata(path).get("dgp_studio", ""))
    except (TensorFileError, OSError, json.JSONDecodeError):
        return False
    return isinstance(meta, dict) and meta.get("format") == SESSION_FORMAT


def _looks_like_image(path) -> bool:
    import warnings

    from .intake import probe  # header only: no pixels decoded
    try:
        with warnings.catch_warnings():  # junk that starts like a TIFF makes Pillow warn about its EXIF
            warnings.simplefilter("ignore")
            probe(path)
        return True
    except Exception:  # noqa: BLE001 - anything unreadable is simply not an image
        return False


def load_session(path, gan=None) -> tuple[ReconstructionResult, dict]:
    try:
        tensors, raw = load_tensors(path)
    except (TensorFileError, OSError) as e:
        if _looks_like_image(path):
            raise SessionError(f"{path}: is an image, not a DGP Studio session (a session is written by "
                               "'dgp-studio restore ... --save-session FILE')") from None
        raise SessionError(f"{path}: not a DGP Studio session ({e})") from None
    try:
        meta = json.loads(raw["dgp_studio"])
        if not isinstance(meta, dict) or meta.get("format") != SESSION_FORMAT:
            raise KeyError("format")
    except (KeyError, json.JSONDecodeError, TypeError):
        raise SessionError(f"{path}: not a DGP Studio session (no settings block)") from None
    if not isinstance(meta.get("version", 0), int) or meta.get("version", 0) > SESSION_VERSION:
        raise SessionError(f"{path}: written by a newer DGP Studio (format {meta['version']})")
    if gan is not None and meta.get("model") and meta["model"] != model_fingerprint(gan):
        raise SessionError(f"{path}: made with model '{meta['model']}', not the loaded "
                           f"'{model_fingerprint(gan)}' - pass the same --model")
    try:
        state = {k[2:]: v.float() if v.is_floating_point() else v for k, v in tensors.items() if k.startswith("G.")}
        result = ReconstructionResult(
            image=tensors["image"], final=tensors["final"], z=tensors["z"].float(), class_id=int(meta["class_id"]),
            class_embedding=tensors["class_embedding"].float(), generator_state=state, target=tensors["target"],
            observed=tensors["observed"], preset=Preset.from_dict(meta["preset"]), task=meta["task"],
            seed=int(meta["seed"]), norm_blocks=tuple(meta.get("norm_blocks", ())),
            history=meta.get("history", []), cancelled=meta.get("cancelled", False),
            stopped_early=meta.get("stopped_early", False), stages_done=meta.get("stages_done", 0),
            steps_done=meta.get("steps_done", 0), timings=meta.get("timings", {}), exact=meta.get("exact", False),
            class_searched=bool(meta.get("class_searched", False)))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SessionError(f"{path}: incomplete session ({e})") from None
    if gan is not None:
        problem = fit_problem(result, gan)
        if problem:
            raise SessionError(f"{path}: damaged or not made for this model: {problem}")
    return result, meta
