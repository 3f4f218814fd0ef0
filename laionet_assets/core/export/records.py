"""The rows an export writes, one per image: a unique file name, the class (its wnid and its index
in the vocabulary), the caption, where it came from, and the stored image file.

Images are copied as stored, never decoded and encoded again, except in a format a loader cannot
read: ImageFolder and WebDataset read JPEG, PNG and WebP; a GIF, BMP or TIFF becomes a lossless PNG
of its first frame (``loadable``)."""

from __future__ import annotations

import hashlib
import io
import re

import polars as pl

EXPORT_SETS = ("laionet", "top50", "text_matched", "image_selected")
EXPORT_FORMATS = ("imagefolder", "webdataset", "hf")
LOADABLE = ("jpg", "png", "webp")  # every loader reads these as they are
RECORD_SCHEMA = {
    "name": pl.String,  # the file name without extension: the escaped sample id, unique
    "sample_id": pl.String,
    "wnid": pl.String,
    "label": pl.Int64,  # the class's index in the vocabulary
    "class_name": pl.String,
    "text": pl.String,
    "url": pl.String,
    "similarity": pl.Float64,
    "release_part": pl.String,
    "path": pl.String,  # the stored image file
}
_UNSAFE = r"[^A-Za-z0-9_-]+"  # no dot: WebDataset splits a member's key at its first


def escaped(sample_id: str) -> str:
    """A sample id as a file name: runs of anything but letters, digits, ``_`` and ``-`` become
    ``_`` (``escaped_expr`` is the same rule on a column)."""
    return re.sub(_UNSAFE, "_", sample_id).strip("_") or "sample"


def escaped_expr(column: pl.Expr) -> pl.Expr:
    """``escaped`` as an expression."""
    name = column.str.replace_all(_UNSAFE, "_").str.strip_chars("_")
    return pl.when(name.str.len_chars() > 0).then(name).otherwise(pl.lit("sample"))


def records(rows: pl.DataFrame, classes: pl.DataFrame) -> pl.DataFrame:
    """``RECORD_SCHEMA`` rows of a set (``sample_id``, ``wnid``, ``path`` and, where known,
    ``text``, ``url``, ``similarity``, ``release_part``), with each class's index and name from
    ``classes`` (``wnid``, ``name``, in the vocabulary's order) and a unique name per row: the
    escaped sample id, with an 8-digit digest of the row's id, URL and part where two rows would
    share it.  Ordered by class index and name, so an export does not depend on the row order."""
    index = classes.select("wnid", class_name="name").with_row_index("label").cast({"label": pl.Int64})
    for column in ("text", "url", "release_part"):
        if column not in rows.columns:
            rows = rows.with_columns(pl.lit(None, pl.String).alias(column))
    if "similarity" not in rows.columns:
        rows = rows.with_columns(similarity=pl.lit(None, pl.Float64))
    out = rows.join(index, on="wnid", how="inner").with_columns(name=escaped_expr(pl.col("sample_id")))
    shared = out.filter(pl.len().over("name") > 1)
    if shared.height:  # the few rows whose name repeats: a digest of the row, in Python
        keys = shared.select(
            pl.concat_str(
                [pl.col("sample_id"), pl.col("url").fill_null(""), pl.col("release_part").fill_null("")],
                separator="|",
            )
        ).to_series()
        suffix = [hashlib.sha1(k.encode()).hexdigest()[:8] for k in keys]
        out = pl.concat(
            [
                out.filter(pl.len().over("name") == 1),
                shared.with_columns(name=pl.col("name") + "-" + pl.Series(suffix, dtype=pl.String)),
            ]
        )
    return out.select(list(RECORD_SCHEMA)).cast(RECORD_SCHEMA).sort("label", "name")


def extension(path: str) -> str:
    """The stored file's format, from its extension (the image store names files by format)."""
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return "jpg" if ext == "jpeg" else ext


def loadable(path: str) -> tuple[bytes | None, str]:
    """What a loader reads for a stored image: ``(None, ext)`` when the file can be copied as it
    is, else the lossless PNG of its first frame and ``png``."""
    ext = extension(path)
    if ext in LOADABLE:
        return None, ext
    from PIL import Image

    from laionet_assets.core.io.storage import open_binary

    with open_binary(path) as f, Image.open(f) as image:
        image.seek(0)
        frame = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
        buffer = io.BytesIO()
        frame.save(buffer, "PNG")
    return buffer.getvalue(), "png"
