"""Lemma matching, one thread: polars Aho-Corasick vs the paper's loop on the same 1M captions.

POLARS_MAX_THREADS=1 python -m benchmarks.bench_matching [--captions 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ["POLARS_MAX_THREADS"] = "1"  # before polars is imported

import polars as pl  # noqa: E402

from benchmarks.common import synthetic_captions  # noqa: E402
from laionet_assets.core.text.matching import match_captions  # noqa: E402
from laionet_assets.core.text.synsets import load_imagenet_synsets  # noqa: E402
from laionet_assets.testing.reference import paper_reference  # noqa: E402  (the paper's loop)


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--captions", type=int, default=1_000_000)
    args = parser.parse_args()
    synsets = load_imagenet_synsets()
    texts = synthetic_captions(args.captions)
    series = pl.Series(texts)
    results = {"captions": len(texts), "polars_threads": pl.thread_pool_size()}
    for mode in ("paper", "longest"):
        match_captions(series.head(1000), synsets, mode)  # warm-up
        start = time.perf_counter()
        matched = match_captions(series, synsets, mode)
        seconds = time.perf_counter() - start
        results[f"{mode}_seconds"] = round(seconds, 3)
        results[f"{mode}_captions_per_s"] = round(len(texts) / seconds)
        results[f"{mode}_matched"] = matched.height
        if mode == "paper":
            fast = {row: (lemmas, wnids) for row, lemmas, wnids in matched.iter_rows()}
    start = time.perf_counter()
    slow = paper_reference(texts, synsets)
    seconds = time.perf_counter() - start
    results["naive_seconds"] = round(seconds, 3)
    results["naive_captions_per_s"] = round(len(texts) / seconds)
    results["identical_output"] = slow == fast
    results["speedup_paper_vs_naive"] = round(
        results["paper_captions_per_s"] / results["naive_captions_per_s"], 1
    )
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
