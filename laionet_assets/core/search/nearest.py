"""Exact nearest-neighbour search of unit vectors as chunked matrix products (paper §4.3 at scale).

All queries stay resident; the stored vectors stream past once, chunk by chunk; each chunk's
query × chunk similarity matrix is reduced to its top-1 at once, so memory is bounded by
``query_block × chunk`` whatever the number of stored vectors.  On CUDA the products run in
float16/bfloat16 with float32 accumulation; on CPU in float32.

Ties go to the earlier stored vector, whatever the chunking.  Two equal vectors need not give
equal products (a matrix-product kernel sums a row in another order at another position in its
tile), so a tie is any pair within ``tie_tolerance`` of each other: within a chunk the first
vector within it of the chunk's best wins, and a later chunk replaces the winner only when its
best is more than it above.  Duplicated captions (many in LAION) thus always answer with the
first sample, and the answer is within ``2 × tie_tolerance`` of the best cosine.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np

from laionet_assets.core.models.loading import resolve_device

FLOAT32_TIE = 1e-5  # ≥ 10× the spread of a 768-term float32 dot product summed in two orders


def tie_tolerance(dtype) -> float:
    """How close two products are to count as a tie: one unit in the last place at 1.0 for the
    reduced precisions (their products are rounded to it), ``FLOAT32_TIE`` for float32."""
    import torch

    return max(FLOAT32_TIE, torch.finfo(dtype).eps)


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
    rank = best.clone()  # what the comparisons see: each chunk's best product (rounded in fp16)
    best_index = torch.full((q.shape[0],), -1, dtype=torch.int64, device=device)
    budget = matrix_bytes or (4 << 30 if cuda else 256 << 20)
    tie = tie_tolerance(dtype)
    offset = 0
    with torch.inference_mode():
        for chunk in stored:
            if len(chunk) == 0:
                continue
            # moved in the stored precision and cast on the device (float16 files: half the traffic)
            with warnings.catch_warnings():  # a read-only memory map: read here, never written
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                c = torch.as_tensor(np.ascontiguousarray(chunk)).to(device).to(dtype)
            rows = query_block or max(1, budget // (6 * len(chunk)))  # the product and its tie mask
            for start in range(0, q.shape[0], rows):
                block = slice(start, start + rows)
                # The product stays in its dtype (float16 on CUDA: a float32 copy of it would triple
                # the memory traffic, which bounds this loop); the max compares rounded values, and
                # the winners' cosines are recomputed with float32 accumulation below.
                product = q[block] @ c.T
                value = product.max(dim=1).values.float()
                floor = (value - tie).to(dtype)[:, None]
                where = (product >= floor).view(torch.uint8).argmax(dim=1)  # the first within a tie
                better = value > rank[block] + tie  # a tie keeps the earlier vector
                rank[block] = torch.where(better, value, rank[block])
                best_index[block] = torch.where(better, where + offset, best_index[block])
                # no host sync: every row's winner is recomputed with float32 accumulation (in
                # float32 too: the winner is the first within a tie, not the maximum), the better kept
                exact = (q[block].float() * c[where].float()).sum(dim=1)
                best[block] = torch.where(better, exact, best[block])
            offset += len(chunk)
    return best_index.cpu().numpy(), best.cpu().numpy().astype(np.float32)
