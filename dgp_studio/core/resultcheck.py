"""Does a stored (z, c, θ) fit the loaded model, with finite numbers?  One check for sessions
and cached results (disk cache, projects) before anything renders from them.

Sessions carry no checksum: a damaged or hand-edited one failed deep inside G ("mat1 and mat2
shapes cannot be multiplied"), or rendered NaN as a black image without a word.
"""
from __future__ import annotations

import torch


def fit_problem(result, gan) -> str | None:
    """None when ``result`` can be rendered by ``gan``; otherwise one line saying what is wrong."""
    cfg = gan.G.config
    for name, t, width in (("z", result.z, cfg.dim_z),
                           ("class embedding", result.class_embedding, gan.G.shared.weight.shape[1])):
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or tuple(t.shape) != (1, width):
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            return f"its {name} has shape {shape}, the model needs (1, {width})"
        if not t.is_floating_point():
            return f"its {name} is not floating point ({t.dtype})"
        if not bool(torch.isfinite(t).all()):
            return f"its {name} holds values that are not finite (NaN or infinity)"
    if not 0 <= int(result.class_id) < cfg.n_classes:
        return f"its class {result.class_id} is not one of the model's {cfg.n_classes} classes"
    state = result.generator_state
    for k, base in gan.G.state_dict().items():
        v = state.get(k)
        if not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(base.shape):
            return f"generator tensor '{k}' does not fit the loaded model"
        if base.is_floating_point() and not v.is_floating_point():
            return f"generator tensor '{k}' is not floating point ({v.dtype})"
        # tensors shared with the model (a cached result keeps the base's untouched ones) are the model's own
        if v.is_floating_point() and v.data_ptr() != base.data_ptr() and not bool(torch.isfinite(v).all()):
            return f"generator tensor '{k}' holds values that are not finite (NaN or infinity)"
    return None
