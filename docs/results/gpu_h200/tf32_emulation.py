"""Does TF32-like rounding stall the fast path's colorization fit? A CPU check (fifth session).

TF32 keeps 10 of fp32's 23 mantissa bits of each matmul/convolution operand.  This rounds the
fp32 operands of the fast path's convolutions and/or matmuls that way in the forward pass
(straight-through for gradients; the backward's own products are not rounded) and compares the
full colorization run with the plain fp32 one, on the bundled prior:

    PYTHONPATH=. python docs/results/gpu_h200/tf32_emulation.py chelsea.png [ITERS_SCALE]

Seen (chelsea, full preset, 2 threads): fit 28.86 dB fp32, 29.15 dB with rounded convolutions,
28.85 dB with rounded convolutions and matmuls -- no stall on this model (see PERFORMANCE.md).
"""
import sys
import time

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from dgp_studio.core import presets
from dgp_studio.core.checkpoint import load_biggan
from dgp_studio.core.degradations import Colorization
from dgp_studio.core.imaging import fit_square, open_rgb, to_tensor
from dgp_studio.core.metrics import psnr, tensor01
from dgp_studio.core.reconstructor import Reconstructor


def tf32(x: torch.Tensor) -> torch.Tensor:
    """Round an fp32 tensor to TF32's 10-bit mantissa (nearest); gradients pass straight through."""
    i = x.detach().contiguous().view(torch.int32)
    r = ((i + 0x1000) & ~0x1FFF).view(torch.float32).view_as(x)
    return x + (r - x.detach()) if x.requires_grad else r


MATMULS = {F.linear, torch.matmul, torch.Tensor.__matmul__, torch.bmm, torch.mm, torch.addmm, torch.Tensor.addmm_}
CONVS = {F.conv2d}


class RoundOperands(TorchFunctionMode):
    def __init__(self, funcs):
        super().__init__()
        self.funcs = funcs

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.funcs:
            args = tuple(tf32(a) if isinstance(a, torch.Tensor) and a.dtype == torch.float32 else a for a in args)
        return func(*args, **(kwargs or {}))


def main():
    torch.set_num_threads(2)
    gan = load_biggan()
    deg = Colorization()
    obs = deg.simulate(to_tensor(fit_square(open_rgb(sys.argv[1]), gan.resolution)))
    preset = presets.get("colorization").scaled(float(sys.argv[2]) if len(sys.argv) > 2 else 1.0)
    for name, funcs in (("fp32", set()), ("tf32 convs", CONVS), ("tf32 convs+matmuls", CONVS | MATMULS)):
        t = time.time()
        with RoundOperands(funcs):
            r = Reconstructor(gan, preset, Colorization(), precision="fp32").run(obs, class_id=0, seed=0)
        fit = psnr(tensor01(deg(r.image)), tensor01(r.target))
        print(f"{name:20s} fit {fit:.2f} dB, last losses {r.history[-1]}, {time.time() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
