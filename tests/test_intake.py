"""Image intake: orientation, bit depth, colour models, alpha, grayscale, limits, broken files."""
import hashlib
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dgp_studio.core import intake
from dgp_studio.core.export import read_record, save_png
from dgp_studio.core.intake import IntakeError, open_image, probe


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_png16(arr: np.ndarray, path):
    """A 16-bit-per-channel PNG written by hand (Pillow cannot write 16-bit RGB)."""
    h, w, c = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ctype = {3: 2, 4: 6}[c]
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    path.write_bytes(data)


def colour_photo(w=60, h=40, seed=0):
    rng = np.random.default_rng(seed)
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = np.linspace(20, 230, w, dtype=np.uint8)[None]
    a[..., 1] = np.linspace(200, 30, h, dtype=np.uint8)[:, None]
    a[..., 2] = rng.integers(40, 200, (h, w), dtype=np.uint8)
    return a


def test_exif_orientation_applied_and_original_untouched(tmp_path):
    a = colour_photo(60, 40)
    a[..., 2] = 90  # smooth content: JPEG's loss stays small
    a[:10, :10] = (255, 0, 0)  # a red marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be rotated 90 degrees clockwise for display
    p = tmp_path / "phone.jpg"
    Image.fromarray(a).save(p, quality=95, exif=exif)
    before, mtime = sha(p), p.stat().st_mtime_ns

    info = probe(p)
    assert info.stored_size == (60, 40) and info.size == (40, 60) and info.orientation == 6
    im = open_image(p)
    assert im.size == (40, 60)
    expected = np.rot90(a, k=-1)  # clockwise, computed independently of Pillow
    got = im.array().astype(int)
    assert np.abs(got - expected.astype(int)).mean() < 4
    assert got[:10, -10:, 0].mean() > 200 and got[:10, -10:, 1].mean() < 60  # marker now top-right
    assert any("orientation" in n for n in im.notes)
    assert sha(p) == before and p.stat().st_mtime_ns == mtime


def test_camera_and_date_travel_to_the_result_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Kodak"
    exif.get_ifd(0x8769)[0x9003] = "1958:06:01 12:00:00"  # DateTimeOriginal
    p = tmp_path / "scan.jpg"
    Image.fromarray(colour_photo(30, 20)).save(p, quality=95, exif=exif)
    im = open_image(p)
    assert im.size == (20, 30)  # still turned upright: the copy made for the result leaves the original's tag
    out = save_png(im.rgb, tmp_path / "result.png", exif=im.exif)
    back = Image.open(out).getexif()
    assert back[0x0112] == 1 and back[0x010F] == "Kodak" and back.get_ifd(0x8769)[0x9003] == "1958:06:01 12:00:00"
    assert open_image(out).size == (20, 30)  # a viewer that honours orientation shows it the same way
    plain = tmp_path / "plain.png"
    Image.fromarray(colour_photo(8, 8)).save(plain)
    assert open_image(plain).exif is None


def test_16bit_gray_is_scaled_not_clipped(tmp_path):
    v = np.linspace(0, 65535, 64 * 8).reshape(8, 64).astype(np.uint16)
    p = tmp_path / "scan16.png"
    Image.fromarray(v).save(p)
    assert Image.open(p).mode.startswith("I;16")
    im = open_image(p)
    exp = np.round(v / 257.0).astype(np.uint8)
    got = im.array()
    assert got.shape == (8, 64, 3)
    assert np.array_equal(got[..., 0], exp) and np.array_equal(got[..., 1], exp) and np.array_equal(got[..., 2], exp)
    assert im.info.bits == 16 and any("16-bit" in n for n in im.notes)
    assert im.grayscale and im.suggestion == "colorize"


def test_16bit_rgb_reduced_to_8bit_with_note(tmp_path):
    rng = np.random.default_rng(1)
    v = rng.integers(0, 65536, (12, 10, 3)).astype(np.uint16)
    p = tmp_path / "rgb16.png"
    write_png16(v, p)
    im = open_image(p)
    assert im.array().dtype == np.uint8
    assert np.abs(im.array().astype(int) - v.astype(int) / 257.0).max() <= 1.0
    assert any("16-bit" in n for n in im.notes)


def test_cmyk_to_rgb(tmp_path):
    cmyk = np.zeros((20, 30, 4), np.uint8)
    cmyk[:, :10] = (0, 255, 255, 0)     # red
    cmyk[:, 10:20] = (255, 0, 255, 0)   # green
    cmyk[:, 20:] = (0, 0, 0, 128)       # mid gray
    for name in ("print.tif", "print.jpg"):
        p = tmp_path / name
        Image.fromarray(cmyk, "CMYK").save(p, **({"quality": 98} if name.endswith("jpg") else {}))
        im = open_image(p)
        a = im.array().astype(int)
        assert im.rgb.mode == "RGB" and im.size == (30, 20)
        assert np.abs(a[5, 5] - [255, 0, 0]).max() < 12, name
        assert np.abs(a[5, 15] - [0, 255, 0]).max() < 12, name
        assert np.abs(a[5, 25] - [127, 127, 127]).max() < 12, name
        assert any("CMYK" in n for n in im.notes), im.notes


