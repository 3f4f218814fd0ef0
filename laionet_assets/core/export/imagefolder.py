"""ImageFolder (``torchvision.datasets.ImageFolder``): ``<wnid>/<name>.<ext>``, and
``classes.txt`` with the vocabulary's classes in its index order (``wnid<TAB>name``; line i is
class index i).  ImageFolder itself numbers only the classes present, in sorted order; the card
says how to map them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl

from laionet_assets.core.export.records import loadable
from laionet_assets.core.io.storage import is_remote, read_bytes

IMAGE_MODES = ("copy", "hardlink", "symlink")
CLASSES_FILE = "classes.txt"


def write_classes(folder: Path, classes: pl.DataFrame) -> None:
    text = "".join(f"{w}\t{n}\n" for w, n in classes.select("wnid", "name").iter_rows())
    (folder / CLASSES_FILE).write_text(text)


def place(source: str, target: Path, mode: str) -> None:
    """``source`` at ``target``: copied, hard-linked (a copy where the two are on different file
    systems) or symlinked; an image in an object store is always copied."""
    if is_remote(source):
        target.write_bytes(read_bytes(source))
        return
    if mode == "symlink":
        os.symlink(os.path.abspath(source), target)
        return
    if mode == "hardlink":
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copyfile(source, target)


def write_imagefolder(
    folder: Path, rows: pl.DataFrame, classes: pl.DataFrame, mode: str, progress: Callable[[int], None]
) -> dict:
    """The rows (``records``) under ``folder`` as ``<wnid>/<name>.<ext>``, and ``classes.txt``;
    the counts of files placed as stored and converted."""
    if mode not in IMAGE_MODES:
        raise ValueError(f"images are placed by {IMAGE_MODES}, not {mode!r}")
    counts = {"as_stored": 0, "converted_to_png": 0}
    for wnid in rows["wnid"].unique().to_list():
        (folder / wnid).mkdir()
    for name, wnid, path in rows.select("name", "wnid", "path").iter_rows():
        data, ext = loadable(path)
        target = folder / wnid / f"{name}.{ext}"
        if data is None:
            place(path, target, mode)
            counts["as_stored"] += 1
        else:
            target.write_bytes(data)
            counts["converted_to_png"] += 1
        progress(1)
    write_classes(folder, classes)
    return counts
