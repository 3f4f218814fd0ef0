"""External labelled image folders: ImageNet val and ImageNetV2 (paper §3.1, §4.1).

Layouts (``layout``):

* ``wnid_folders``: ``<root>/<wnid>/<file>`` (ImageNet val as torchvision's ImageFolder sorts it);
* ``index_folders``: ``<root>/<class index 0..999>/<file>`` (ImageNetV2 releases);
* ``labels_file``: flat files plus a CSV with columns ``file`` and ``wnid`` or ``class_index``;
* ``wnid_prefix``: flat files named ``<wnid>_<anything>`` (e.g. the ImageNet sample images);
* ``auto``: ``labels_file`` when one is given, else decided by the folder names / file names.

A folder or file whose class is not one of the 1000 ImageNet-1k classes is counted by reason
(``unknown_class``), as are files that are not images by extension; neither stops the load.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

LAYOUTS = ("auto", "wnid_folders", "index_folders", "labels_file", "wnid_prefix")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
WNID = re.compile(r"^n\d{8}$")
DATASET_SCHEMA = {"image_id": pl.String, "path": pl.String, "wnid": pl.String}


def _images(folder: Path) -> tuple[list[Path], int]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    return images, len(files) - len(images)


def detect_layout(root: Path) -> str:
    folders = [p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if folders and all(name.isdigit() for name in folders):
        return "index_folders"
    if folders:
        return "wnid_folders"
    return "wnid_prefix"


def load_image_folder(
    root: str | Path,
    imagenet_wnids: list[str],
    layout: str = "auto",
    labels_file: str | None = None,
    folder_names: dict[str, str] | None = None,
) -> tuple[pl.DataFrame, dict]:
    """``image_id`` (path relative to root), ``path``, ``wnid`` per image, and counts by reason.
    ``imagenet_wnids``: the vocabulary's class ids in class-index order; ``folder_names``: what a
    class folder may be called (a vocabulary's class names) → class id, besides the id itself."""
    root = Path(root).expanduser()
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if layout == "auto":
        layout = "labels_file" if labels_file else detect_layout(root)
    known = set(imagenet_wnids)
    rows: list[tuple[str, str, str]] = []
    counts = {"layout": layout, "unknown_class_files": 0, "unknown_class_names": 0, "not_image_files": 0}
    unknown: list[str] = []

    def add(files: list[Path], wnid: str | None, label: str):
        if wnid is None or wnid not in known:
            counts["unknown_class_files"] += len(files)
            unknown.append(label)
            return
        rows.extend((str(p.relative_to(root)), str(p.resolve()), wnid) for p in files)

    if layout in ("wnid_folders", "index_folders"):
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            files, skipped = _images(folder)
            counts["not_image_files"] += skipped
            if layout == "wnid_folders":
                named = (folder_names or {}).get(folder.name)
                add(files, named or (folder.name if WNID.match(folder.name) else None), folder.name)
            else:
                index = int(folder.name) if folder.name.isdigit() else -1
                add(files, imagenet_wnids[index] if 0 <= index < len(imagenet_wnids) else None, folder.name)
    elif layout == "wnid_prefix":
        files, counts["not_image_files"] = _images(root)
        for p in files:
            prefix = p.name.split("_", 1)[0]
            add([p], prefix if WNID.match(prefix) else None, p.name)
    else:
        if not labels_file or not Path(labels_file).is_file():
            raise FileNotFoundError(f"labels file {labels_file!r} does not exist")
        labels = pl.read_csv(labels_file, infer_schema_length=0)
        if "file" not in labels.columns or not ({"wnid", "class_index"} & set(labels.columns)):
            raise ValueError(
                f"{labels_file}: expected columns 'file' and 'wnid' or 'class_index', found {labels.columns}"
            )
        for i, record in enumerate(labels.iter_rows(named=True), start=2):
            path = root / record["file"]
            if "wnid" in labels.columns:
                wnid = record["wnid"]
            else:
                raw = record["class_index"] or ""
                wnid = imagenet_wnids[int(raw)] if raw.isdigit() and int(raw) < len(imagenet_wnids) else None
            if not path.is_file():
                counts["missing_files"] = counts.get("missing_files", 0) + 1
                continue
            add([path], wnid, f"{labels_file}:{i}")
    counts["unknown_class_names"] = len(unknown)
    counts["unknown_class_examples"] = ", ".join(unknown[:5])
    frame = pl.DataFrame(rows, schema=DATASET_SCHEMA, orient="row")
    counts["images"], counts["classes"] = frame.height, frame["wnid"].n_unique()
    return frame, counts
