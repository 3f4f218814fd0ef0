"""A FAISS IVF-PQ caption index persisted on disk and grown one release part at a time (paper §4.3
at LAION scale: the paper searched all of LAION-400M through a 16 GB FAISS index).

One folder per encoder:

- ``trained.faiss``: the empty IVF-PQ index (coarse centroids, PQ codebooks), trained on the first
  ``train_rows`` vectors of the first part added, and again only when a later part brings more
  training vectors than it saw (``trained.json``); every part's codes use it, and shards of an
  earlier training are stale (the caption index rebuilds them from its table).
- ``<part>.faiss``: the part's PQ codes (ids: the order the part's vectors came in);
  ``<part>.f16``: the same vectors in float16 (raw, row-major), read memory-mapped to re-rank the
  candidates exactly; ``<part>.ids.parquet``: the ``sample_id`` of each row;
  ``<part>.part.json``: rows, dim and the training it belongs to, written last.

The folder may be on an object store (a URL home, ``core.io.storage``): files are uploaded whole,
and ``search`` reads only the candidates' float16 rows, by ranged requests, instead of a memory
map.  A shard names its training by a hash of ``trained.faiss``'s bytes, which every store keeps.

A part written again replaces its files (each written to a temp file and renamed, the
``.part.json`` last), so re-running a part is idempotent and a part whose run died is simply not there.
``search`` merges the parts' codes into one in-memory IVF index (so the coarse quantizer runs
once per query), takes the ``refine`` best candidates per query at ``nprobe`` lists, and keeps the
one whose float16 vector is most similar, in float32 arithmetic.

Per caption the folder holds a 64-byte PQ code (512-d) and a 1,024-byte float16 copy: ~440 GB for
LAION-400M, the size of the release's own ``text_emb``; the codes alone are 26 GB.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

import numpy as np
import polars as pl

from laionet_assets.core.io.atomic import (
    write_atomic,
    write_bytes_atomic,
    write_parquet_atomic,
    write_text_atomic,
)
from laionet_assets.core.io.names import check_key, slug
from laionet_assets.core.io.storage import Location, home_path, is_remote, read_bytes, read_parquet

DEFAULT_NPROBE = 16
DEFAULT_REFINE = 4
TRAIN_ROWS = 100_000


def ivf_pq(dim: int, expected_rows: int, train_rows: int):
    """An untrained IVF index over inner products: ``4√expected_rows`` lists (at least 39 training
    vectors each) of PQ codes, dim/8 sub-quantizers (dim/2 below 128 dimensions) of 8 bits; below
    9,984 training vectors (39 per PQ centroid), float16 codes instead (a small index, where their
    size does not matter and 4-bit codebooks would lose recall)."""
    import faiss

    lists = max(1, min(int(4 * np.sqrt(max(expected_rows, train_rows))), train_rows // 39))
    quantizer = faiss.IndexFlatIP(dim)
    if train_rows < 256 * 39:
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, lists, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
    else:
        sub = next(
            s for s in ((dim // 8, dim // 4) if dim >= 128 else (dim // 2,)) + (1,) if s >= 1 and dim % s == 0
        )
        index = faiss.IndexIVFPQ(quantizer, dim, lists, sub, 8, faiss.METRIC_INNER_PRODUCT)
    # a small index trains one list on fewer than 39 vectors by design: no warning on stderr for it
    index.cp.min_points_per_centroid = 1
    return index


def float16_rows(path: Location, rows: int, dim: int):
    """``read(indices) → float16 [len(indices), dim]`` of a part's ``.f16`` file: a memory map of a
    local file; ranged reads of an object (only the candidates' rows travel, never the file)."""
    if not is_remote(path):
        store = np.memmap(path, dtype=np.float16, mode="r", shape=(rows, dim))
        return lambda indices: store[indices]
    width = 2 * dim

    def read(indices: np.ndarray) -> np.ndarray:
        if not len(indices):
            return np.empty((0, dim), np.float16)
        starts = (np.asarray(indices, np.int64) * width).tolist()
        blobs = path.fs.cat_ranges([path.path] * len(starts), starts, [s + width for s in starts])
        return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(starts), dim)

    return read