def test_rgba_alpha_kept_and_reattached_on_export(tmp_path):
    a = colour_photo(32, 24)
    alpha = np.tile(np.linspace(0, 255, 32).astype(np.uint8), (24, 1))
    p = tmp_path / "logo.png"
    Image.fromarray(np.dstack([a, alpha]), "RGBA").save(p)
    im = open_image(p)
    assert im.rgb.mode == "RGB" and np.array_equal(im.array(), a)
    assert im.alpha is not None and np.array_equal(np.asarray(im.alpha), alpha)
    assert any("transparency" in n for n in im.notes)
    out = save_png(im.rgb, tmp_path / "out.png", alpha=im.alpha, record={"status": "ok"})
    back = Image.open(out)
    assert back.mode == "RGBA" and np.array_equal(np.asarray(back)[..., 3], alpha)
    assert read_record(out) == {"status": "ok"}
    # an alpha that is opaque everywhere is dropped with a note
    Image.fromarray(np.dstack([a, np.full((24, 32), 255, np.uint8)]), "RGBA").save(tmp_path / "opaque.png")
    im2 = open_image(tmp_path / "opaque.png")
    assert im2.alpha is None and any("opaque" in n for n in im2.notes)


def test_palette_with_and_without_transparency(tmp_path):
    idx = np.zeros((10, 16), np.uint8)
    idx[:, 8:] = 1
    idx[0, 0] = 2
    pal = [250, 10, 10, 10, 10, 250, 0, 0, 0] + [0] * (256 * 3 - 9)
    img = Image.fromarray(idx, "P")
    img.putpalette(pal)
    img.save(tmp_path / "pal.png")
    im = open_image(tmp_path / "pal.png")
    assert im.alpha is None
    assert tuple(im.array()[5, 2]) == (250, 10, 10) and tuple(im.array()[5, 12]) == (10, 10, 250)
    assert any("palette" in n for n in im.notes)
    img.save(tmp_path / "pal_t.gif", transparency=2)
    im = open_image(tmp_path / "pal_t.gif")
    a = np.asarray(im.alpha)
    assert a[0, 0] == 0 and (a[1:] == 255).all()


def test_la_and_1bit(tmp_path):
    g = np.tile(np.arange(0, 200, 10, dtype=np.uint8), (5, 1))
    al = np.full_like(g, 255)
    al[:, :3] = 0
    Image.fromarray(np.dstack([g, al]), "LA").save(tmp_path / "la.png")
    im = open_image(tmp_path / "la.png")
    assert np.array_equal(im.array()[..., 1], g) and np.array_equal(np.asarray(im.alpha), al)
    assert im.grayscale
    Image.fromarray((g > 90)).convert("1").save(tmp_path / "bw.png")
    im = open_image(tmp_path / "bw.png")
    assert set(np.unique(im.array())) <= {0, 255} and im.grayscale


@pytest.mark.parametrize("fmt", ["jpg", "png"])
def test_truncated_file_is_a_one_line_error(tmp_path, fmt):
    a = np.random.default_rng(2).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    full = tmp_path / f"full.{fmt}"
    Image.fromarray(a).save(full)
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    before = sha(cut)
    with pytest.raises(IntakeError) as e:
        open_image(cut)
    msg = str(e.value)
    assert "\n" not in msg and str(cut) in msg and ("truncated" in msg or "damaged" in msg)
    assert sha(cut) == before


