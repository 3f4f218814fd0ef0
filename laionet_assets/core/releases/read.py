"""Reading one part of an image-text release into the canonical part schema
(``core.releases.layouts``), with its dropped rows counted by reason (``read_part``), and checking
the shapes of the embeddings shipped beside it."""

from __future__ import annotations

import io

import polars as pl

from laionet_assets.core.io.storage import is_remote
from laionet_assets.core.releases.layouts import (
    CANONICAL_SCHEMA,
    RELEASE_LAYOUTS,
    BadPartError,
    Layout,
    custom_layout,
)
from laionet_assets.core.releases.scan import filesystem, footer_schema, scan_release

DEFAULT_MAX_CAPTION_BYTES = 65_536
STRING_TYPES = (pl.String, pl.Categorical, pl.Null)


def array_shape(location: str, key: str | None = None) -> tuple[int, ...]:
    """The shape of an ``.npy`` array, or of member ``key`` of an ``.npz``, from its header alone."""
    import zipfile

    fs, path, _ = filesystem(location)
    try:
        with fs.open(path, "rb") as fh:
            if key is None:
                return _npy_header_shape(fh)
            with zipfile.ZipFile(fh) as archive:
                members = [m.removesuffix(".npy") for m in archive.namelist()]
                if key not in members:
                    raise BadPartError(
                        f"{location}: no array {key!r} in this .npz (it has {', '.join(members)})"
                    )
                with archive.open(key + ".npy") as member:
                    return _npy_header_shape(member)
    except FileNotFoundError as exc:
        raise BadPartError(f"{location}: file not found") from exc
    except (ValueError, zipfile.BadZipFile) as exc:
        if isinstance(exc, BadPartError):
            raise
        raise BadPartError(f"{location}: not a readable {'npz' if key else 'npy'} array ({exc})") from exc


def _npy_header_shape(fh) -> tuple[int, ...]:
    import numpy as np

    fmt = np.lib.format
    version = fmt.read_magic(fh)
    read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    shape, _, _ = read_header(fh)
    return tuple(shape)


def check_embeddings(part: dict, rows: int) -> None:
    """Each shipped array has one row per part row and the layout's dimension, else a BadPartError."""
    for e in part.get("embeddings", []):
        shape = array_shape(e["path"], e.get("key"))
        where = e["path"] + (f" [{e['key']}]" if e.get("key") else "")
        dim = e["dim"] or (shape[1] if len(shape) == 2 else "d")
        if len(shape) != 2 or shape[0] != rows or shape[1] != dim:
            raise BadPartError(
                f"{where}: shape {shape}, expected ({rows}, {dim}): one {e['model']} vector per row of "
                f"{part['path']}"
            )


def _source(location: str):
    """A local path as is; an fsspec URL read into memory."""
    if not is_remote(location):
        return filesystem(location)[1]
    import fsspec

    try:
        with fsspec.open(location, "rb") as fh:
            return io.BytesIO(fh.read())
    except FileNotFoundError as exc:
        raise BadPartError(f"{location}: file not found") from exc


def _readable(line: bytes) -> bool:
    if b"\x00" in line:
        return False
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def unreadable_lines(data: bytes) -> tuple[bytes, list[int]]:
    """``data`` without its lines that hold a NUL byte or are not UTF-8, and those lines'
    numbers (1-based).  Only for a file polars refused: one pass over its lines."""
    kept, bad = [], []
    for number, line in enumerate(data.split(b"\n"), 1):
        (kept.append(line) if _readable(line) else bad.append(number))
    return b"\n".join(kept), bad


def _read_tsv(location: str, layout: Layout) -> tuple[pl.DataFrame, list[int]]:
    """A TSV part as strings: a headerless one split at its first tabs into ``tsv_fields`` (a
    line without a tab gets a null caption), else by its header line; and the numbers of the
    lines dropped because they hold a NUL byte or are not UTF-8."""
    source = _source(location)
    try:
        return _parse_tsv(source, layout), []
    except pl.exceptions.ComputeError:  # a NUL byte or invalid UTF-8: find the lines, read the rest
        if isinstance(source, str):
            with open(source, "rb") as fh:
                source = io.BytesIO(fh.read())
        clean, bad = unreadable_lines(source.getvalue())
        return _parse_tsv(io.BytesIO(clean), layout), bad


def _parse_tsv(source, layout: Layout) -> pl.DataFrame:
    if layout.tsv_fields:
        lines = pl.read_csv(
            source,
            has_header=False,
            separator="\x00",
            quote_char=None,
            new_columns=["line"],
            infer_schema=False,
        )
        split = pl.col("line").str.splitn("\t", len(layout.tsv_fields))
        return lines.select(split.struct.rename_fields(list(layout.tsv_fields)).struct.unnest())
    return pl.read_csv(source, separator="\t", quote_char=None, infer_schema=False)


def _expr(layout: Layout, key: str, have: set[str]) -> pl.Expr:
    dtype = CANONICAL_SCHEMA[key]
    source = layout.columns.get(key)
    names = (source,) if isinstance(source, str) else tuple(source or ())
    if not names or not set(names) <= have:
        return pl.lit(None, dtype).alias(key)
    if len(names) > 1:
        return pl.max_horizontal([pl.col(n).cast(dtype, strict=False) for n in names]).alias(key)
    return pl.col(names[0]).cast(dtype, strict=False).alias(key)


