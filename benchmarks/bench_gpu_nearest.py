"""Exact nearest-caption search on a GPU (target: ≥ 20,000 queries/s at 10M stored
vectors): ``core.search.nearest.exact_nearest`` streaming the stored vectors once, in chunks from host
memory, with every query resident, in float16 with float32 accumulation; its answers against
float32 products on a sample of the queries.  Prints a skip where CUDA is absent.

    python -m benchmarks.bench_gpu_nearest [--rows 10000000] [--queries 100000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from laionet_assets.core.search.nearest import exact_nearest

CHUNK = 1 << 20


def main() -> dict:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--check-queries", type=int, default=1_000)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA device"}))
        return {}
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((1000, 512)).astype(np.float32)

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    stored = np.empty((args.rows, 512), np.float16)
    for start in range(0, args.rows, CHUNK):
        n = min(CHUNK, args.rows - start)
        block = centres[rng.integers(0, 1000, n)] + 0.35 * rng.standard_normal((n, 512), np.float32)
        stored[start : start + n] = unit(block)
    picks = rng.choice(args.rows, args.queries, replace=False)
    queries = unit(
        stored[picks].astype(np.float32) + 0.02 * rng.standard_normal((args.queries, 512), np.float32)
    )
    chunks = lambda: (stored[i : i + CHUNK] for i in range(0, args.rows, CHUNK))  # noqa: E731
    exact_nearest(queries[:1000], (stored[:CHUNK],), "cuda")  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    started = time.perf_counter()
    found, _ = exact_nearest(queries, chunks(), "cuda")
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    m = args.check_queries
    reference, _ = exact_nearest(queries[:m], chunks(), "cuda", precision="fp32")
    results = {
        "device": torch.cuda.get_device_name(),
        "rows": args.rows,
        "queries": args.queries,
        "seconds": round(seconds, 1),
        "exact_fp16_queries_per_s": round(args.queries / seconds),
        "tflops": round(2 * args.rows * args.queries * 512 / seconds / 1e12, 1),
        "agreement_with_fp32_top1": round(float((found[:m] == reference).mean()), 4),
        "picked_vector_found": round(float((found == picks).mean()), 4),
    }
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
