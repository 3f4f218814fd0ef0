"""The image-text releases as published, and how each maps to one canonical part schema.

A *layout* says which files of a release are parts, which of their columns are the caption, URL,
id, safety signal, language and size, and which embeddings ship beside each part.  Layouts are
recognised from file names and Parquet footers (``detect_layout``), never guessed: a file that
matches no layout, or a folder that mixes layouts, is a ``LayoutError`` naming the files.  A
``--columns text=…,url=…,id=…`` mapping (``custom_layout``) reads any other Parquet or TSV file.

The canonical part (``CANONICAL_SCHEMA``): ``sample_id, url, text, nsfw_tag, unsafe_score,
language, width, height``.  The rest of the graph never sees a release's own column names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import polars as pl

CANONICAL_SCHEMA = {
    "sample_id": pl.String,
    "url": pl.String,
    "text": pl.String,
    "nsfw_tag": pl.String,
    "unsafe_score": pl.Float32,
    "language": pl.String,
    "width": pl.Int32,
    "height": pl.Int32,
}
# `--columns` keys: the canonical names, with `id` for sample_id.
COLUMN_KEYS = {"id": "sample_id", **{k: k for k in CANONICAL_SCHEMA if k != "sample_id"}}
PART_SUFFIXES = (".parquet", ".tsv")


class BadPartError(ValueError):
    """A part that cannot be processed; the message names the file (and column/row)."""


class LayoutError(BadPartError):
    """A release whose files match no layout, or several; the message names the files."""


@dataclass(frozen=True)
class ShippedEmbedding:
    """Vectors a release ships beside each part, row i ↔ row i.  ``paths``: where to look,
    relative to the part's folder, ``{index}`` being the number in the part's file name and
    ``{stem}`` its name without suffix; the first that exists is used."""

    kind: str  # "text" (captions) or "image"
    model: str  # open_clip architecture/pretrained tag
    dim: int
    paths: tuple[str, ...]
    key: str | None = None  # the array's name inside an .npz

    @property
    def format(self) -> str:
        return PurePosixPath(self.paths[0]).suffix.lstrip(".")


@dataclass(frozen=True)
class Layout:
    name: str
    release: str  # what a person calls it
    reader: str  # "parquet" or "tsv"
    # canonical key → the release's column (a tuple: the maximum of several score columns)
    columns: dict[str, str | tuple[str, ...]]
    optional: frozenset[str] = frozenset()  # canonical keys a part may lack (then null)
    forbidden: frozenset[str] = frozenset()  # columns whose presence means another layout
    file_pattern: str | None = None  # a part's file name must match (regex, whole name)
    label: tuple[str, str] | None = None  # (regex with the part number, format) → partition label
    tsv_fields: tuple[str, ...] | None = None  # names of a headerless TSV's fields
    max_unsafe_score: float | None = None  # the publisher's own cut, where it has scores
    embeddings: tuple[ShippedEmbedding, ...] = ()
    note: str = ""

    @property
    def safety(self) -> str:
        """``tags``, ``scores`` or ``none``: which safety signal the release carries."""
        return (
            "tags" if "nsfw_tag" in self.columns else "scores" if "unsafe_score" in self.columns else "none"
        )

    def required_columns(self) -> set[str]:
        return {c for key, src in self.columns.items() if key not in self.optional for c in _names(src)}

    def part_label(self, file_name: str) -> str:
        """The readable part of a partition key: ``part-00042``, ``emb-0409``, else the stem."""
        if self.label:
            found = re.search(self.label[0], file_name)
            if found:
                return self.label[1].format(int(found.group(1)))
        return stem(file_name)

    def index(self, file_name: str) -> str:
        found = re.search(self.label[0], file_name) if self.label else None
        return found.group(1) if found else stem(file_name)


def _names(source: str | tuple[str, ...]) -> tuple[str, ...]:
    return (source,) if isinstance(source, str) else tuple(source)


def stem(file_name: str) -> str:
    name = PurePosixPath(file_name).name
    for suffix in (".snappy.parquet", ".parquet", ".tsv"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return PurePosixPath(name).stem


PART_NUMBER = (r"^part-(\d+)", "part-{:05d}")
_SIZE = {"width": "WIDTH", "height": "HEIGHT"}
_EMB_B32 = "ViT-B-32/openai"
_EMB_L14 = "ViT-L-14/openai"


def _npy_beside(kind: str, model: str, dim: int) -> ShippedEmbedding:
    folder = "text_emb" if kind == "text" else "img_emb"
    return ShippedEmbedding(
        kind, model, dim, (f"../{folder}/{folder}_{{index}}.npy", f"{folder}_{{index}}.npy")
    )


def _embeddings_release(name: str, release: str, digits: str, label: str, model: str, dim: int) -> Layout:
    """LAION's embeddings releases: img2dataset metadata shards beside text_emb / img_emb .npy."""
    return Layout(
        name,
        release,
        "parquet",
        {
            "sample_id": "key",
            "url": "url",
            "text": "caption",
            "nsfw_tag": "NSFW",
            "width": "original_width",
            "height": "original_height",
        },
        optional=frozenset({"width", "height"}),
        file_pattern=rf"metadata_{digits}\.parquet",
        label=(r"^metadata_(\d+)", label),
        embeddings=(_npy_beside("text", model, dim), _npy_beside("image", model, dim)),
        note=f"{model} embeddings, {dim}-d float16, unit norm; `key` is img2dataset's",
    )


