"""An export folder appears whole or not at all: it is written as a hidden sibling
(``.<name>.partial``) and renamed into place when complete, so an interrupted export leaves nothing
a loader would read under the target, and a re-export replaces the old one in one rename."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from laionet_assets.core.export.card import CARD, MARKER
from laionet_assets.core.io.atomic import current_umask


class ExportExists(ValueError):
    """The target holds files and the export was not asked to overwrite them."""


def check_target(out: Path, overwrite: bool) -> None:
    """Refuse a target that is a file, or a folder with files in it unless ``overwrite`` and it
    is an earlier export (its card says so): ``--overwrite`` never removes a folder of other files."""
    if out.exists() and not out.is_dir():
        raise ExportExists(f"{out} is a file, not a folder to export into")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise ExportExists(
            f"{out} is not empty: export into an empty folder, or pass --overwrite to replace it"
        )
    card = out / CARD
    if not card.is_file() or MARKER not in card.read_text(errors="replace"):
        raise ExportExists(
            f"{out} holds files that are not an export (no {CARD} written by laionet export): refusing to "
            "replace it even with --overwrite"
        )


def write_folder(out: str | os.PathLike, overwrite: bool, write: Callable[[Path], None]) -> Path:
    """Call ``write(folder)`` on a fresh hidden sibling of ``out``, then put it in ``out``'s place
    (the old folder, with ``overwrite``, removed only after)."""
    out = Path(out).absolute()
    check_target(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # an interrupted export's leftovers
    partial.mkdir(mode=0o777 & ~current_umask())
    try:
        write(partial)
        old = out.parent / f".{out.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            out.rename(old)
        partial.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out