def test_unreadable_files(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not a photo")
    with pytest.raises(IntakeError, match="not an image"):
        open_image(tmp_path / "notes.jpg")
    with pytest.raises(IntakeError, match="not found"):
        open_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(IntakeError, match="empty"):
        open_image(tmp_path / "empty.png")
    with pytest.raises(IntakeError, match="folder"):
        open_image(tmp_path)


@pytest.mark.parametrize("head,kind", [(b"II*\x00", "TIFF"), (b"MM\x00*\x00\x00\x00\x08", "TIFF"),
                                       (b"GIF89a", "GIF")])
def test_a_known_format_pillow_cannot_decode_is_named(tmp_path, head, kind):
    # e.g. a TIFF with separate colour planes over several pages: the file is a TIFF, and the
    # message must not claim that TIFFs are unreadable in general
    p = tmp_path / "scan.tif"
    p.write_bytes(head + bytes(60))
    with pytest.raises(IntakeError) as e:
        open_image(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: a {kind} file this program cannot decode") and "PNG or JPEG" in msg
    assert "\n" not in msg and p.read_bytes() == head + bytes(60)


def test_pixel_limit_policy(tmp_path, monkeypatch):
    p = tmp_path / "big.png"
    Image.fromarray(colour_photo(100, 100)).save(p)
    with pytest.raises(IntakeError) as e:
        open_image(p, max_pixels=5000)
    assert "safety limit" in str(e.value) and "DGP_STUDIO_MAX_PIXELS=10000" in str(e.value)
    assert "100x100 = 0.01 megapixels is above the 0.005 MP safety limit" in str(e.value)  # not "0 ... 0 MP"
    monkeypatch.setenv("DGP_STUDIO_MAX_PIXELS", "5000")
    with pytest.raises(IntakeError):
        open_image(p)
    for unusable in ("-1", "abc", "1e400"):  # ignored: the default limit, never "above the -0 MP limit"
        monkeypatch.setenv("DGP_STUDIO_MAX_PIXELS", unusable)
        assert open_image(p).size == (100, 100)
    monkeypatch.setenv("DGP_STUDIO_MAX_PIXELS", "0")  # 0: no limit
    assert open_image(p).size == (100, 100)
    monkeypatch.delenv("DGP_STUDIO_MAX_PIXELS")
    # Pillow's own bomb check fires (10000 > 2 x 1000) but our higher limit allows the file
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(p)
    im = open_image(p, max_pixels=20000)
    assert im.size == (100, 100)
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored afterwards


def test_huge_jpeg_decoded_reduced_via_draft(tmp_path, monkeypatch):
    a = np.kron(colour_photo(60, 40), np.ones((40, 40, 1), np.uint8))  # 2400 x 1600
    p = tmp_path / "huge.jpg"
    Image.fromarray(a).save(p, quality=90)
    calls = []
    from PIL import JpegImagePlugin
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        r = real_draft(self, mode, size)
        calls.append((size, self.size))
        return r
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy, raising=True)
    im = open_image(p, max_side=300)
    assert calls and calls[0][1] == (300, 200)  # the decoder itself produced 1/8 scale
    assert im.size == (300, 200) and im.reduced_by == 8
    assert im.info.size == (2400, 1600)  # the full size is still known
    small = np.asarray(Image.fromarray(a).resize((300, 200), Image.BOX)).astype(int)
    assert np.abs(im.array().astype(int) - small).mean() < 6
    # non-JPEG formats are box-reduced right after decoding
    Image.fromarray(a).save(tmp_path / "huge.png")
    im2 = open_image(tmp_path / "huge.png", max_side=500)
    assert max(im2.size) <= 500 and im2.reduced_by > 4


def test_grayscale_and_toned_detection(tmp_path):
    g = colour_photo()[..., 2]
    gray_rgb = np.dstack([g, g, g])
    gray_rgb[0, 0] = (g[0, 0], g[0, 0] + 1 if g[0, 0] < 255 else 254, g[0, 0])  # jpeg-like noise
    im = open_image(Image.fromarray(gray_rgb))
    assert im.grayscale and im.suggestion == "colorize"
    im = open_image(Image.fromarray(colour_photo()))
    assert not im.grayscale and not im.toned and im.suggestion is None
    lum = g.astype(float) / 255
    sepia = np.dstack([lum * 240, lum * 200, lum * 150]).astype(np.uint8)
    im = open_image(Image.fromarray(sepia))
    assert im.toned and not im.grayscale and im.suggestion == "colorize"


def test_multiframe_gif_uses_first_frame(tmp_path):
    f1 = Image.fromarray(np.full((8, 8, 3), 200, np.uint8))
    f2 = Image.fromarray(np.full((8, 8, 3), 20, np.uint8))
    f1.save(tmp_path / "anim.gif", save_all=True, append_images=[f2])
    im = open_image(tmp_path / "anim.gif")
    assert im.array().mean() > 150 and any("first of 2" in n for n in im.notes)


def test_editor_adapter_names(tmp_path):
    Image.fromarray(colour_photo()).save(tmp_path / "a.png")
    loaded = intake.load_image(tmp_path / "a.png")
    assert loaded.image.size == (60, 40) and isinstance(loaded.note, str)


def test_embedded_srgb_profile_leaves_pixels_alone(tmp_path):
    from PIL import ImageCms
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    a = colour_photo()
    Image.fromarray(a).save(tmp_path / "srgb.png", icc_profile=icc)
    im = open_image(tmp_path / "srgb.png")
    assert np.array_equal(im.array(), a) and not any("profile" in n for n in im.notes)
