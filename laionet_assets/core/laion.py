"""Reading the parts of an image-text release (any layout of ``release_layouts``) into the
canonical part schema, and finding them: ``scan_release`` lists a folder, file or fsspec URL,
detects its layout, resolves the embeddings shipped beside each part and names its partitions;
``read_part`` reads one part with its drops counted by reason."""

from __future__ import annotations

import io
import posixpath
import re
from dataclasses import asdict, dataclass, field

import polars as pl

from laionet_assets.core.release_layouts import (
    CANONICAL_SCHEMA,
    PART_SUFFIXES,
    RELEASE_LAYOUTS,
    BadPartError,
    Detected,
    Layout,
    LayoutError,
    custom_layout,
    detect_layout,
    parse_columns,
    reader_of,
    stem,
)
from laionet_assets.core.storage import is_remote

DEFAULT_MAX_CAPTION_BYTES = 65_536
STRING_TYPES = (pl.String, pl.Categorical, pl.Null)


def slug(text: str) -> str:
    """Partition-key-safe form of a name: lower case, ``[a-z0-9_-]`` only."""
    s = re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_-")
    if not s:
        raise ValueError(f"{text!r} has no characters usable in a partition key")
    return s


def partition_key(release: str, part: str) -> str:
    return f"{slug(release)}-{slug(part)}"


def filesystem(location: str):
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(str(location))
    except (ValueError, ImportError) as exc:  # an unknown protocol, or its library not installed
        raise BadPartError(f"{location}: cannot be opened ({exc})") from exc
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    local = protocol in ("file", "local")
    return (
        fs,
        path.rstrip("/") or "/",
        (lambda p: p) if local else (lambda p: f"{protocol}://{p.lstrip('/')}"),
    )


def _mtime(info: dict) -> float:
    mtime = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    return mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime)


# ---------------------------------------------------------------- finding parts


@dataclass
class Part:
    """One part of a release: its partition key, file, layout, column mapping, safety signal and
    shipped embeddings, with the sizes and times that make its signature."""

    key: str
    path: str  # local path or fsspec URL
    file: str  # the file's full name
    release: str
    layout: str
    columns: dict[str, str | list[str]]
    safety: str
    max_unsafe_score: float | None
    embeddings: list[dict] = field(default_factory=list)
    size: int = 0
    mtime: float = 0.0
    reader: str = "parquet"

    @property
    def signature(self) -> str:
        sizes = ",".join(str(e["size"]) for e in self.embeddings)
        return f"{self.size}:{self.mtime:.6f}" + (f"+{sizes}" if sizes else "")

    def to_json(self) -> dict:
        return asdict(self)

    def describe(self, title: str = "") -> str:
        """``layout L (title); columns …; safety …; embeddings …``, as ``laionet run`` shows it."""
        columns = ", ".join(
            f"{k}={v if isinstance(v, str) else 'max(' + ','.join(v) + ')'}" for k, v in self.columns.items()
        )
        shipped = (
            "; ".join(
                f"{e['kind']} {e['model']}" + (f" {e['dim']}-d" if e["dim"] else "") for e in self.embeddings
            )
            or "none"
        )
        named = f"{self.layout} ({title})" if title else self.layout
        return f"layout {named}; columns {columns}; safety {self.safety}; embeddings {shipped}"


@dataclass
class Scan:
    parts: list[Part]
    waiting: dict[str, list[str]] = field(default_factory=dict)  # part → embedding files not there yet
    unreadable: dict[str, str] = field(default_factory=dict)  # file → what is wrong with it


def layout_named(name: str, columns: dict | None = None, reader: str = "parquet") -> Layout:
    if name == "columns":
        if not columns:
            raise LayoutError("--layout columns needs --columns text=…,url=…,id=…")
        return custom_layout(columns, reader)
    if name not in RELEASE_LAYOUTS:
        raise LayoutError(
            f"unknown release layout {name!r}; known: auto, {', '.join(RELEASE_LAYOUTS)}, columns"
        )
    return RELEASE_LAYOUTS[name]


