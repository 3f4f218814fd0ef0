"""Intra-class similarity: closed form vs the naive double loop over pairs (same embeddings,
same run), and seconds for 1000 classes × 1000 images × 512 dims on CPU.

    python -m benchmarks.bench_intra_class
"""

import itertools
import json
import time

import numpy as np

from laionet_assets.core.analysis.stats import (
    intra_class_similarity,
    pair_similarities,
    per_class_intra_similarity,
)
from laionet_assets.core.vectors import unit_rows


def naive_mean(x):
    sims = [float(x[i] @ x[j]) for i, j in itertools.combinations(range(len(x)), 2)]
    return sum(sims) / len(sims)


def main() -> dict:
    rng = np.random.default_rng(0)
    x = unit_rows(rng.normal(size=(300, 512)) + 0.5, np.float64)
    start = time.perf_counter()
    slow = naive_mean(x)
    naive_s = time.perf_counter() - start
    start = time.perf_counter()
    fast = intra_class_similarity(x, "jackknife")
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    chunked = float(pair_similarities(x, chunk=128).mean())
    chunked_s = time.perf_counter() - start
    results = {
        "chunked_matrix_product_s": round(chunked_s, 5),
        "ratio_chunked_vs_naive": round(naive_s / chunked_s, 1),
        "chunked_abs_difference": abs(slow - chunked),
    }
    results |= {
        "class_images": 300,
        "dims": 512,
        "naive_double_loop_s": round(naive_s, 4),
        "closed_form_with_jackknife_s": round(fast_s, 5),
        "ratio": round(naive_s / fast_s, 1),
        "abs_difference": abs(slow - fast["mean"]),
    }
    embeddings = unit_rows(rng.normal(size=(1000 * 1000, 512)).astype(np.float32) + 0.3, np.float64)
    labels = np.repeat(np.arange(1000), 1000)
    start = time.perf_counter()
    per_class_intra_similarity(embeddings, labels, cap=None)
    results["seconds_1000_classes_x_1000_images_x_512"] = round(time.perf_counter() - start, 2)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
