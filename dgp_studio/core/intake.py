"""Image intake: any photo file -> oriented 8-bit sRGB (+ alpha kept aside) with notes.

What users bring is rarely a clean 8-bit RGB square: phones store rotation in EXIF,
scanners write 16-bit or CMYK, screenshots carry alpha, GIFs are palettes.  ``open_image``
turns all of them into what the engine expects and says what it did in ``notes``.
The file is only ever opened for reading.
"""
from __future__ import annotations

import io
import math
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

try:  # colour management is optional in Pillow builds
    from PIL import ImageCms
except ImportError:  # pragma: no cover - depends on the Pillow build
    ImageCms = None

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".jfif")
# default safety limit against decompression bombs (a 12 MP photo is far below it)
DEFAULT_MAX_PIXELS = 200_000_000
_ORIENTATION_TEXT = {2: "mirrored", 3: "rotated 180°", 4: "flipped", 5: "transposed",
                     6: "rotated 90° clockwise", 7: "transversed", 8: "rotated 90° counter-clockwise"}
_BOMB_LOCK = threading.Lock()


class IntakeError(ValueError):
    """An image that cannot be used; the message is one line naming the file."""


@dataclass
class ImageInfo:
    """What the file header says (no pixels decoded)."""
    path: Path | None
    format: str | None
    mode: str
    size: tuple[int, int]          # as displayed: EXIF orientation applied
    stored_size: tuple[int, int]   # as stored in the file
    orientation: int = 1
    bits: int = 8                  # per channel
    n_frames: int = 1

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6


@dataclass
class IntakeImage:
    rgb: Image.Image                  # mode RGB, 8-bit sRGB, EXIF orientation applied
    alpha: Image.Image | None         # mode L, same size as rgb; None when opaque
    info: ImageInfo
    notes: list[str] = field(default_factory=list)
    grayscale: bool = False           # no colour at all
    toned: bool = False               # one tint only (sepia, cyanotype): still a colorization candidate
    reduced_by: float = 1.0           # > 1 when decoded smaller than the file (max_side)
    exif: bytes | None = None         # the file's EXIF (camera, date...), orientation reset to upright

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.size

    @property
    def path(self) -> Path | None:
        return self.info.path

    @property
    def suggestion(self) -> str | None:
        """The task the picture itself suggests ("colorize" for monochrome photos)."""
        return "colorize" if (self.grayscale or self.toned) else None

    def array(self) -> np.ndarray:
        return np.asarray(self.rgb)

    # the names the editor's document loader looks for
    @property
    def image(self) -> Image.Image:
        return self.rgb

    @property
    def note(self) -> str:
        return "; ".join(self.notes)


def max_pixels_default() -> int:
    env = os.environ.get("DGP_STUDIO_MAX_PIXELS", "").strip()
    if env:
        try:
            value = int(float(env))
        except (ValueError, OverflowError):
            value = -1
        if value >= 0:  # 0: no limit; anything unreadable or negative: the default
            return value
    return DEFAULT_MAX_PIXELS


def _name(path) -> str:
    return str(path) if path is not None else "image"


def _bits(im: Image.Image) -> int:
    raw = ""
    if getattr(im, "tile", None):
        t = im.tile[0]
        raw = t.args if isinstance(t.args, str) else (t.args[0] if t.args and isinstance(t.args[0], str) else "")
    if ";16" in raw or im.mode.startswith("I;16"):
        return 16
    if im.mode in ("I", "F"):
        return 32
    return 8


