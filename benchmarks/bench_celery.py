"""Four partitions on two Celery workers vs one, in the same run.

    python -m benchmarks.bench_celery [--rows 40000]

A release of four parts of ``--rows`` LAION-like captions each; per configuration a fresh home,
redis-server on 127.0.0.1, N ``laionet worker`` processes listening on both queues (``dagster``
and ``gpu``; the ``gpu`` pool gets N slots, as for one GPU per worker), and the four runs of
``lemma_matches`` + ``text_sims`` launched at once through ``LAIONET_EXECUTOR=celery``.  The
time is from launching the runs to the last one's end (workers already up); the tiny profile's
random-weight encoder, as the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import polars as pl

from benchmarks.common import synthetic_captions
from laionet_assets.core.text.synsets import load_imagenet_synsets
from laionet_assets.testing.cluster import Cluster, redis_broker
from laionet_assets.testing.fixtures import Home

PARTS = 4


def write_release(folder: Path, rows: int) -> Path:
    folder.mkdir(parents=True)
    texts = synthetic_captions(rows * PARTS)
    for i in range(PARTS):
        n = range(i * rows, (i + 1) * rows)
        pl.DataFrame(
            {
                "SAMPLE_ID": list(n),
                "URL": [f"https://example.org/{j}.jpg" for j in n],
                "TEXT": texts[i * rows : (i + 1) * rows],
                "NSFW": ["UNLIKELY"] * rows,
            }
        ).write_parquet(folder / f"part-{i}.parquet")
    return folder


def measure(root: Path, release: Path, synsets: pl.DataFrame, workers: int) -> float:
    logs = root / f"workers-{workers}"
    logs.mkdir()
    home = Home(logs / "home", synsets)
    keys = home.register(release, "rel")
    with home.instance() as instance:
        instance.event_log_storage.set_concurrency_slots("gpu", workers)
    with redis_broker(logs / "redis.log") as broker:
        cluster = Cluster(home, broker, logs)
        try:
            for i in range(workers):
                cluster.start_worker(f"w{i}", "dagster", "gpu")
            cluster.wait_for_workers()
            start = time.perf_counter()
            cluster.run_all("lemma_matches,text_sims", keys)
            return time.perf_counter() - start
        finally:
            cluster.stop()


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=40_000)
    args = parser.parse_args()
    synsets = load_imagenet_synsets()
    results = {"parts": PARTS, "rows_per_part": args.rows, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        release = write_release(root / "release", args.rows)
        for workers in (1, 2):
            results[f"seconds_{workers}_worker{'s' * (workers > 1)}"] = round(
                measure(root, release, synsets, workers), 1
            )
    results["ratio"] = round(results["seconds_1_worker"] / results["seconds_2_workers"], 2)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