def footer_schema(fs, path: str, shown: str) -> dict:
    """A Parquet file's schema from its footer alone (cheap, also remote)."""
    import pyarrow.parquet as pq

    try:
        with fs.open(path, "rb") as fh:
            return dict(pl.Schema(pq.ParquetFile(fh).schema_arrow))
    except FileNotFoundError as exc:
        raise BadPartError(f"{shown}: file not found") from exc
    except Exception as exc:
        raise BadPartError(f"{shown}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc


def _tsv_header(fs, path: str) -> set[str]:
    with fs.open(path, "rb") as fh:
        return set(fh.readline().decode("utf-8", "replace").rstrip("\r\n").split("\t"))


def _file_columns(fs, path: str, shown: str) -> set[str] | None:
    return set(footer_schema(fs, path, shown)) if reader_of(path) == "parquet" else None


def _list_files(fs, base: str, url) -> tuple[list[tuple[str, dict]], str, bool]:
    if not fs.exists(base):
        raise BadPartError(f"{url(base)}: no such release file or folder")
    if fs.isfile(base):
        return [(base, fs.info(base))], posixpath.dirname(base), True
    files = [
        (path, info)
        for path, info in fs.find(base, detail=True).items()
        if info.get("type") == "file"
        and path.endswith(PART_SUFFIXES)
        and not any(p.startswith(".") for p in path[len(base) :].split("/"))  # hidden: in-progress writes
    ]
    if not files:
        raise BadPartError(f"{url(base)}: no .parquet or .tsv parts in this folder")
    return sorted(files), base, False


def _resolve_embeddings(fs, path: str, layout: Layout, url) -> tuple[list[dict], list[str]]:
    folder, name = posixpath.dirname(path), posixpath.basename(path)
    found, missing = [], []
    for spec in layout.embeddings:
        candidates = [
            posixpath.normpath(posixpath.join(folder, t.format(index=layout.index(name), stem=stem(name))))
            for t in spec.paths
        ]
        present = next((c for c in candidates if fs.exists(c)), None)
        if present is None:
            missing.append(url(candidates[0]))
            continue
        found.append(
            {
                "kind": spec.kind,
                "model": spec.model,
                "dim": spec.dim,
                "path": url(present),
                "key": spec.key,
                "format": spec.format,
                "size": int(fs.info(present).get("size") or 0),
            }
        )
    return found, missing


def scan_release(
    location: str,
    name: str | None = None,
    layout: str | None = "auto",
    columns: str | dict | None = None,
    embeddings_model: str | None = None,
) -> Scan:
    """The parts of a release folder, file or fsspec URL, each with its layout (detected, or
    ``layout`` when not ``auto``; ``columns`` implies the ``columns`` layout), its partition key
    ``<release>-<part label>`` and its shipped embeddings.  A part whose embedding files are not
    all there yet is ``waiting``, not a part.  Files matching no layout, or several layouts in one
    folder, are a ``LayoutError`` naming them.  ``embeddings_model`` names the model behind the
    shipped vectors when it is not the layout's (their dimension is then read from the files)."""
    mapping = parse_columns(columns)
    layout = "columns" if mapping and layout in (None, "auto") else (layout or "auto")
    fs, base, url = filesystem(location)
    files, folder, single = _list_files(fs, base, url)
    release = slug(name or (stem(posixpath.basename(base)) if single else posixpath.basename(base)))
    detected = Detected(None)
    chosen: dict[str, Layout] = {}
    for path, _ in files:
        shown, file_name = url(path), posixpath.basename(path)
        if layout == "auto":
            try:
                found_columns = _file_columns(fs, path, shown)
            except BadPartError as exc:  # skipped, not fatal: the other parts still run
                detected.unreadable[shown] = str(exc)
                continue
            found = detect_layout(file_name, found_columns)
            if found is None:
                detected.unknown[shown] = (
                    f"columns {', '.join(sorted(found_columns))}"
                    if found_columns is not None
                    else "a TSV file"
                )
                continue
        else:
            found = layout_named(layout, mapping, reader_of(file_name) or "parquet")
            if found.reader != reader_of(file_name):
                raise LayoutError(f"{shown}: layout {found.name} reads {found.reader} files, not this one")
            have = _file_columns(fs, path, shown) if found.reader == "parquet" else None
            if have is None and found.reader == "tsv" and not found.tsv_fields:
                have = _tsv_header(fs, path)
            needed = found.required_columns() - (have or set()) if have is not None else set()
            if needed:
                raise LayoutError(
                    f"{shown}: layout {found.name} needs column(s) {', '.join(sorted(needed))}; "
                    f"the file has {', '.join(sorted(have))}"
                )
        detected.by_layout.setdefault(found.name, []).append(shown)
        chosen[path] = found
    problem = detected.error(url(base))
    if problem:
        raise problem
    parts, waiting, keys = [], {}, {}
    for path, info in files:
        if path not in chosen:
            continue
        found = chosen[path]
        shown, file_name = url(path), posixpath.basename(path)
        embeddings, missing = _resolve_embeddings(fs, path, found, url)
        if embeddings_model:
            embeddings = [{**e, "model": embeddings_model, "dim": None} for e in embeddings]
        if missing:
            waiting[shown] = missing
            continue
        key = partition_key(release, found.part_label(file_name))
        if key in keys:
            raise LayoutError(
                f"{keys[key]} and {shown} would both be partition {key}; give them their own folders"
            )
        keys[key] = shown
        parts.append(
            Part(
                key=key,
                path=shown,
                file=file_name,
                release=release,
                layout=found.name,
                columns={k: v if isinstance(v, str) else list(v) for k, v in found.columns.items()},
                safety=found.safety,
                max_unsafe_score=found.max_unsafe_score,
                embeddings=embeddings,
                size=int(info.get("size") or 0),
                mtime=_mtime(info),
                reader=found.reader,
            )
        )
    if not parts and not waiting:
        raise BadPartError(f"{url(base)}: no readable parts ({'; '.join(detected.unreadable.values())})")
    return Scan(sorted(parts, key=lambda p: p.key), waiting, detected.unreadable)


# ---------------------------------------------------------------- reading one part


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


def _read_tsv(location: str, layout: Layout) -> pl.DataFrame:
    """A TSV part as strings: a headerless one split at its first tabs into ``tsv_fields`` (a
    line without a tab gets a null caption), else by its header line."""
    source = _source(location)
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
    without a tab; with ``language``, rows whose language column says otherwise.  A caption column
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
    try:
        if layout.reader == "parquet":
            fs, path, _ = filesystem(location)
            schema = footer_schema(fs, path, location)
            _check_types(location, layout, schema)
            source = _source(location)
            lf = pl.scan_parquet(source) if isinstance(source, str) else pl.read_parquet(source).lazy()
        else:
            lf = _read_tsv(location, layout).lazy()
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
