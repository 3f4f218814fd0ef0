"""CLIP image embeddings cached in LanceDB (paper §3.2).

One LanceDB table per image encoder (``image_embeddings__<encoder>``) keyed by the sha256 of the
image file, so an image shared by datasets, or met again in a later run, is embedded once.  Which
images belong to which dataset is the ``image_embeddings`` asset's table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from laionet_assets.core.text.embedding_cache import EmbeddingCache


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def embed_images(
    model,
    paths: Sequence[str],
    shas: Sequence[str],
    cache: EmbeddingCache | None,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, list[str], dict]:
    """Unit embeddings [n, dim] (NaN rows where decoding failed), errors per image, and counts."""
    cached = cache.lookup(model.encoder_id, list(shas)) if cache is not None else {}
    todo = [i for i, s in enumerate(shas) if s not in cached]
    vectors = np.full((len(paths), model.dim), np.nan, dtype=np.float32)
    errors = [""] * len(paths)
    for i, s in enumerate(shas):
        if s in cached:
            vectors[i] = cached[s]
    inserted = 0
    if todo:
        out, todo_errors = model.run([paths[i] for i in todo], workers=workers, progress=progress)
        good = [j for j, e in enumerate(todo_errors) if not e]
        for j, e in enumerate(todo_errors):
            errors[todo[j]] = e
        vectors[[todo[j] for j in good]] = out[good]
        if cache is not None and good:
            unique = {shas[todo[j]]: out[j] for j in good}
            inserted = cache.add(model.encoder_id, list(unique), np.stack(list(unique.values())))
    counts = {
        "images": len(paths),
        "cache_hits": len(paths) - len(todo),
        "embedded": len(todo),
        "failed": sum(1 for e in errors if e),
        "inserted": inserted,
    }
    return vectors, errors, counts


def cached_rows(
    cache: EmbeddingCache, encoder_id: str, rows: pl.DataFrame
) -> tuple[np.ndarray, pl.DataFrame]:
    """The rows (``vector_key``) whose vector the cache holds for ``encoder_id``, and their unit
    vectors in the same order."""
    found = cache.lookup(encoder_id, rows["vector_key"].to_list()) if rows.height else {}
    rows = rows.filter(pl.col("vector_key").is_in(list(found)))
    vectors = (
        np.stack([found[s] for s in rows["vector_key"]]) if rows.height else np.zeros((0, 1), np.float32)
    )
    return vectors, rows


def embedded_rows(
    cache: EmbeddingCache, embedded: pl.DataFrame, dataset: str
) -> tuple[np.ndarray, pl.DataFrame]:
    """Unit embeddings of one dataset's images that embedded (the ``image_embeddings`` table's
    rows for ``dataset`` without error, found in the cache), and those rows in the same order."""
    rows = embedded.filter((pl.col("dataset") == dataset) & pl.col("error").is_null())
    if rows.is_empty():
        return np.zeros((0, 1), dtype=np.float32), rows
    return cached_rows(cache, rows["encoder"][0], rows)


def load_vectors(
    cache: EmbeddingCache, embedded: pl.DataFrame, dataset: str
) -> tuple[np.ndarray, np.ndarray]:
    """Unit embeddings and wnids of one dataset's images that embedded."""
    vectors, rows = embedded_rows(cache, embedded, dataset)
    return vectors, rows["wnid"].to_numpy() if rows.height else np.zeros(0, dtype=object)
