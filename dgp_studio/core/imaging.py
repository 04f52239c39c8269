"""Conversions between what users hold (PIL, uint8 arrays) and the engine's tensors."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def to_tensor(image, device="cpu") -> torch.Tensor:
    """PIL image, HxWx3 uint8/float array, or 1x3xHxW tensor in [-1, 1] -> 1x3xHxW float32."""
    if isinstance(image, torch.Tensor):
        t = image.detach().float()
        if t.dim() == 3:
            t = t.unsqueeze(0)
        if t.dim() != 4 or t.shape[1] != 3:
            raise ValueError(f"expected a 1x3xHxW tensor, got shape {tuple(image.shape)}")
        return t.to(device)
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 image, got shape {arr.shape}")
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        x = torch.from_numpy(arr.astype(np.float32) / 127.5 - 1)
    elif arr.dtype == np.uint16:
        x = torch.from_numpy(arr.astype(np.float32) / 32767.5 - 1)
    else:
        x = torch.from_numpy(arr.astype(np.float32))
        if x.min() >= 0 and x.max() <= 1:
            x = x * 2 - 1
    return x.permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """1x3xHxW (or 3xHxW) in [-1, 1] -> HxWx3 uint8."""
    if t.dim() == 4:
        t = t[0]
    a = ((t.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return a.permute(1, 2, 0).numpy()


def to_pil(t: torch.Tensor) -> Image.Image:
    return Image.fromarray(to_uint8(t))


def center_square(img: Image.Image) -> tuple[int, int, int]:
    """(left, top, side) of the centred square on the short side."""
    s = min(img.size)
    return (img.width - s) // 2, (img.height - s) // 2, s


def fit_square(img: Image.Image, size: int, box=None) -> Image.Image:
    """Crop a square (default: centred) and resize it to ``size`` with Lanczos."""
    left, top, side = box if box is not None else center_square(img)
    crop = img.crop((left, top, left + side, top + side))
    return crop if crop.size == (size, size) else crop.resize((size, size), Image.LANCZOS)


def open_rgb(path) -> Image.Image:
    """8-bit sRGB pixels of a photo as shown, through the full intake (EXIF orientation, 16-bit
    and float scaled rather than clipped, CMYK, palette); its errors are ``IntakeError`` lines."""
    from .intake import open_image
    return open_image(path).rgb
