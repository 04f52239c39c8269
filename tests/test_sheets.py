"""Grids and GIFs of rendered images: sizes, layout, frame order and timing read back from the files."""
import numpy as np
import pytest
from PIL import Image

from dgp_studio.core.sheets import enlarge, grid_sheet, write_frames, write_gif


def _solid(rgb, size=(8, 8)):
    return Image.new("RGB", size, rgb)


def test_enlarge_only_enlarges_and_keeps_aspect():
    im = Image.fromarray(np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3))
    assert enlarge(im, 12).size == (12, 8)
    assert np.array_equal(np.asarray(enlarge(im, 12)), np.asarray(im.resize((12, 8), Image.BICUBIC)))
    assert enlarge(im, 6) is im and enlarge(im, 3) is im  # never shrinks a larger render
    assert enlarge(im, 0) is im and enlarge(im, None) is im


def test_grid_sheet_layout():
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9), (200, 100, 50)]
    sheet = grid_sheet([_solid(c) for c in colours])  # 5 images: 3 columns, 2 rows
    assert sheet.size == (24, 16)
    a = np.asarray(sheet)
    for i, c in enumerate(colours):
        r, q = divmod(i, 3)
        assert (a[r * 8:(r + 1) * 8, q * 8:(q + 1) * 8] == c).all()
    assert (a[8:, 16:] == 0).all()  # the empty cell is background
    assert grid_sheet([_solid(c) for c in colours], cols=4, background=(255, 255, 255)).size == (32, 16)
    assert grid_sheet([_solid(colours[0])], cols=4).size == (8, 8)  # never wider than the images
    with pytest.raises(ValueError):
        grid_sheet([])


def test_write_gif_pingpong_and_durations(tmp_path):
    colours = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0)]
    out = write_gif([_solid(c) for c in colours], tmp_path / "m.gif", duration_ms=70, pingpong=True)
    seen, durations = [], []
    with Image.open(out) as gif:
        assert gif.info["loop"] == 0
        for k in range(gif.n_frames):
            gif.seek(k)
            seen.append(tuple(np.asarray(gif.convert("RGB"))[4, 4]))
            durations.append(gif.info["duration"])
    order = [0, 1, 2, 3, 2, 1]  # forward, then back without repeating either end
    assert len(seen) == len(order)
    for got, k in zip(seen, order):
        assert max(abs(int(g) - w) for g, w in zip(got, colours[k])) <= 8
    assert durations == [70] * 6
    write_gif([_solid(c) for c in colours[:3]], tmp_path / "t.gif", duration_ms=[50, 50, 900])
    with Image.open(tmp_path / "t.gif") as gif:
        gif.seek(2)
        assert gif.n_frames == 3 and gif.info["duration"] == 900  # the hold on the last frame
    with pytest.raises(ValueError, match="2 durations for 3 frames"):
        write_gif([_solid(c) for c in colours[:3]], tmp_path / "x.gif", duration_ms=[1, 2])
    assert not (tmp_path / "x.gif").exists()


def test_write_frames_numbered(tmp_path):
    paths = write_frames([_solid((i * 40, 0, 0)) for i in range(3)], tmp_path / "sub" / "morph")
    assert [p.name for p in paths] == ["morph_000.png", "morph_001.png", "morph_002.png"]
    assert np.asarray(Image.open(paths[2]))[0, 0, 0] == 80