def _datacomp_npz(kind: str, key: str, model: str, dim: int) -> ShippedEmbedding:
    return ShippedEmbedding(kind, model, dim, ("{stem}.npz",), key)


RELEASE_LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "laion400m",
            "LAION-400M metadata",
            "parquet",
            # The published WIDTH and HEIGHT are swapped: WIDTH holds the height.  Read crosswise.
            {"sample_id": "SAMPLE_ID", "url": "URL", "text": "TEXT", "nsfw_tag": "NSFW", "width": "HEIGHT"}
            | {"height": "WIDTH"},
            optional=frozenset({"width", "height"}),
            forbidden=frozenset({"punsafe", "hash"}),
            label=PART_NUMBER,
            note="WIDTH/HEIGHT are swapped in the published files and read crosswise",
        ),
        _embeddings_release(
            "laion400m-emb",
            "LAION-400M embeddings release",
            r"(?:0|[1-9]\d{0,2})",
            "emb-{:04d}",
            _EMB_B32,
            512,
        ),
        Layout(
            "laion5b",
            "LAION-5B (2B-en, 2B-multi, 1B-nolang) metadata",
            "parquet",
            {
                "sample_id": "SAMPLE_ID",
                "url": "URL",
                "text": "TEXT",
                "unsafe_score": "punsafe",
                "language": "LANGUAGE",
                **_SIZE,
            },
            optional=frozenset({"language", "width", "height"}),
            forbidden=frozenset({"hash"}),
            label=PART_NUMBER,
            max_unsafe_score=0.5,
        ),
        Layout(
            "laion5b-joined",
            'LAION-5B "-joined" metadata',
            "parquet",
            {
                "sample_id": "hash",
                "url": "URL",
                "text": "TEXT",
                "unsafe_score": "punsafe",
                "language": "LANGUAGE",
                **_SIZE,
            },
            optional=frozenset({"language", "width", "height"}),
            label=PART_NUMBER,
            max_unsafe_score=0.5,
        ),
        _embeddings_release(
            "laion5b-emb", "LAION-5B embeddings release", r"\d{4}", "emb-{:04d}", _EMB_L14, 768
        ),
        Layout(
            "relaion5b",
            "Re-LAION-5B research / research-safe",
            "parquet",
            {"sample_id": "key", "url": "url", "text": "caption", "unsafe_score": "punsafe"},
            forbidden=frozenset({"NSFW"}),
            label=PART_NUMBER,
            max_unsafe_score=0.5,
        ),
        Layout(
            "datacomp",
            "DataComp CommonPool",
            "parquet",
            {"sample_id": "uid", "url": "url", "text": "text", "width": "original_width"}
            | {"height": "original_height"},
            optional=frozenset({"width", "height"}),
            embeddings=(
                _datacomp_npz("text", "b32_txt", _EMB_B32, 512),
                _datacomp_npz("text", "l14_txt", _EMB_L14, 768),
                _datacomp_npz("image", "b32_img", _EMB_B32, 512),
                _datacomp_npz("image", "l14_img", _EMB_L14, 768),
            ),
            note="no safety signal: needs --nsfw-policy none",
        ),
        Layout(
            "coyo700m",
            "COYO-700M",
            "parquet",
            {
                "sample_id": "id",
                "url": "url",
                "text": "text",
                "unsafe_score": ("nsfw_score_opennsfw2", "nsfw_score_gantman"),
                "width": "width",
                "height": "height",
            },
            optional=frozenset({"width", "height"}),
            label=PART_NUMBER,
            max_unsafe_score=0.5,
            note="unsafe_score is the larger of the two NSFW detectors' scores",
        ),
        Layout(
            "cc12m",
            "Conceptual 12M",
            "tsv",
            {"url": "url", "text": "caption"},
            file_pattern=r".*\.tsv",
            tsv_fields=("url", "caption"),
            note="headerless url<TAB>caption; sample_id is <partition>:<line index>; no safety signal",
        ),
    )
}
LAYOUT_CHOICES = ("auto", *RELEASE_LAYOUTS, "columns")


