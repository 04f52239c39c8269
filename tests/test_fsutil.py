"""Atomic writes: whole-or-nothing, and results as readable as any file the user saves."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from dgp_studio.core import fsutil
from dgp_studio.core.export import save_png


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_new_file_gets_the_umask_mode_not_mkstemps_0600(tmp_path, umask_027):
    p = fsutil.atomic_write_bytes(tmp_path / "a.bin", b"abc")
    assert p.read_bytes() == b"abc"
    assert mode(p) == 0o640  # 0o666 & ~0o027


def test_png_result_is_group_readable(tmp_path, umask_027):
    out = save_png(np.zeros((4, 5, 3), np.uint8), tmp_path / "r.png")
    assert mode(out) == 0o640


def test_replacing_keeps_the_old_files_permissions(tmp_path, umask_027):
    p = tmp_path / "private.bin"
    p.write_bytes(b"old")
    os.chmod(p, 0o600)
    fsutil.atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"new" and mode(p) == 0o600


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    p = tmp_path / "keep.bin"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with fsutil.atomic_target(p) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert p.read_bytes() == b"old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["keep.bin"]
