"""Process-wide compute settings: CPU threads, the fast path's precision, CUDA math modes.

Nothing here runs on import.  Entry points (CLI, GUI, bench) call ``configure()`` once;
the engine asks ``fast_dtype()`` / ``search_dtype()`` and wraps fast runs in ``fast_math()``.
Environment overrides: ``DGP_STUDIO_THREADS`` (an integer), ``DGP_STUDIO_PRECISION``
(``fp32`` or ``bf16``: the fast path's compute dtype), ``DGP_STUDIO_TF32_MATMUL`` and
``DGP_STUDIO_CUDNN_BENCHMARK`` (``1``: opt-in CUDA math for measurements, see ``fast_math``),
``DGP_STUDIO_CHANNELS_LAST`` (``0``: NCHW in the fast path), ``DGP_STUDIO_ONE_SN_NODE``
(``0``: a spectral-norm node per layer, see ``one_sn_node``), ``DGP_STUDIO_COMPILE``
(``inductor``: the fast loss under torch.compile, see ``compile_backend``).
"""
from __future__ import annotations

import contextlib
import functools
import math
import os

import torch

_DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def auto_threads() -> int:
    """All usable cores, minus those other processes keep busy (1-minute load average).

    Intra-op thread pools spin at barriers; when another process holds a core, a
    2-thread op waits for a descheduled thread and runs up to 10x slower than on 1
    thread (measured on the 2-core dev machine, see docs/PERFORMANCE.md)."""
    cores = usable_cores()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(1, min(cores, cores - math.ceil(busy - 0.5)))


def configure(device="cpu", threads: int | str | None = "auto") -> dict:
    """Set intra-op threads (``None`` leaves them); returns what is in effect (for logs)."""
    env = os.environ.get("DGP_STUDIO_THREADS")
    if env:
        threads = int(env)
    if threads == "auto":
        threads = None if os.environ.get("OMP_NUM_THREADS") else auto_threads()
    if threads:
        torch.set_num_threads(int(threads))
    dev = torch.device(device)
    info = {"device": str(dev), "threads": torch.get_num_threads(), "fast_dtype": str(fast_dtype(dev)),
            "search_dtype": str(search_dtype(dev))}
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


@functools.lru_cache(maxsize=1)
def cpu_has_bf16_units() -> bool:
    """AMX or AVX512-BF16: oneDNN's bf16 convolutions are then 3-5x faster than fp32.
    (Without them bf16 is emulated and slower, so the fast path stays fp32.)"""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def _env_dtype():
    name = os.environ.get("DGP_STUDIO_PRECISION", "").strip().lower()
    return _DTYPES.get(name)


def cuda_has_bf16_units(device) -> bool:
    """bf16 in hardware (compute capability 8.0 on: Ampere, Hopper ...).  PyTorch's
    ``is_bf16_supported()`` also says yes where bf16 is only emulated (e.g. a Turing T4),
    where bf16 convolutions would be slower than fp32."""
    try:
        return torch.cuda.get_device_capability(device)[0] >= 8
    except (RuntimeError, AssertionError, ValueError):
        return False


def fast_dtype(device) -> torch.dtype:
    """Compute dtype of the fast path's optimisation loop (parameters and Adam stay fp32).
    CUDA: bf16 where supported.  On an H200 (twelfth session, docs/PERFORMANCE.md) a recorded
    BigGAN-256 iteration is bound by its kernels' own time, not by launches (gaps 0.4 ms of
    11.6 ms); bf16 halves the convolutions' share: 13.0 s per colorization against 15.0 s in
    fp32 (TF32 convolutions), fits on three inputs within the spread that fp32 and the exact
    path show on the same inputs."""
    env = _env_dtype()
    if env is not None:
        return env
    dev = torch.device(device)
    if dev.type == "cpu":
        return torch.bfloat16 if cpu_has_bf16_units() else torch.float32
    if dev.type == "cuda" and cuda_has_bf16_units(dev):
        return torch.bfloat16
    return torch.float32


def search_dtype(device) -> torch.dtype:
    """Compute dtype of the batched candidate search (throughput-bound: bf16 pays on GPUs too).
    Only the ranking uses it; the best few candidates are re-scored in fp32."""
    env = _env_dtype()
    if env is not None:
        return env
    dev = torch.device(device)
    if dev.type == "cpu":
        return torch.bfloat16 if cpu_has_bf16_units() else torch.float32
    if dev.type == "cuda" and cuda_has_bf16_units(dev):
        return torch.bfloat16
    return torch.float32


def channels_last(device) -> bool:
    """oneDNN (CPU) and cuDNN both prefer NHWC for these convolutions.
    ``DGP_STUDIO_CHANNELS_LAST=0`` turns it off (to bisect a numerical difference on a GPU:
    the exact path runs NCHW)."""
    if _env_off("DGP_STUDIO_CHANNELS_LAST"):
        return False
    return torch.device(device).type in ("cpu", "cuda")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_off(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("0", "false", "no", "off")


def compile_backend() -> str | None:
    """``DGP_STUDIO_COMPILE``: ``inductor`` (or ``1``) compiles the fast path's loss on CUDA,
    ``aot_eager`` only traces it (tests); unset or ``0``: plain eager (the default, compiled.py
    says why)."""
    name = "DGP_STUDIO_COMPILE"
    v = os.environ.get(name, "").strip().lower()
    if not v or _env_off(name):
        return None
    return "inductor" if _env_flag(name) else v


def one_sn_node() -> bool:
    """Fast path: the tuned layers' spectral norms in one autograd node per iteration (the big
    layers keep their own), their scalar arithmetic as list-wide ``_foreach`` ops
    (fastpath.SNWeights).  On by default: on CUDA each ATen op is a kernel, and a fully tuned
    BigGAN-256 iteration goes from 1,402 to 1,111 ops; on the CPU it measured as fast as the
    earlier node-per-layer code (docs/PERFORMANCE.md).
    ``DGP_STUDIO_ONE_SN_NODE=0`` makes one node per layer instead (the GPU A/B check)."""
    return not _env_off("DGP_STUDIO_ONE_SN_NODE")


@contextlib.contextmanager
def fast_math(device):
    """CUDA settings of a fast run; the previous ones come back afterwards.

    By default the fast path runs with PyTorch's defaults, as the exact path does (cuDNN
    convolutions in TF32, matmuls in full fp32, no cuDNN autotuning).  Two extras were measured
    on an H200 (docs/PERFORMANCE.md) and stay opt-in: DGP_STUDIO_TF32_MATMUL=1 (no faster: 15.0 s
    per colorization either way; the fit stalls once blamed on it were chance, the exact path
    shows them too) and DGP_STUDIO_CUDNN_BENCHMARK=1 (autotuning: ~5 % faster iterations, but its
    trial workspaces took a first run's peak memory to 40 GiB)."""
    if torch.device(device).type != "cuda":
        yield
        return
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    torch.backends.cuda.matmul.allow_tf32 = _env_flag("DGP_STUDIO_TF32_MATMUL")
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default, also in exact runs
    torch.backends.cudnn.benchmark = _env_flag("DGP_STUDIO_CUDNN_BENCHMARK")
    try:
        yield
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
         torch.backends.cudnn.benchmark) = saved