def _check_types(location: str, layout: Layout, schema: dict) -> None:
    text = layout.columns["text"]
    if schema.get(text) not in (*STRING_TYPES, None):
        raise BadPartError(
            f"{location}: column {text!r} (the caption) has type {schema[text]}, expected strings"
        )
    for key in ("unsafe_score", "width", "height"):
        source = layout.columns.get(key, ())
        for name in (source,) if isinstance(source, str) else source:
            if name in schema and not (schema[name].is_numeric() or schema[name] == pl.Null):
                raise BadPartError(
                    f"{location}: column {name!r} ({key}) has type {schema[name]}, expected numbers"
                )


def _first_rows(frame: pl.DataFrame, condition: pl.Expr, n: int = 3) -> list[int]:
    return frame.filter(condition)["part_row"].head(n).to_list()


def read_part(
    part: dict | str,
    max_caption_bytes: int = DEFAULT_MAX_CAPTION_BYTES,
    language: str | None = None,
) -> tuple[pl.DataFrame, dict]:
    """One part as the canonical schema plus ``part_row`` (its row in the file, which is the row
    of any shipped embedding), and counts of dropped rows by reason.

    ``part`` is a registry entry (``Part.to_json()``) or a location (its layout is detected).
    Dropped and counted: null, blank or too-long captions; unsafe scores outside [0, 1]; TSV lines
    without a tab; with ``language``, rows whose language column says otherwise; every row after
    the first of a repeated sample id (the ids named).  A caption column
    of numbers, or shipped embeddings whose row count or dimension differ, is a ``BadPartError``.
    """
    if isinstance(part, str):
        scan = scan_release(part)
        if not scan.parts:
            raise BadPartError(f"{part}: its embedding files are missing: {scan.waiting}")
        part = scan.parts[0].to_json()
    location = part["path"]
    layout = (
        custom_layout(part["columns"], part.get("reader", "parquet"))
        if part["layout"] == "columns"
        else RELEASE_LAYOUTS[part["layout"]]
    )
    bad_lines: list[int] = []
    try:
        if layout.reader == "parquet":
            fs, path, _ = filesystem(location)
            schema = footer_schema(fs, path, location)
            _check_types(location, layout, schema)
            source = _source(location)
            lf = pl.scan_parquet(source) if isinstance(source, str) else pl.read_parquet(source).lazy()
        else:
            tsv, bad_lines = _read_tsv(location, layout)
            lf = tsv.lazy()
            schema = dict(lf.collect_schema())
        have = set(schema)
        frame = (
            lf.with_row_index("part_row")
            .select(
                "part_row",
                *(_expr(layout, k, have) for k in CANONICAL_SCHEMA),
            )
            .with_columns(
                pl.col("sample_id").fill_null(pl.lit(f"{part['key']}:") + pl.col("part_row").cast(pl.String))
            )
            .collect()
        )
    except BadPartError:
        raise
    except Exception as exc:
        raise BadPartError(f"{location}: could not be read ({type(exc).__name__}: {exc})") from exc
    check_embeddings(part, frame.height)
    counts: dict = {"part_rows": frame.height}
    if bad_lines:  # lines of a TSV part that hold a NUL byte or are not UTF-8: dropped, named
        counts["dropped_unreadable_line"] = len(bad_lines)
        counts["first_unreadable_lines"] = bad_lines[:10]
    reasons: dict[str, pl.Expr] = {}
    if layout.tsv_fields:
        reasons["malformed_line"] = pl.col("text").is_null() & pl.col("url").is_not_null()
    blank = pl.col("text").is_null() | (pl.col("text").str.strip_chars().str.len_bytes() == 0)
    reasons["null_or_empty_caption"] = blank
    reasons["caption_too_long"] = pl.col("text").str.len_bytes() > max_caption_bytes
    score = pl.col("unsafe_score")
    reasons["unsafe_score_out_of_range"] = score.is_not_null() & ((score < 0) | (score > 1) | score.is_nan())
    if language is not None and "language" in layout.columns:
        reasons["language"] = pl.col("language").ne_missing(language)
    keep = pl.lit(True)
    for reason, condition in reasons.items():
        this = keep & condition
        n = int(frame.select(this.sum()).item() or 0)
        counts[f"dropped_{reason}"] = n
        if n and reason != "null_or_empty_caption":
            counts[f"first_{reason}_rows"] = _first_rows(frame, this)
        keep = keep & ~condition
    kept = frame.filter(keep)
    # a sample id repeated within the part would multiply every join on it: its first row is kept
    repeated = kept["sample_id"].is_duplicated() & ~kept["sample_id"].is_first_distinct()
    counts["dropped_duplicate_sample_id"] = int(repeated.sum())
    if counts["dropped_duplicate_sample_id"]:
        counts["first_duplicate_sample_ids"] = (
            kept.filter(repeated)["sample_id"].unique(maintain_order=True).head(10).to_list()
        )
        kept = kept.filter(~repeated)
    counts["non_ascii_captions"] = int(kept["text"].str.contains(r"[^\x00-\x7F]").sum() or 0)
    if layout.safety == "scores":
        counts["null_unsafe_score"] = int(kept["unsafe_score"].null_count())
    if language is not None:
        counts["language_filter"] = (
            language
            if "language" in layout.columns
            else f"not applied: layout {layout.name} has no language column"
        )
    return kept, counts
