"""Atomic writes: every file the project writes goes to a temp file beside its target and is
renamed into place, so a reader never sees a partial file and a killed writer leaves no debris
under the target's name.  The one place that does this; every writer (the Parquet IO manager,
the image store, figures, the report page, the release registry) calls it.

On an object store (a URL home, ``core.io.storage``) the temp file is local and one upload puts it
in place: an S3 PUT (or a multipart upload's completion) makes the whole object visible at once,
so a killed writer leaves either the previous object or none, never part of one.

A written file gets the mode a plain ``open`` would give it (0666 less the umask: 0644 under the
usual 022), not the temp file's private 0600, so a teammate, a web server or a pod under another
uid reads what the owner's umask lets them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl

from laionet_assets.core.io.storage import home_path, is_remote


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` on a temp path in ``path``'s folder, then rename it to ``path`` (on an
    object store: a local temp file, then one upload to ``path``)."""
    if is_remote(path):
        return _upload_atomic(path, write)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def current_umask() -> int:
    """The process's umask: from ``/proc`` where Linux shows it (no other thread sees a change),
    else by setting it and setting it back."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _upload_atomic(path, write: Callable[[str], None]):
    path = home_path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        path.fs.put_file(tmp, path.path)
    finally:
        os.unlink(tmp)
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    return write_atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_parquet_atomic(frame: pl.DataFrame, path: str | os.PathLike) -> Path:
    return write_atomic(path, frame.write_parquet)