def _open_pil(path, fh):
    """Image.open under our own pixel limit (Pillow's is lifted only if ours is higher)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fh)
    except Image.DecompressionBombError:
        # our limit may allow it: reopen with Pillow's check relaxed, then apply ours
        fh.seek(0)
        with _BOMB_LOCK:
            old = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                return Image.open(fh)
            finally:
                Image.MAX_IMAGE_PIXELS = old
    except UnidentifiedImageError:
        fh.seek(0)
        kind = _kind_by_signature(fh.read(16))
        if kind:  # the right kind of file in a variant Pillow cannot decode, or damaged
            raise IntakeError(f"{_name(path)}: a {kind} file this program cannot decode (an unsupported "
                              "variant, e.g. several pages or planes, or a damaged file); "
                              "save it again as PNG or JPEG and retry") from None
        raise IntakeError(f"{_name(path)}: not an image file this program can read "
                          "(JPEG, PNG, TIFF, BMP, WebP, GIF)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise IntakeError(f"{_name(path)}: unreadable image ({_first_line(e)})") from None


_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"II*\x00", "TIFF"),
               (b"MM\x00*", "TIFF"), (b"II+\x00", "BigTIFF"), (b"MM\x00+", "BigTIFF"), (b"GIF8", "GIF"),
               (b"BM", "BMP"))


def _kind_by_signature(head: bytes) -> str | None:
    """The image format a file's first bytes announce (None: none we know)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for sig, kind in _SIGNATURES if head.startswith(sig)), None)


def _first_line(e: Exception) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def _header(im: Image.Image, path) -> ImageInfo:
    bits = _bits(im)  # before getexif(): reading a PNG's EXIF decodes it and clears the tile list
    try:
        orientation = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # a broken EXIF block must not make the photo unreadable
        orientation = 1
    w, h = im.size
    shown = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    return ImageInfo(Path(path) if path is not None else None, im.format, im.mode, shown, (w, h),
                     orientation, bits, int(getattr(im, "n_frames", 1) or 1))


def _check_limit(info: ImageInfo, max_pixels: int) -> None:
    n = info.size[0] * info.size[1]
    if max_pixels and n > max_pixels:
        raise IntakeError(
            f"{_name(info.path)}: {info.size[0]}x{info.size[1]} = {n / 1e6:.3g} megapixels is above the "
            f"{max_pixels / 1e6:.3g} MP safety limit (protection against decompression bombs); "
            f"if you trust the file, raise it with DGP_STUDIO_MAX_PIXELS={n} (or max_pixels=)")


def probe(path, max_pixels: int | None = None) -> ImageInfo:
    """Size, mode, orientation and bit depth from the header only (no pixel decoding)."""
    path = _check_path(path)
    with open(path, "rb") as fh:
        im = _open_pil(path, fh)
        with im:
            info = _header(im, path)
    _check_limit(info, max_pixels_default() if max_pixels is None else max_pixels)
    return info


