"""Reading LAION metadata parts (Parquet: SAMPLE_ID, URL, TEXT, HEIGHT, WIDTH, LICENSE, NSFW, similarity)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import polars as pl

PART_SCHEMA = {"sample_id": pl.String, "url": pl.String, "text": pl.String, "nsfw": pl.String}
NSFW_VALUES = ("UNLIKELY", "UNSURE", "NSFW")
DEFAULT_MAX_CAPTION_BYTES = 65_536


class BadPartError(ValueError):
    """A LAION part that cannot be processed; the message names the file (and column/row)."""


def slug(text: str) -> str:
    """Partition-key-safe form of a name: lower case, ``[a-z0-9_-]`` only."""
    s = re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_-")
    if not s:
        raise ValueError(f"{text!r} has no characters usable in a partition key")
    return s


def partition_key(release: str, part: str) -> str:
    return f"{slug(release)}-{slug(part)}"


def local_path(location: str) -> Path:
    """A local path from a path or ``file://`` URL; any other URL is a clear error."""
    parsed = urlparse(str(location))
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:
        raise BadPartError(
            f"{location}: a {parsed.scheme}:// URL where a local file or folder is expected; "
            "download the release first (e.g. with img2dataset) and pass its folder"
        )
    return Path(location)


def list_parts(release: Path) -> list[Path]:
    """The Parquet parts of a release folder (sorted), or the file itself."""
    if release.is_file():
        return [release]
    if not release.is_dir():
        raise BadPartError(f"{release}: no such release file or folder")
    parts = sorted(p for p in release.rglob("*.parquet") if p.is_file())
    if not parts:
        raise BadPartError(f"{release}: no .parquet parts in this folder")
    return parts


def is_remote(location: str | Path) -> bool:
    scheme = urlparse(str(location)).scheme
    return len(scheme) > 1 and scheme != "file"


def _open_source(location: str | Path):
    """A local path as is; an fsspec URL (s3://, gs://, memory://, ...) read into memory."""
    if not is_remote(location):
        return local_path(str(location))
    import io

    import fsspec

    try:
        with fsspec.open(str(location), "rb") as fh:
            return io.BytesIO(fh.read())
    except FileNotFoundError as exc:
        raise BadPartError(f"{location}: file not found") from exc


def check_columns(location, schema: dict) -> None:
    """A part needs a TEXT column of strings; raise naming the file and the columns it has."""
    columns = {c.upper(): c for c in schema}
    if "TEXT" not in columns:
        raise BadPartError(f"{location}: no TEXT column (columns: {', '.join(schema)})")
    dtype = schema[columns["TEXT"]]
    if dtype not in (pl.String, pl.Categorical, pl.Null):
        raise BadPartError(f"{location}: column TEXT has type {dtype}, expected strings")


def probe_part(location: str | Path) -> dict:
    """Read only the Parquet footer (cheap, also remote), check the columns, return the schema."""
    import fsspec
    import pyarrow.parquet as pq

    try:
        with fsspec.open(str(location), "rb") as fh:
            arrow_schema = pq.ParquetFile(fh).schema_arrow
    except FileNotFoundError as exc:
        raise BadPartError(f"{location}: file not found") from exc
    except Exception as exc:
        raise BadPartError(f"{location}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc
    schema = dict(pl.Schema(arrow_schema))
    check_columns(location, schema)
    return schema


def read_part(
    location: str | Path, key: str, max_caption_bytes: int = DEFAULT_MAX_CAPTION_BYTES
) -> tuple[pl.DataFrame, dict]:
    """The captions of one part as ``sample_id, url, text, nsfw`` plus counts of dropped rows.

    ``location`` is a local path or an fsspec URL.  ``sample_id`` is LAION's ``SAMPLE_ID`` as a
    string when present, else ``"<key>:<row>"``.  Rows whose caption is null, blank or longer than
    ``max_caption_bytes`` are dropped and counted.
    """
    columns = {c.upper(): c for c in probe_part(location)}
    has_nsfw = "NSFW" in columns
    source = _open_source(location)
    lf = (
        pl.scan_parquet(source) if isinstance(source, Path) else pl.read_parquet(source).lazy()
    ).with_row_index("row")
    sample_id = (
        pl.col(columns["SAMPLE_ID"]).cast(pl.String)
        if "SAMPLE_ID" in columns
        else pl.lit(f"{key}:") + pl.col("row").cast(pl.String)
    )
    try:
        frame = lf.select(
            "row",
            sample_id.alias("sample_id"),
            (pl.col(columns["URL"]).cast(pl.String) if "URL" in columns else pl.lit(None, pl.String)).alias(
                "url"
            ),
            pl.col(columns["TEXT"]).cast(pl.String).alias("text"),
            (pl.col(columns["NSFW"]).cast(pl.String) if has_nsfw else pl.lit(None, pl.String)).alias("nsfw"),
        ).collect()
    except Exception as exc:
        raise BadPartError(f"{location}: could not be read ({type(exc).__name__}: {exc})") from exc
    blank = pl.col("text").is_null() | (pl.col("text").str.strip_chars().str.len_bytes() == 0)
    too_long = pl.col("text").str.len_bytes() > max_caption_bytes
    counts = frame.select(
        part_rows=pl.len(),
        dropped_null_or_empty_caption=blank.sum(),
        dropped_caption_too_long=(too_long & ~blank).sum(),
        non_ascii_captions=(pl.col("text").str.contains(r"[^\x00-\x7F]") & ~blank).sum(),
    ).row(0, named=True)
    first_bad = frame.filter(too_long & ~blank).select("row").head(3)["row"].to_list()
    counts = {k: int(v or 0) for k, v in counts.items()}
    counts["has_nsfw_column"] = has_nsfw
    counts["has_sample_id_column"] = "SAMPLE_ID" in columns
    if first_bad:
        counts["first_too_long_rows"] = first_bad
    return frame.filter(~blank & ~too_long), counts
