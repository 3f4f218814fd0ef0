"""Atomic writes: the whole file or the old one, with the mode the owner's umask gives."""

import os
import stat

import polars as pl
import pytest

from laionet_assets.core.io.atomic import current_umask, write_bytes_atomic, write_parquet_atomic


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        a = write_bytes_atomic(tmp_path / "a" / "figure.png", b"\x89PNG")
        b = write_parquet_atomic(pl.DataFrame({"x": [1]}), tmp_path / "table.parquet")
        assert stat.S_IMODE(a.stat().st_mode) == stat.S_IMODE(b.stat().st_mode) == mode
    finally:
        os.umask(old)


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = write_bytes_atomic(tmp_path / "t.bin", b"old")

    def broken(tmp):
        open(tmp, "wb").write(b"half")
        raise RuntimeError("killed")

    from laionet_assets.core.io.atomic import write_atomic

    with pytest.raises(RuntimeError):
        write_atomic(target, broken)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["t.bin"]