class PartWriter:
    """Writes one part's shard chunk by chunk; ``close`` publishes it (or nothing was written)."""

    def __init__(self, shards: FaissShards, part: str, expected_rows: int):
        self.shards, self.part, self.expected_rows = shards, part, expected_rows
        self.pending: list[np.ndarray] = []  # held until the index is trained
        self.ids: list[pl.Series] = []
        self.rows = 0
        self.index = None
        base = shards.folder / slug(part, "file")
        temp = f".{base.name}.f16.{os.getpid()}.tmp"  # beside the shard, or local for an object store
        if is_remote(base):
            self.vectors_tmp = home_path(tempfile.gettempdir()) / temp
        else:
            self.vectors_tmp = base.with_name(temp)
            self.vectors_tmp.parent.mkdir(parents=True, exist_ok=True)
        self.vectors_file = open(self.vectors_tmp, "wb")

    def add(self, sample_ids: list[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, np.float32)
        if len(vectors) == 0:
            return
        if vectors.shape[1] != self.shards.dim:
            raise ValueError(f"{self.part}: {vectors.shape[1]}-d vectors for a {self.shards.dim}-d index")
        self.ids.append(pl.Series(sample_ids, dtype=pl.String))
        self.vectors_file.write(vectors.astype(np.float16).tobytes())
        self.rows += len(vectors)
        if self.index is None:
            self.pending.append(vectors)
            if sum(len(v) for v in self.pending) < self.shards.train_rows:
                return
            self._start()
        else:
            self.index.add(vectors)

    def _start(self) -> None:
        vectors, self.pending = np.concatenate(self.pending), []
        self.index = self.shards.empty(vectors, self.expected_rows)
        self.trained = self.shards.trained_id()
        self.index.add(vectors)

    def close(self) -> int:
        """Publish the part's shard; returns its rows."""
        import faiss

        self.vectors_file.close()
        if self.index is None and self.pending:
            self._start()
        base = self.shards.folder / slug(self.part, "file")
        if self.index is None:  # nothing usable in the part: no shard, and any old one is removed
            self.vectors_tmp.unlink(missing_ok=True)
            home_path(f"{base}.part.json").unlink(missing_ok=True)
            return 0
        write_atomic(f"{base}.f16", lambda tmp: shutil.move(self.vectors_tmp, tmp))
        write_bytes_atomic(f"{base}.faiss", faiss.serialize_index(self.index).tobytes())
        write_parquet_atomic(pl.DataFrame({"sample_id": pl.concat(self.ids)}), f"{base}.ids.parquet")
        facts = {
            "part": self.part,
            "rows": self.rows,
            "dim": self.shards.dim,
            "trained": self.trained,
        }
        write_text_atomic(f"{base}.part.json", json.dumps(facts))
        return self.rows


class FaissShards:
    def __init__(self, folder: str | os.PathLike, dim: int, train_rows: int = TRAIN_ROWS):
        self.folder = home_path(folder)  # a local folder, or a prefix of a URL home
        self.dim, self.train_rows = dim, train_rows

    @property
    def trained_path(self) -> Location:
        return self.folder / "trained.faiss"

    def _trained(self) -> tuple[str | None, bytes | None]:
        """The trained index's identity (a hash of its bytes, the same on a disk and an object
        store: shards of another training are stale) and its bytes, read once."""
        if not self.trained_path.exists():
            return None, None
        raw = read_bytes(self.trained_path)
        return hashlib.blake2b(raw, digest_size=12).hexdigest(), raw

    def trained_id(self) -> str | None:
        return self._trained()[0]

    def trained_index(self, raw: bytes | None = None):
        import faiss

        raw = read_bytes(self.trained_path) if raw is None else raw
        return faiss.deserialize_index(np.frombuffer(raw, dtype=np.uint8))

    def trained_rows(self) -> int:
        facts = self.folder / "trained.json"
        return json.loads(facts.read_text())["rows"] if facts.exists() else 0

    def empty(self, sample: np.ndarray, expected_rows: int):
        """A copy of the trained, empty index.  It is trained now, on ``sample``, when there is none
        yet, or when the one there saw fewer than ``train_rows`` vectors and ``sample`` has more (a
        small first part does not fix a poor index for good): every shard of the old training is
        then stale, and the caption index rebuilds it from its table when it next searches."""
        import faiss

        rows = min(len(sample), self.train_rows)
        if not self.trained_path.exists() or rows > self.trained_rows():
            index = ivf_pq(self.dim, expected_rows, rows)
            index.train(np.ascontiguousarray(sample[:rows], np.float32))
            write_atomic(self.trained_path, lambda tmp: faiss.write_index(index, tmp))
            write_text_atomic(self.folder / "trained.json", json.dumps({"rows": rows, "dim": self.dim}))
        index = self.trained_index()
        if index.d != self.dim:
            raise ValueError(f"{self.trained_path}: a {index.d}-d index, the vectors are {self.dim}-d")
        return index

    def writer(self, part: str, expected_rows: int) -> PartWriter:
        return PartWriter(self, check_key(part), expected_rows)

    def parts(self, trained: str | None = None) -> dict[str, int]:
        """Current parts (of the present training, or of the one named ``trained``) and their rows."""
        trained = trained or self.trained_id()
        found = {}
        for path in sorted(self.folder.glob("*.part.json")) if self.folder.exists() else []:
            facts = json.loads(path.read_text())
            if facts["trained"] == trained and facts["dim"] == self.dim:
                found[facts["part"]] = facts["rows"]
        return found

    def search(
        self,
        queries: np.ndarray,
        nprobe: int = DEFAULT_NPROBE,
        refine: int = DEFAULT_REFINE,
        parts: list[str] | None = None,
        block: int = 8192,
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Index (into the returned ``sample_id`` list) and cosine similarity of each query's
        nearest vector among ``parts`` (default: every current part), -1 and -inf when nothing is
        stored, and the ``sample_id`` list."""
        import faiss

        trained, raw = self._trained()  # one read: the parts and the index of the same training
        current = self.parts(trained) if trained else {}
        parts = {p: current[p] for p in (current if parts is None else parts) if p in current}
        queries = np.ascontiguousarray(queries, np.float32)
        none = np.full(len(queries), -1, np.int64), np.full(len(queries), -np.inf, np.float32), []
        if not parts:
            return none
        merged = self.trained_index(raw)
        stores, ids, offset = [], [], 0
        for part, rows in parts.items():
            base = self.folder / slug(part, "file")
            shard = faiss.deserialize_index(np.frombuffer(read_bytes(f"{base}.faiss"), dtype=np.uint8))
            merged.merge_from(shard, offset)
            stores.append(float16_rows(home_path(f"{base}.f16"), rows, self.dim))
            ids.extend(read_parquet(home_path(f"{base}.ids.parquet"))["sample_id"].to_list())
            offset += rows
        starts = np.cumsum([0, *parts.values()])
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        best = np.full(len(queries), -1, np.int64)
        similarity = np.full(len(queries), -np.inf, np.float32)
        for start in range(0, len(queries), block):
            q = queries[start : start + block]
            _, candidates = merged.search(q, refine, params=params)
            vectors = np.zeros((*candidates.shape, self.dim), np.float32)
            for k, store in enumerate(stores):
                inside = (candidates >= starts[k]) & (candidates < starts[k + 1])
                rows = candidates[inside] - starts[k]
                order = np.argsort(rows, kind="stable")  # read each file in order
                picked = np.empty((rows.size, self.dim), np.float32)
                picked[order] = store(rows[order])
                vectors[inside] = picked
            sims = np.einsum("qkd,qd->qk", vectors, q)
            sims[candidates < 0] = -np.inf
            top = sims.argmax(axis=1)
            rows = np.arange(len(q))
            best[start : start + len(q)] = np.where(np.isfinite(sims[rows, top]), candidates[rows, top], -1)
            similarity[start : start + len(q)] = sims[rows, top]
        return best, similarity, ids
