"""Nearest-caption engines on the same stored vectors and queries, in one run: FAISS IVF-PQ with
exact re-ranking (``core.nearest.FaissIvfPq``) and the exact chunked matrix products
(``core.nearest.exact_nearest``), with FAISS's recall@1 against exact search.

    python -m benchmarks.bench_nearest [--rows 1000000] [--queries 20000]

Synthetic clustered unit vectors (as ``bench_caption_index``, whose LanceDB figures are the
baseline on this machine); queries are near-duplicates of stored vectors, as in §4.3's use.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks.bench_caption_index import clustered
from laionet_assets.core.nearest import FaissIvfPq, exact_nearest


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--exact-queries", type=int, default=1_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    stored = clustered(args.rows, 512, 1000, rng)
    picks = rng.choice(args.rows, args.queries, replace=False)
    queries = stored[picks] + 0.02 * rng.standard_normal((args.queries, 512)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    results = {"rows": args.rows, "dim": 512, "queries": args.queries}
    started = time.perf_counter()
    index = FaissIvfPq(512, args.rows)
    for start in range(0, args.rows, 262_144):
        index.add(stored[start : start + 262_144])
    results["faiss_build_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    found, _ = index.search(queries)
    results["faiss_queries_per_s"] = round(args.queries / (time.perf_counter() - started))
    n = args.exact_queries
    chunks = (stored[i : i + 262_144] for i in range(0, args.rows, 262_144))
    started = time.perf_counter()
    exact, _ = exact_nearest(queries[:n], chunks, "cpu")
    results["exact_queries_per_s"] = round(n / (time.perf_counter() - started), 1)
    results["faiss_recall_at_1_vs_exact"] = round(float((found[:n] == exact).mean()), 4)
    results["faiss_vs_exact_speed"] = round(
        results["faiss_queries_per_s"] / results["exact_queries_per_s"], 1
    )
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
