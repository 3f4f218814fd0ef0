"""Nearest-caption engines on the same stored vectors and queries, in one run: the
persisted FAISS shards (``core.search.faiss_shards``, IVF-PQ with exact re-ranking, built part by part as
``laion_caption_index`` builds them), LanceDB's IVF-PQ (today's ``ivf_pq`` engine, the baseline)
and the exact chunked matrix products (``core.search.nearest.exact_nearest``), with each approximate
engine's recall@1 against exact search.

    python -m benchmarks.bench_nearest [--rows 1000000] [--queries 100000]

Synthetic clustered unit vectors (as ``bench_caption_index``); queries are near-duplicates of
stored vectors, as in §4.3's use.  FAISS's settings are swept on ``--sweep-queries``; the default
setting then answers all ``--queries``; LanceDB answers ``--lancedb-queries`` (its rate is what
counts: at ~140 queries/s, 100k queries take 12 minutes); exact search answers
``--exact-queries``, which are also the ground truth of every recall.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from benchmarks.bench_caption_index import clustered
from laionet_assets.core.search.caption_index import CaptionIndex
from laionet_assets.core.search.faiss_shards import DEFAULT_NPROBE, DEFAULT_REFINE
from laionet_assets.core.search.nearest import exact_nearest

SWEEP = [(4, 2), (8, 2), (8, 4), (16, 4), (16, 10), (32, 10)]
PART_ROWS = 100_000


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--sweep-queries", type=int, default=20_000)
    parser.add_argument("--lancedb-queries", type=int, default=5_000)
    parser.add_argument("--exact-queries", type=int, default=2_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    stored = clustered(args.rows, 512, 1000, rng)
    picks = rng.choice(args.rows, args.queries, replace=False)
    queries = stored[picks] + 0.02 * rng.standard_normal((args.queries, 512)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    n = args.exact_queries
    results = {"rows": args.rows, "dim": 512, "queries": args.queries, "exact_queries": n}
    with tempfile.TemporaryDirectory() as home:
        index = CaptionIndex(f"{home}/lancedb", "bench")
        table_s = shard_s = 0.0
        for part, begin in enumerate(range(0, args.rows, PART_ROWS)):
            chunk = stored[begin : begin + PART_ROWS]
            ids = [str(i) for i in range(begin, begin + len(chunk))]
            started = time.perf_counter()
            index.add_part(f"p{part:02d}", ids, chunk)
            table_s += time.perf_counter() - started
            started = time.perf_counter()
            writer = index.shard_writer(f"p{part:02d}", 512, args.rows)
            writer.add(ids, chunk)
            writer.close()
            shard_s += time.perf_counter() - started
        results["lancedb_add_s"] = round(table_s, 1)
        results["faiss_shards_build_s"] = round(shard_s, 1)
        chunks = (stored[i : i + 262_144] for i in range(0, args.rows, 262_144))
        started = time.perf_counter()
        truth, _ = exact_nearest(queries[:n], chunks, "cpu")
        results["exact_queries_per_s"] = round(n / (time.perf_counter() - started), 1)

        def recall(found: np.ndarray, ids: list[str]) -> float:
            return round(float(np.mean([int(ids[i]) == t for i, t in zip(found[:n], truth)])), 4)

        shards, _ = index.current_shards()
        results["faiss"] = []
        for nprobe, refine in SWEEP:
            q = queries[: args.sweep_queries]
            started = time.perf_counter()
            found, _, ids = shards.search(q, nprobe, refine)
            rate = len(q) / (time.perf_counter() - started)
            results["faiss"].append(
                {
                    "nprobe": nprobe,
                    "refine": refine,
                    "queries_per_s": round(rate),
                    "recall_at_1": recall(found, ids),
                }
            )
            print(results["faiss"][-1], flush=True)
        started = time.perf_counter()
        found, _, ids = shards.search(queries, DEFAULT_NPROBE, DEFAULT_REFINE)
        rate = args.queries / (time.perf_counter() - started)
        results["faiss_default"] = {
            "nprobe": DEFAULT_NPROBE,
            "refine": DEFAULT_REFINE,
            "queries": args.queries,
            "queries_per_s": round(rate),
            "recall_at_1": recall(found, ids),
        }
        started = time.perf_counter()
        index.build(ann_min_rows=0)
        results["lancedb_ivf_pq_build_s"] = round(time.perf_counter() - started, 1)
        m = args.lancedb_queries
        started = time.perf_counter()
        got = index.nearest(queries[:m], engine="ivf_pq")
        rate = m / (time.perf_counter() - started)
        hits = dict(zip(got["query"].to_list(), got["sample_id"].to_list()))
        results["lancedb_ivf_pq"] = {
            "nprobes": 32,
            "refine_factor": 10,
            "queries": m,
            "queries_per_s": round(rate, 1),
            "recall_at_1": round(float(np.mean([hits.get(i) == str(t) for i, t in enumerate(truth[:m])])), 4),
            "recall_queries": min(m, n),
        }
    faiss = results["faiss_default"]["queries_per_s"]
    results["faiss_vs_lancedb_speed"] = round(faiss / results["lancedb_ivf_pq"]["queries_per_s"], 1)
    results["faiss_vs_exact_speed"] = round(faiss / results["exact_queries_per_s"], 1)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
