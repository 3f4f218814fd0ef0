"""Writing a small release in each published layout, from one frame of canonical rows.

Used by ``scripts/make_release_samples.py`` (the samples under ``data/sample/releases/``) and by
the tests, so every layout is exercised on exactly the files its publisher ships: file names,
column names and types, the LAION-400M width/height swap, the .npy/.npz embeddings beside the
rows.  The embeddings written here are seeded random unit vectors (float16), not real CLIP
vectors: they exercise alignment, counts and dimensions, not similarity.

``rows``: ``id`` (int), ``url``, ``text``, ``nsfw_tag``, ``unsafe_score``, ``language``,
``width``, ``height`` (the true size).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from laionet_assets.core.io.atomic import write_bytes_atomic, write_parquet_atomic, write_text_atomic
from laionet_assets.core.vectors import unit_rows

UUID = {
    "laion400m": "5b54c5d5-bbcf-484d-a2ce-0d6f73df1a36",
    "laion5b": "5114fd87-297e-42b0-9d11-50f1df323dfa",
    "laion5b-joined": "2fa6f5b1-2dbb-4b59-9b8a-64d5fa6c6f3d",
    "relaion5b": "339dc23d-0869-4dc0-9390-b4036fcc80c2",
    "coyo700m": "17b4aa4b-4b21-4d36-8c5c-a1e9f4b6c3d1",
}


def _spark_name(layout: str, i: int) -> str:
    return f"part-{i:05d}-{UUID[layout]}-c000.snappy.parquet"


def _unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return unit_rows(v).astype(np.float16)


def _save_npy(path: Path, array: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    write_bytes_atomic(path, buffer.getvalue())


def _columns(layout: str, rows: pl.DataFrame) -> pl.DataFrame:
    """The part's own columns, named and typed as the publisher's files have them."""
    similarity = (pl.col("id") % 17 / 100 + 0.28).alias("similarity")
    if layout == "laion400m":
        return rows.select(
            pl.col("id").alias("SAMPLE_ID"),
            pl.col("url").alias("URL"),
            pl.col("text").alias("TEXT"),
            pl.col("width").alias("HEIGHT"),  # the published files have them swapped
            pl.col("height").alias("WIDTH"),
            pl.lit("?").alias("LICENSE"),
            pl.col("nsfw_tag").alias("NSFW"),
            similarity,
        )
    if layout in ("laion400m-emb", "laion5b-emb"):
        return rows.select(
            pl.format("{}", pl.col("id").cast(pl.String).str.zfill(9)).alias("image_path"),
            pl.col("text").alias("caption"),
            pl.col("nsfw_tag").alias("NSFW"),
            similarity,
            pl.lit("?").alias("LICENSE"),
            pl.col("url"),
            pl.col("id").cast(pl.String).str.zfill(9).alias("key"),
            pl.lit("success").alias("status"),
            pl.lit(None, pl.String).alias("error_message"),
            pl.lit(256).alias("width"),
            pl.lit(256).alias("height"),
            pl.col("width").alias("original_width"),
            pl.col("height").alias("original_height"),
        )
    if layout in ("laion5b", "laion5b-joined"):
        ident = (
            pl.col("id").alias("SAMPLE_ID")
            if layout == "laion5b"
            else (pl.col("id") * 2654435761 % 2**61).alias("hash")
        )
        return rows.select(
            ident,
            pl.col("url").alias("URL"),
            pl.col("text").alias("TEXT"),
            pl.col("height").alias("HEIGHT"),
            pl.col("width").alias("WIDTH"),
            similarity,
            pl.col("unsafe_score").cast(pl.Float64).alias("punsafe"),
            (pl.col("id") % 10 / 10).alias("pwatermark"),
            pl.col("language").alias("LANGUAGE"),
        )
    if layout == "relaion5b":
        return rows.select(
            pl.col("url"),
            pl.col("text").alias("caption"),
            pl.col("unsafe_score").cast(pl.Float64).alias("punsafe"),
            (pl.col("id") % 10 / 10).alias("pwatermark"),
            similarity,
            pl.col("id").cast(pl.String).str.zfill(9).alias("key"),
        )
    if layout == "datacomp":
        return rows.select(
            pl.col("id").cast(pl.String).str.zfill(32).alias("uid"),
            pl.col("url"),
            pl.col("text"),
            pl.col("width").alias("original_width"),
            pl.col("height").alias("original_height"),
            pl.Series("sha256", [hashlib.sha256(u.encode()).hexdigest() for u in rows["url"]], pl.String),
        )
    if layout == "coyo700m":
        return rows.select(
            pl.col("id"),
            pl.col("url"),
            pl.col("text"),
            pl.col("width"),
            pl.col("height"),
            (pl.col("id") * 40503 % 2**31).cast(pl.String).alias("image_phash"),
            similarity.alias("clip_similarity_vitb32"),
            pl.col("unsafe_score").cast(pl.Float64).alias("nsfw_score_opennsfw2"),
            (pl.col("unsafe_score") * 0.5).cast(pl.Float64).alias("nsfw_score_gantman"),
            (pl.col("id") % 10 / 10).alias("watermark_score"),
        )
    raise ValueError(f"no sample writer for layout {layout!r}")


EMBEDDINGS_DIMS = {"laion400m-emb": 512, "laion5b-emb": 768}
DATACOMP_ARRAYS = (("b32_txt", 512), ("l14_txt", 768), ("b32_img", 512), ("l14_img", 768))


def part_path(layout: str, folder: Path, i: int, seed: int = 0) -> Path:
    """Where part ``i`` of a release of ``layout`` lives, named as its publisher names it."""
    if layout == "laion400m-emb":
        return folder / "metadata" / f"metadata_{i}.parquet"
    if layout == "laion5b-emb":
        return folder / "laion2B-en-metadata" / f"metadata_{i:04d}.parquet"
    if layout == "datacomp":
        return folder / f"{(seed * 7919 + i * 104729 + 1) % 16**32:032x}.parquet"
    return folder / _spark_name(layout, i)


def vector_paths(layout: str, part: Path) -> dict[str, Path]:
    """The embedding files shipped beside a part: kind (or npz) → path."""
    if layout in EMBEDDINGS_DIMS:
        index = part.stem.removeprefix("metadata_")
        root = part.parent.parent
        return {
            "text": root / "text_emb" / f"text_emb_{index}.npy",
            "image": root / "img_emb" / f"img_emb_{index}.npy",
        }
    if layout == "datacomp":
        return {"npz": part.with_suffix(".npz")}
    return {}


def _write_vectors(layout: str, part: Path, chunk: pl.DataFrame, seed: int, vectors) -> None:
    import io

    def make(kind: str, dim: int, k: int) -> np.ndarray:
        if callable(vectors):
            return np.asarray(vectors(kind, dim, chunk), dtype=np.float16)
        return _unit_vectors(chunk.height, dim, seed + k)

    for k, (kind, path) in enumerate(vector_paths(layout, part).items()):
        if kind == "npz":
            buffer = io.BytesIO()
            arrays = {
                key: make("text" if key.endswith("txt") else "image", dim, j)
                for j, (key, dim) in enumerate(DATACOMP_ARRAYS)
            }
            np.savez(buffer, **arrays)
            write_bytes_atomic(path, buffer.getvalue())
        else:
            _save_npy(path, make(kind, EMBEDDINGS_DIMS[layout], k))


def write_release(
    layout: str,
    folder: str | Path,
    rows: pl.DataFrame,
    parts: int = 2,
    seed: int = 0,
    vectors: bool | Callable[[str, int, pl.DataFrame], np.ndarray] = True,
) -> list[Path]:
    """Write ``rows`` as a release of ``layout`` under ``folder`` in ``parts`` parts (CC12M: one
    file); returns the part files (metadata files, for the embeddings releases).  ``vectors``:
    also write the shipped embeddings (``vector_paths``): seeded random unit vectors, or those a
    function ``(kind, dim, rows of the part) → array`` gives (e.g. a model's)."""
    folder = Path(folder)
    if layout == "cc12m":
        path = folder / "cc12m.tsv"
        lines = rows.select(pl.concat_str(["url", pl.col("text").fill_null("")], separator="\t"))
        write_text_atomic(path, "\n".join(lines.to_series().to_list()) + "\n")
        return [path]
    size = -(-rows.height // parts)
    written = []
    for i in range(parts):
        chunk = _columns(layout, rows.slice(i * size, size))
        path = part_path(layout, folder, i, seed)
        write_parquet_atomic(chunk, path)
        if vectors:
            _write_vectors(layout, path, rows.slice(i * size, size), seed + 4 * i, vectors)
        written.append(path)
    return written


def canonical_rows(part: pl.DataFrame, seed: int = 0, other_languages: float = 0.2) -> pl.DataFrame:
    """Rows for ``write_release`` from a LAION-400M part as ``read_part`` gives it (numeric
    ``sample_id``, ``nsfw_tag``, true ``width``/``height``): an unsafe score consistent with each
    tag (UNLIKELY < 0.3, UNSURE 0.3–0.6, NSFW ≥ 0.7) and a language, ``en`` for most rows (seeded)."""
    rng = np.random.default_rng(seed)
    n = part.height
    offsets = pl.Series(rng.uniform(0.0, 0.3, n).round(4))
    languages = np.where(rng.uniform(size=n) < other_languages, rng.choice(["de", "fr", "es"], n), "en")
    base = pl.col("nsfw_tag").replace_strict({"UNLIKELY": 0.0, "UNSURE": 0.3, "NSFW": 0.7}, default=None)
    return part.select(
        pl.col("sample_id").cast(pl.Int64).alias("id"),
        "url",
        "text",
        "nsfw_tag",
        (base + offsets).cast(pl.Float32).alias("unsafe_score"),
        pl.Series("language", languages.tolist(), dtype=pl.String),
        pl.col("width").fill_null(640).cast(pl.Int32),
        pl.col("height").fill_null(480).cast(pl.Int32),
    )
