"""LAION caption index: build and query throughput of LanceDB IVF-PQ, and recall@1 against exact
search, on synthetic clustered unit embeddings (default 1M × 512; ``--rows`` for less).

    python -m benchmarks.bench_caption_index [--rows 1000000]
"""

import argparse
import json
import tempfile
import time

import numpy as np

from laionet_assets.core.search.caption_index import CaptionIndex, recall_at_1

SETTINGS = [(32, 10), (64, 20), (128, 40)]


def clustered(n: int, dim: int, clusters: int, rng) -> np.ndarray:
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main(rows: int = 1_000_000, dim: int = 512, queries: int = 2000) -> dict:
    rng = np.random.default_rng(0)
    vectors = clustered(rows, dim, 1000, rng)
    query = vectors[rng.choice(rows, queries, replace=False)] + 0.05 * rng.normal(size=(queries, dim)).astype(
        np.float32
    )
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    results = {"rows": rows, "dims": dim, "queries": queries}
    with tempfile.TemporaryDirectory() as uri:
        index = CaptionIndex(uri, "bench")
        start = time.perf_counter()
        for part, begin in enumerate(range(0, rows, 100_000)):
            chunk = vectors[begin : begin + 100_000]
            index.add_part(f"p{part}", [str(i) for i in range(begin, begin + len(chunk))], chunk)
        results["add_vectors_per_s"] = round(rows / (time.perf_counter() - start))
        start = time.perf_counter()
        results["search"] = index.build(ann_min_rows=0)
        results["ivf_pq_build_s"] = round(time.perf_counter() - start, 1)
        results["ivf_pq_build_vectors_per_s"] = round(rows / results["ivf_pq_build_s"])
        n_exact = min(queries, 200)
        start = time.perf_counter()
        index.nearest(query[:n_exact], exact=True)
        results["exact_queries_per_s"] = round(n_exact / (time.perf_counter() - start), 1)
        # the speed / recall trade-off of the search settings (the asset's defaults come first)
        results["ivf_pq"] = []
        for nprobes, refine in SETTINGS:
            start = time.perf_counter()
            index.nearest(query, exact=False, nprobes=nprobes, refine_factor=refine)
            qps = queries / (time.perf_counter() - start)
            results["ivf_pq"].append(
                {
                    "nprobes": nprobes,
                    "refine_factor": refine,
                    "queries_per_s": round(qps, 1),
                    "speedup_vs_exact": round(qps / results["exact_queries_per_s"], 1),
                    "recall_at_1_vs_exact": recall_at_1(
                        index, query, sample=200, nprobes=nprobes, refine_factor=refine
                    ),
                }
            )
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    main(parser.parse_args().rows)