def parse_columns(spec: str | dict | None) -> dict[str, str] | None:
    """``text=caption,url=link,id=uid`` → ``{"text": "caption", "url": "link", "sample_id": "uid"}``."""
    if not spec:
        return None
    pairs = spec.items() if isinstance(spec, dict) else (item.split("=", 1) for item in spec.split(","))
    mapping = {}
    for pair in pairs:
        if len(pair) != 2 or not pair[0].strip() or not pair[1].strip():
            raise ValueError(f"--columns {spec!r}: expected key=column pairs such as text=caption,url=url")
        key, column = pair[0].strip(), pair[1].strip()
        if key not in COLUMN_KEYS:
            raise ValueError(f"--columns: unknown key {key!r}; known: {', '.join(COLUMN_KEYS)}")
        mapping[COLUMN_KEYS[key]] = column
    if "text" not in mapping:
        raise ValueError(f"--columns {spec!r} names no text column (text=<caption column>)")
    return mapping


def custom_layout(columns: dict[str, str], reader: str = "parquet") -> Layout:
    """The layout of a ``--columns`` mapping (a TSV must have a header line naming the columns)."""
    return Layout(
        "columns",
        "columns given with --columns",
        reader,
        dict(columns),
        note="read with --columns " + ",".join(f"{k}={v}" for k, v in columns.items()),
    )


def reader_of(file_name: str) -> str | None:
    return "parquet" if file_name.endswith(".parquet") else "tsv" if file_name.endswith(".tsv") else None


def matches(layout: Layout, file_name: str, columns: set[str] | None) -> bool:
    """Whether a file of this name and these columns (None: a headerless file) is of the layout."""
    name = PurePosixPath(file_name).name
    if reader_of(name) != layout.reader:
        return False
    if layout.file_pattern and not re.fullmatch(layout.file_pattern, name):
        return False
    if layout.tsv_fields:
        return True
    return columns is not None and layout.required_columns() <= columns and not layout.forbidden & columns


def closest_layout(columns: set[str]) -> str:
    """For a Parquet file no layout reads: the layout it comes closest to, the column(s) it lacks
    and the ``--columns`` that would read it; empty when none is within two columns."""
    best = None
    for layout in RELEASE_LAYOUTS.values():
        if layout.reader != "parquet" or layout.forbidden & columns:
            continue
        lacking = sorted(layout.required_columns() - columns)
        if 0 < len(lacking) <= 2 and (best is None or len(lacking) < len(best[1])):
            best = (layout, lacking)
    if best is None:
        return ""
    layout, lacking = best
    flags = {"text": "text", "url": "url", "sample_id": "id"}  # --columns' keys
    mapping = ",".join(
        f"{flag}={src if isinstance(src, str) and src in columns else '<its column>'}"
        for key, flag in flags.items()
        if (src := layout.columns.get(key))
    )
    needs = ", ".join(lacking)
    return f"; closest to layout {layout.name}, which needs {needs}: read it with --columns {mapping}"


def detect_layout(file_name: str, columns: set[str] | None) -> Layout | None:
    """The one layout this file matches, None when none does; a file whose columns satisfy two
    layouts is a ``LayoutError`` naming them and the ``--layout`` that settles it."""
    found = [layout for layout in RELEASE_LAYOUTS.values() if matches(layout, file_name, columns)]
    if len(found) > 1:
        names = [f.name for f in found]
        raise LayoutError(
            f"{file_name} matches release layouts {' and '.join(names)}; "
            f"name one: --layout {names[0]} (or --layout {names[1]})"
        )
    return found[0] if found else None


@dataclass
class Detected:
    """The layout of a set of files (a release folder), or the files that match none."""

    layout: Layout | None
    by_layout: dict[str, list[str]] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)  # file → what it has
    unreadable: dict[str, str] = field(default_factory=dict)  # file → why its footer cannot be read

    def error(self, where: str) -> LayoutError | None:
        if self.unknown:
            listed = "; ".join(f"{f} ({what})" for f, what in sorted(self.unknown.items())[:10])
            return LayoutError(
                f"{where}: {len(self.unknown)} file(s) match no known release layout: {listed}. "
                f"Known layouts: {', '.join(RELEASE_LAYOUTS)}; "
                "read other files with --columns text=…,url=…,id=…"
            )
        if len(self.by_layout) > 1:
            listed = "; ".join(
                f"{name}: {', '.join(files[:5])}{' …' if len(files) > 5 else ''}"
                for name, files in sorted(self.by_layout.items())
            )
            return LayoutError(f"{where} mixes release layouts ({listed}); give each release its own folder")
        return None