def _check_path(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise IntakeError(f"{path}: file not found")
    if path.is_dir():
        raise IntakeError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise IntakeError(f"{path}: empty file")
    return path


def open_image(source, max_side: int | None = None, max_pixels: int | None = None) -> IntakeImage:
    """Read a photo (path, bytes or an open PIL image) into an ``IntakeImage``.

    ``max_side``: decode at most this long side (previews, huge scans): JPEGs are
    decoded at 1/2, 1/4 or 1/8 scale directly (``Image.draft``), other formats are
    box-reduced right after decoding.  ``max_pixels``: the safety limit (default
    ``DGP_STUDIO_MAX_PIXELS`` or 200 MP), checked before any pixel is decoded.
    """
    limit = max_pixels_default() if max_pixels is None else max_pixels
    if isinstance(source, Image.Image):
        info = _header(source, None)
        _check_limit(info, limit)
        return _finish(source.copy(), info, None, max_side, [])
    if isinstance(source, (bytes, bytearray)):
        fh = io.BytesIO(source)
        path = None
    else:
        path = _check_path(source)
        fh = open(path, "rb")  # read-only: the original is never touched
    try:
        im = _open_pil(path, fh)
        info = _header(im, path)
        _check_limit(info, limit)
        return _finish(im, info, path, max_side, [])
    finally:
        fh.close()


def _finish(im: Image.Image, info: ImageInfo, path, max_side, notes) -> IntakeImage:
    reduced = 1.0
    if info.n_frames > 1:
        notes.append(f"first of {info.n_frames} frames/pages used")
    w0 = max(info.stored_size)
    if max_side and w0 > max_side and info.format == "JPEG":
        # decode at 1/2, 1/4 or 1/8 directly: the full-size pixels are never built
        target = tuple(max(1, math.ceil(s * max_side / w0)) for s in info.stored_size)
        im.draft(im.mode, target)
    try:
        im.load()
    except Exception as e:  # Pillow signals truncation/corruption with several types
        msg = _first_line(e)
        kind = "truncated" if "truncat" in msg.lower() or isinstance(e, EOFError) else "corrupt"
        raise IntakeError(f"{_name(path)}: {kind} or damaged image file, cannot decode it ({msg})") from None
    if max_side and max(im.size) > max_side:
        im = im.reduce(math.ceil(max(im.size) / max_side))
    if max(im.size) < w0:
        reduced = w0 / max(im.size)
        notes.append(f"decoded at 1/{reduced:.3g} size ({im.size[0]}x{im.size[1]}) to save memory")
    exif = upright_exif(im)
    if info.orientation != 1:
        try:
            im = ImageOps.exif_transpose(im)
            notes.append(f"EXIF orientation applied ({_ORIENTATION_TEXT.get(info.orientation, info.orientation)})")
        except Exception as e:
            notes.append(f"EXIF orientation could not be applied ({_first_line(e)})")
    rgb, alpha = to_srgb8(im, notes, info.bits)
    gray, toned = colour_kind(rgb)
    if gray:
        notes.append("grayscale photo: colorization suggested (--task colorize)")
    elif toned:
        notes.append("toned monochrome photo (one tint only): colorization suggested (--task colorize)")
    return IntakeImage(rgb, alpha, info, notes, gray, toned, reduced, exif)


def upright_exif(im: Image.Image) -> bytes | None:
    """The image's EXIF for a result derived from it (camera, date taken... stay with the photo),
    with the orientation tag reset: the pixels are written upright.  None when there is none."""
    try:
        src = im.getexif()
        if not len(src):
            return None
        ex = Image.Exif()  # a copy: the image's own Exif must keep its orientation for exif_transpose
        ex.load(src.tobytes())
        ex[0x0112] = 1
        return ex.tobytes()
    except Exception:  # noqa: BLE001 - odd EXIF blocks must not stop a restore; the result just lacks them
        return None


load_image = open_image  # the editor's name for it


def _scale16(a: np.ndarray) -> np.ndarray:
    return np.clip(np.round(a.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def _to_l8(im: Image.Image, notes: list, bits: int) -> Image.Image:
    """High-bit-depth single-channel modes -> L, scaled (Pillow's convert would clip at 255)."""
    a = np.asarray(im)
    if im.mode == "F":
        a = a.astype(np.float64)
        hi = float(np.nanmax(a)) if a.size else 1.0
        a = a * 255.0 if hi <= 1.0 else a
        notes.append("32-bit float image converted to 8-bit")
        return Image.fromarray(np.clip(np.round(np.nan_to_num(a)), 0, 255).astype(np.uint8), "L")
    hi = int(a.max()) if a.size else 0
    if im.mode.startswith("I;16") or bits == 16 or hi <= 65535:
        if im.mode == "I" and bits != 16 and hi <= 255:
            return Image.fromarray(a.astype(np.uint8), "L")  # 32-bit container holding 8-bit values
        notes.append("16-bit image converted to 8-bit")
        return Image.fromarray(_scale16(a), "L")
    notes.append("32-bit integer image scaled to 8-bit")
    return Image.fromarray(np.round(a.astype(np.float64) * 255.0 / hi).astype(np.uint8), "L")


def _icc_to_srgb(im: Image.Image, notes: list) -> Image.Image:
    icc = im.info.get("icc_profile")
    if not icc or ImageCms is None or im.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return im
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        desc = (ImageCms.getProfileDescription(src) or "").strip()
        if im.mode in ("RGB", "RGBA", "L") and "srgb" in desc.lower():
            return im  # already sRGB
        if im.mode == "L":
            return im  # a gray profile does not change which gray is meant enough to matter here
        alpha = im.getchannel("A") if im.mode == "RGBA" else None
        base = im.convert("RGB") if im.mode == "RGBA" else im
        out = ImageCms.profileToProfile(base, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        notes.append(f"converted from its colour profile '{desc or 'embedded'}' to sRGB")
        if alpha is not None:
            out.putalpha(alpha)
        return out
    except Exception as e:
        notes.append(f"embedded colour profile unusable ({_first_line(e)}); pixels taken as sRGB")
        return im


def to_srgb8(im: Image.Image, notes: list | None = None, bits: int = 8):
    """Any PIL image -> (RGB 8-bit image, alpha L image or None); appends what it did to ``notes``."""
    notes = [] if notes is None else notes
    mode = im.mode
    if bits == 16 and mode in ("RGB", "RGBA"):
        notes.append("16-bit per channel image reduced to 8-bit")
    alpha = None
    if mode in ("I", "F") or mode.startswith("I;16"):
        im = _to_l8(im, notes, bits)
    elif mode == "1":
        im = im.convert("L")
        notes.append("1-bit image converted to 8-bit gray")
    elif mode == "P" or mode == "PA":
        has_t = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_t else "RGB")
        notes.append("palette image converted to RGB")
    elif mode == "CMYK":
        if not im.info.get("icc_profile") or ImageCms is None:
            notes.append("CMYK converted to RGB without a colour profile (colours approximate)")
            im = im.convert("RGB")
    elif mode in ("La", "RGBa"):
        im = im.convert("LA" if mode == "La" else "RGBA")
    elif mode not in ("RGB", "RGBA", "L", "LA"):
        try:
            im = im.convert("RGB")
        except (ValueError, OSError) as e:
            raise IntakeError(f"image mode {mode} cannot be converted to RGB ({_first_line(e)})") from None
        notes.append(f"{mode} image converted to RGB")
    im = _icc_to_srgb(im, notes)
    if im.mode == "CMYK":
        im = im.convert("RGB")
    if im.mode in ("RGBA", "LA"):
        alpha = im.getchannel("A")
        im = im.convert("RGB") if im.mode == "RGBA" else im.getchannel("L")
        lo, hi = alpha.getextrema()
        if lo == 255:
            alpha = None
            notes.append("alpha channel fully opaque: ignored")
        else:
            notes.append("transparency kept aside and re-attached to the result on export")
    if im.mode == "L":
        im = im.convert("RGB")
    return im, alpha


def colour_kind(rgb: Image.Image) -> tuple[bool, bool]:
    """(grayscale, toned) judged on a small thumbnail.

    Grayscale: channels (almost) equal everywhere.  Toned: some colour, but the same
    hue everywhere (sepia, cyanotype) - the photo has no real colour information either.
    """
    small = rgb.copy()
    small.thumbnail((192, 192), Image.BILINEAR)
    a = np.asarray(small, dtype=np.float64)
    spread = a.max(axis=2) - a.min(axis=2)
    if np.percentile(spread, 99.5) <= 3.0:
        return True, False
    # chroma in opponent coordinates: a toned photo's chroma vectors all point one way
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    c1, c2 = (r - g).ravel(), (r + g - 2 * b).ravel() / math.sqrt(3)
    mag = np.hypot(c1, c2)
    strong = mag > 6.0
    if strong.mean() < 0.02:
        return True, False  # only a few scattered coloured pixels (noise, dust)
    ang = np.arctan2(c2[strong], c1[strong])
    resultant = np.hypot(np.cos(ang).mean(), np.sin(ang).mean())  # 1 = all one hue
    return False, bool(resultant > 0.97 and np.percentile(mag, 99) < 120)
