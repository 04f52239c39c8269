"""Minimal safetensors reader/writer (the format is a JSON header + raw bytes).

Written here rather than adding a dependency: ~60 lines, no code execution on
read, and it handles bf16/fp16 which we use for caches and the bundled model.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch

from .fsutil import atomic_target

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024


class TensorFileError(ValueError):
    pass


def save_tensors(tensors: dict[str, torch.Tensor], path, metadata: dict[str, str] | None = None) -> None:
    """Atomic write: a temp file in the same folder, then ``os.replace``."""
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        if t.dtype not in _NAMES:
            raise TensorFileError(f"{name}: dtype {t.dtype} is not storable")
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    path = Path(path)
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for c in chunks:
            f.write(c)


def _read_header(f, path, size: int) -> tuple[dict, int]:
    """(the JSON header, its length) from an open file of ``size`` bytes, positioned at 0."""
    head = f.read(8)
    if len(head) < 8:
        raise TensorFileError(f"{path}: too short to be a safetensors file")
    (n,) = struct.unpack("<Q", head)
    if n > MAX_HEADER or 8 + n > size:
        raise TensorFileError(f"{path}: header length {n} does not fit the file (truncated or not safetensors)")
    try:
        header = json.loads(f.read(n))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TensorFileError(f"{path}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise TensorFileError(f"{path}: header is not a JSON object")
    return header, n


def read_metadata(path) -> dict[str, str]:
    """The ``__metadata__`` block alone, from the header (no tensor data is read)."""
    with open(path, "rb") as f:
        header, _ = _read_header(f, path, os.fstat(f.fileno()).st_size)
    meta = header.get("__metadata__")
    return meta if isinstance(meta, dict) else {}


def load_tensors(path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with open(path, "rb") as f:
        header, n = _read_header(f, path, os.fstat(f.fileno()).st_size)
        buf = memoryview(f.read())
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = [int(s) for s in info["shape"]]
            a, b = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise TensorFileError(f"{path}: bad entry for tensor '{name}'") from None
        numel = 1
        for s in shape:
            numel *= s
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not (0 <= a <= b <= len(buf)) or b - a != numel * itemsize:
            raise TensorFileError(f"{path}: tensor '{name}' points outside the file (truncated?)")
        raw = bytearray(buf[a:b])
        t = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
        out[name] = t.view(dtype).reshape(shape).clone()
    return out, meta
