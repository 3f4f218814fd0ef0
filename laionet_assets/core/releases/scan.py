"""Finding the parts of an image-text release: ``scan_release`` lists a folder, file or fsspec
URL, detects its layout (any of ``core.releases.layouts``), resolves the embeddings shipped beside
each part and names its partitions.  Reading one part is ``core.releases.read``."""

from __future__ import annotations

import posixpath
import re
from dataclasses import asdict, dataclass, field

import polars as pl

from laionet_assets.core.io.names import slug
from laionet_assets.core.io.storage import refuse_credentials
from laionet_assets.core.releases.layouts import (
    PART_SUFFIXES,
    RELEASE_LAYOUTS,
    BadPartError,
    Detected,
    Layout,
    LayoutError,
    closest_layout,
    custom_layout,
    detect_layout,
    parse_columns,
    reader_of,
    stem,
)


def partition_key(release: str, part: str) -> str:
    return f"{slug(release)}-{slug(part)}"


def filesystem(location: str):
    """The fsspec filesystem of a release location, the location's path on it, and the function
    that turns a path on it back into a location; a URL with credentials in it is refused."""
    import fsspec

    refuse_credentials(location, "release")
    try:
        fs, path = fsspec.core.url_to_fs(str(location))
    except (ValueError, ImportError) as exc:  # an unknown protocol, or its library not installed
        raise BadPartError(f"{location}: cannot be opened ({exc})") from exc
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    local = protocol in ("file", "local")

    def url(p: str) -> str:  # an http(s) path is a URL already
        return p if local or "://" in p else f"{protocol}://{p.lstrip('/')}"

    return fs, path.rstrip("/") or "/", url


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


def _tsv_shape(fs, path: str) -> str | None:
    """None for a TSV in CC12M's shape (no header, two fields, the first a URL), else what it is."""
    with fs.open(path, "rb") as fh:
        first = fh.readline(4096).decode("utf-8", "replace").rstrip("\r\n")
    fields = first.split("\t")
    if len(fields) == 2 and re.match(r"(?i)https?://", fields[0]):
        return None
    shown = "\\t".join(f[:20] for f in fields[:4]) + ("\\t…" if len(fields) > 4 else "")
    return (
        f"a TSV whose first line has {len(fields)} field(s) ({shown!r}), not CC12M's URL<TAB>caption; "
        "read it with --columns text=…,url=…,id=…"
    )


def _unknown(fs, path: str, file_name: str, columns: set[str] | None) -> str:
    """What a file no layout reads is, in words, and what would read it."""
    if columns is not None:
        return f"columns {', '.join(sorted(columns))}{closest_layout(columns)}"
    if reader_of(file_name) == "tsv":
        return _tsv_shape(fs, path) or "a TSV file"
    return f"neither Parquet nor TSV ({posixpath.splitext(file_name)[1] or 'no suffix'})"


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
    strict: bool = False,
    part_prefix: str | None = None,
) -> Scan:
    """The parts of a release folder, file or fsspec URL, each with its layout (detected, or
    ``layout`` when not ``auto``; ``columns`` implies the ``columns`` layout), its partition key
    ``<release>-<part label>`` (``<release>-<part_prefix>-<part label>`` for one folder of a union
    of several) and its shipped embeddings.  A part whose embedding files are not
    all there yet is ``waiting``, not a part.  Files matching no layout, or several layouts in one
    folder, are a ``LayoutError`` naming them.  ``embeddings_model`` names the model behind the
    shipped vectors when it is not the layout's (their dimension is then read from the files).
    Where other files of the folder match a layout, a file that matches none is skipped as
    ``unreadable``, named with what it lacks, and the others run; ``strict`` refuses the release
    instead."""
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
            if found is not None and found.tsv_fields and _tsv_shape(fs, path) is not None:
                found = None  # a .tsv is CC12M only in CC12M's shape
            if found is None:
                detected.unknown[shown] = _unknown(fs, path, file_name, found_columns)
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
    if detected.unknown and detected.by_layout and not strict:
        for shown, what in detected.unknown.items():  # the folder's other parts still run
            detected.unreadable[shown] = f"{shown}: matches no release layout: {what}"
        detected.unknown = {}
    if strict and detected.unreadable:
        listed = "; ".join(sorted(detected.unreadable.values())[:5])
        raise LayoutError(
            f"{url(base)}: {len(detected.unreadable)} file(s) cannot be read (--strict): {listed}"
        )
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
        label = found.part_label(file_name)
        key = partition_key(release, f"{part_prefix}-{label}" if part_prefix else label)
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
