"""Embeddings cached in LanceDB, keyed by encoder and the content hash of what was embedded.

One table per encoder and kind (``caption_embeddings__<encoder>``, ``image_embeddings__<encoder>``)
with columns ``content_hash`` (a caption's 128-bit blake2b, or an image file's sha256, hex) and
``vector``.  Inserts are ``merge_insert`` on ``content_hash`` (insert-if-absent), so a vector is
stored once however often or concurrently it is written, and a killed writer leaves the table at
its previous version.  A table written under the column's earlier name, ``text_hash``, is renamed
in place when first opened (a change of Lance's metadata alone).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from laionet_assets.core.io.names import table_name
from laionet_assets.core.io.storage import lance_connect
from laionet_assets.core.text.similarity import TextEncoder, text_hash

_LOOKUP_CHUNK = 4096
KEY = "content_hash"  # the content hash of what was embedded
FORMER_KEY = "text_hash"  # the same column in tables written by earlier versions


class EmbeddingCache:
    """``kind="caption"``: keys are caption hashes; ``kind="image"``: keys are the sha256 of the
    image file."""

    def __init__(self, folder: str | os.PathLike, kind: str = "caption"):
        self.uri = str(folder)
        self.kind = kind
        self.db = lance_connect(folder)

    def _table(self, encoder_id: str, dim: int, create: bool):
        name = table_name(f"{self.kind}_embeddings", encoder_id)
        try:
            table = self.db.open_table(name)
        except (FileNotFoundError, ValueError):
            if not create:
                return None
        else:
            if FORMER_KEY in table.schema.names:
                table.alter_columns({"path": FORMER_KEY, "rename": KEY})
            return table
        schema = pa.schema([(KEY, pa.string()), ("vector", pa.list_(pa.float32(), dim))])
        return self.db.create_table(name, schema=schema, exist_ok=True)

    def hashes(self, encoder_id: str) -> list[str]:
        """Every stored key (for consistency checks)."""
        table = self._table(encoder_id, 0, create=False)
        return [] if table is None else table.to_arrow().column(KEY).to_pylist()

    def count(self, encoder_id: str) -> int:
        table = self._table(encoder_id, 0, create=False)
        return 0 if table is None else table.count_rows()

    def lookup(self, encoder_id: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        table = self._table(encoder_id, 0, create=False)
        found: dict[str, np.ndarray] = {}
        if table is None:
            return found
        unique = sorted(set(hashes))
        for start in range(0, len(unique), _LOOKUP_CHUNK):
            chunk = unique[start : start + _LOOKUP_CHUNK]
            where = f"{KEY} IN (" + ",".join(f"'{h}'" for h in chunk) + ")"
            rows = table.search().where(where).select([KEY, "vector"]).limit(None).to_arrow()
            if rows.num_rows == 0:
                continue
            dim = rows.schema.field("vector").type.list_size
            vectors = rows.column("vector").combine_chunks().flatten().to_numpy().reshape(rows.num_rows, dim)
            found.update(zip(rows.column(KEY).to_pylist(), vectors))
        return found

    def add(self, encoder_id: str, hashes: Sequence[str], vectors: np.ndarray) -> int:
        """Insert vectors whose hash is not stored yet; returns the number inserted."""
        if len(hashes) == 0:
            return 0
        dim = vectors.shape[1]
        table = self._table(encoder_id, dim, create=True)
        data = pa.table(
            {
                KEY: pa.array(list(hashes), pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(vectors.astype(np.float32).ravel()), dim
                ),
            }
        )
        result = table.merge_insert(KEY).when_not_matched_insert_all().execute(data)
        return int(result.num_inserted_rows)


def encode_with_cache(
    encoder: TextEncoder,
    texts: Sequence[str],
    cache: EmbeddingCache | None,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = 16_384,
) -> tuple[np.ndarray, dict[str, int]]:
    """Embeddings of ``texts``; only captions absent from the cache are encoded (each once).

    New embeddings are stored chunk by chunk as they are computed, so a run killed half-way
    keeps what it finished and the next run encodes only the rest.
    """
    hashes = text_hash(texts)
    unique_hashes, first_index = np.unique(hashes, return_index=True)
    cached = cache.lookup(encoder.encoder_id, unique_hashes.tolist()) if cache is not None else {}
    missing = [i for h, i in zip(unique_hashes, first_index) if h not in cached]
    by_hash = dict(cached)
    inserted = 0
    for start in range(0, len(missing), chunk_size):
        chunk = missing[start : start + chunk_size]
        vectors = encoder.encode([texts[i] for i in chunk], progress=progress)
        chunk_hashes = [hashes[i] for i in chunk]
        if cache is not None:
            inserted += cache.add(encoder.encoder_id, chunk_hashes, vectors)
        by_hash.update(zip(chunk_hashes, vectors))
    out = np.stack([by_hash[h] for h in hashes]) if len(texts) else np.zeros((0, encoder.dim), np.float32)
    stats = {
        "captions": len(texts),
        "unique_captions": len(unique_hashes),
        "cache_hits": len(cached),
        "encoded": len(missing),
        "inserted": inserted,
    }
    return out.astype(np.float32), stats
