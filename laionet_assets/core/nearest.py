"""Exact nearest-neighbour search of unit vectors as chunked matrix products (paper §4.3 at scale).

All queries stay resident; the stored vectors stream past once, chunk by chunk; each chunk's
query × chunk similarity matrix is reduced to its top-1 at once, so memory is bounded by
``query_block × chunk`` whatever the number of stored vectors.  On CUDA the products run in
float16/bfloat16 with float32 accumulation; on CPU in float32.  ``argmax`` ties go to the earlier
stored vector, as ``numpy.argmax`` does.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from laionet_assets.core.loading import resolve_device


def exact_nearest(
    queries: np.ndarray,
    stored: Iterable[np.ndarray],
    device: str = "auto",
    precision: str = "auto",
    query_block: int | None = None,
    matrix_bytes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Index (into the concatenation of ``stored``) and cosine similarity of each query's nearest
    stored vector; -1 and -inf when nothing is stored.  Vectors are taken as unit-norm.  Queries go
    in blocks whose similarity matrix with a chunk fits ``matrix_bytes`` (256 MiB on CPU, 4 GiB on
    CUDA), or of ``query_block`` rows."""
    import torch

    device = resolve_device(device)
    cuda = device.startswith("cuda")
    dtype = {"auto": torch.float16 if cuda else torch.float32, "fp32": torch.float32}.get(precision)
    dtype = dtype or {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    q = torch.as_tensor(np.ascontiguousarray(queries), dtype=torch.float32).to(device, dtype)
    best = torch.full((q.shape[0],), -float("inf"), device=device)
    best_index = torch.full((q.shape[0],), -1, dtype=torch.int64, device=device)
    budget = matrix_bytes or (4 << 30 if cuda else 256 << 20)
    offset = 0
    with torch.inference_mode():
        for chunk in stored:
            if len(chunk) == 0:
                continue
            c = torch.as_tensor(np.ascontiguousarray(chunk), dtype=torch.float32).to(device, dtype)
            rows = query_block or max(1, budget // (8 * len(chunk)))  # the product and its float32 copy
            for start in range(0, q.shape[0], rows):
                block = slice(start, start + rows)
                sims = (q[block] @ c.T).float()  # float32 out; CUDA accumulates half products in float32
                value, where = sims.max(dim=1)
                better = value > best[block]  # strictly: a tie keeps the earlier vector
                best[block] = torch.where(better, value, best[block])
                best_index[block] = torch.where(better, where + offset, best_index[block])
            offset += len(chunk)
    return best_index.cpu().numpy(), best.cpu().numpy().astype(np.float32)


class FaissIvfPq:
    """FAISS IVF-PQ over unit vectors (inner product = cosine) with exact re-ranking of the
    ``refine`` × best candidates (``IndexRefineFlat``), on CPU, for ``n`` vectors added chunk by
    chunk (row ids: the order of addition).  Trained on the first ``min(n, train_rows)`` of them:
    4√n lists (at least 39 training vectors each), dim/8 sub-quantizers (dim/2 below 128
    dimensions) of 8 bits (4 below 10,000 vectors)."""

    def __init__(self, dim: int, n: int, train_rows: int = 100_000, nprobe: int = 32, refine: int = 10):
        import faiss

        self.nprobe, self.refine = nprobe, refine
        self.train_rows = max(1, min(n, train_rows))
        lists = max(1, min(int(4 * np.sqrt(n)), self.train_rows // 39))
        sub = next(
            s for s in ((dim // 8, dim // 4) if dim >= 128 else (dim // 2,)) + (1,) if s >= 1 and dim % s == 0
        )
        bits = 8 if self.train_rows >= 10_000 else 4
        self.ivf = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, lists, sub, bits, faiss.METRIC_INNER_PRODUCT)
        self.index = faiss.IndexRefineFlat(self.ivf)
        self.pending: list[np.ndarray] = []

    def add(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, np.float32)
        if not self.index.is_trained:
            self.pending.append(vectors)
            if sum(len(v) for v in self.pending) < self.train_rows:
                return
            vectors, self.pending = np.concatenate(self.pending), []
            self.index.train(vectors[: self.train_rows])
        self.index.add(vectors)

    def search(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index and similarity of each query's nearest vector (-1 and -inf when none was added)."""
        import faiss

        if self.pending:  # fewer vectors came than planned: train on them
            vectors, self.pending = np.concatenate(self.pending), []
            self.index.train(vectors)
            self.index.add(vectors)
        if self.index.ntotal == 0:
            return np.full(len(queries), -1, np.int64), np.full(len(queries), -np.inf, np.float32)
        params = faiss.IndexRefineSearchParameters(
            k_factor=self.refine, base_index_params=faiss.SearchParametersIVF(nprobe=self.nprobe)
        )
        sims, index = self.index.search(np.ascontiguousarray(queries, np.float32), 1, params=params)
        return index[:, 0].astype(np.int64), sims[:, 0].astype(np.float32)
