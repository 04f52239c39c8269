"""Copy a result to the system clipboard, and read what the user pastes (an image or files)."""
from __future__ import annotations

from PIL import Image
from PySide6.QtGui import QGuiApplication, QImage

from .imageconv import pil_to_qimage, qimage_to_rgba_array


def pasted(mime):
    """What ``mime`` offers to open: ("files", [paths]), ("image", PIL RGB/RGBA) or (None, None).

    Files win over image data: a file copied in a file manager often carries its icon as an
    image too, and the user meant the file.
    """
    if mime is None:
        return None, None
    if mime.hasUrls():
        paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        if paths:
            return "files", paths
    if mime.hasImage():
        q = QImage(mime.imageData())
        if not q.isNull() and q.width() > 0 and q.height() > 0:
            return "image", qimage_to_pil_rgba(q)
    return None, None


def qimage_to_pil_rgba(q: QImage) -> Image.Image:
    """Any QImage -> PIL RGBA (screenshots and browser copies carry alpha) or RGB when opaque."""
    rgba = qimage_to_rgba_array(q)
    if rgba[..., 3].min() == 255:
        return Image.fromarray(rgba[..., :3])
    return Image.fromarray(rgba, "RGBA")


def copy_image(img: Image.Image) -> None:
    QGuiApplication.clipboard().setImage(pil_to_qimage(img))
