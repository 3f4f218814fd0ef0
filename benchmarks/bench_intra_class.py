"""Intra-class similarity of one class (mean, sd and the jackknife interval): the closed form
against the plain matrix product of every pair, on the same embeddings in the same run, at class
sizes from a handful to the paper's largest; and seconds for 1000 classes × 1000 images × 512
dims on CPU.  Both agree with a double loop over pairs.

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

SIZES = (50, 300, 1300, 3000)  # images in a class; ImageNet val has 50, LAIONet's classes up to thousands
DIMS = 512


def best_of(fn, repeats: int = 30) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matrix_product(x: np.ndarray) -> tuple[float, float]:
    """Mean and sd of every distinct pair's similarity, from the n × n product itself."""
    sims = pair_similarities(x)
    return float(sims.mean()), float(sims.std())


def main() -> dict:
    rng = np.random.default_rng(0)
    small = unit_rows(rng.normal(size=(60, DIMS)) + 0.5, np.float64)
    loop = [float(small[i] @ small[j]) for i, j in itertools.combinations(range(60), 2)]
    closed = intra_class_similarity(small, "jackknife")
    results = {
        "dims": DIMS,
        "abs_difference_closed_form_vs_double_loop": abs(closed["mean"] - np.mean(loop)),
        "abs_difference_matrix_product_vs_double_loop": abs(matrix_product(small)[0] - np.mean(loop)),
        "per_class_size": {},
    }
    for n in SIZES:
        x = unit_rows(rng.normal(size=(n, DIMS)) + 0.5, np.float64)
        closed_s = best_of(lambda: intra_class_similarity(x, "jackknife"))
        product_s = best_of(lambda: matrix_product(x))
        results["per_class_size"][str(n)] = {
            "closed_form_with_jackknife_s": round(closed_s, 6),
            "matrix_product_mean_and_sd_s": round(product_s, 6),
            "ratio_matrix_product_over_closed_form": round(product_s / closed_s, 2),
        }
    embeddings = unit_rows(rng.normal(size=(1000 * 1000, DIMS)).astype(np.float32) + 0.3, np.float64)
    labels = np.repeat(np.arange(1000), 1000)
    start = time.perf_counter()
    per_class_intra_similarity(embeddings, labels, cap=None)
    results["seconds_1000_classes_x_1000_images_x_512"] = round(time.perf_counter() - start, 2)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
