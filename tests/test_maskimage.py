"""Mask files: the editor and ``restore --mask`` read the same file the same way."""
from __future__ import annotations

import numpy as np
from PIL import Image

from dgp_studio.core.maskimage import fill_coverage, read_fill_coverage
from dgp_studio.core.restore import load_mask

HOLE = (slice(10, 20), slice(15, 30))


def _hole():
    h = np.zeros((30, 40), bool)
    h[HOLE] = True
    return h


def test_opaque_mask_is_its_lightness():
    g = np.zeros((30, 40), np.uint8)
    g[HOLE] = 255
    g[0, 0] = 100  # below half: kept as coverage 100, not a hole after thresholding
    cov = fill_coverage(g, None)
    assert np.array_equal(cov, g)
    assert np.array_equal(fill_coverage(g, np.full_like(g, 255)), g)  # an all-opaque alpha changes nothing


def test_white_strokes_on_a_clear_layer_are_the_hole():
    g = np.zeros((30, 40), np.uint8)
    a = np.zeros((30, 40), np.uint8)
    g[HOLE], a[HOLE] = 255, 255
    a[12, 16] = 100  # a soft stroke edge fades the coverage
    cov = fill_coverage(g, a)
    assert cov[12, 16] == 100
    expected = _hole()
    expected[12, 16] = False
    assert np.array_equal(cov > 127, expected)


def test_a_hole_erased_from_a_dark_layer_is_the_hole():
    g = np.zeros((30, 40), np.uint8)
    a = np.full((30, 40), 255, np.uint8)
    a[HOLE] = 0
    assert np.array_equal(fill_coverage(g, a) > 127, _hole())


def test_cli_and_editor_readers_agree_on_an_erased_hole_png(tmp_path):
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[HOLE + (slice(3, 4),)] = 0
    p = tmp_path / "erased.png"
    Image.fromarray(rgba, "RGBA").save(p)
    assert np.array_equal(load_mask(p, (40, 30)), _hole())
    assert np.array_equal(read_fill_coverage(p) > 127, _hole())
