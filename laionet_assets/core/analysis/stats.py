"""Intra-class similarity (paper §3.2) without an n×n matrix.

For L2-normalised embeddings x_1..x_n with s = Σ x_i, the mean cosine similarity over the
n(n−1)/2 distinct pairs is (‖s‖² − n) / (n(n − 1)), and the sum of squared pair similarities is
(‖XᵀX‖_F² − n) / 2, so mean and standard deviation of the pair similarities cost O(n·d²).
Leaving image i out changes s to s − x_i, so all n leave-one-out means (for the jackknife) cost
one more pass.

Two 95% intervals for a class mean:
* ``pairs`` (the paper's): the n(n−1)/2 pair similarities treated as independent,
  mean ± 1.96·sd/√(pairs).  Pairs sharing an image are correlated, so this is too narrow.
* ``jackknife`` (default): the jackknife over images, mean ± 1.96·se_jack, which accounts for
  that correlation (in simulation it covered the true mean 95.5% of the time, the pairs
  interval 51%).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from laionet_assets.core.vectors import unit_rows

# Per class: images, distinct pairs, mean pair similarity with its sd, se and 95% interval.
CLASS_STATS_SCHEMA = {
    "wnid": pl.String,
    "n": pl.Int64,
    "pairs": pl.Int64,
    "mean": pl.Float64,
    "sd": pl.Float64,
    "se": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
}

Z95 = 1.959963984540054
INTERVALS = ("jackknife", "pairs")


def check_interval(interval: str) -> str:
    """An interval kind of ``INTERVALS``, or a ValueError naming them (used by every config)."""
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}; expected one of {INTERVALS}")
    return interval


def pair_sums(x: np.ndarray) -> tuple[float, float, np.ndarray]:
    """For unit rows: Σᵢ xᵢ·s (= ‖s‖², s = Σᵢ xᵢ), Σᵢⱼ (xᵢ·xⱼ)² and every xᵢ·s, over ordered pairs
    with i = j included.  From whichever product is smaller: XXᵀ (n × n, n²d multiply-adds) or
    XᵀX (d × d, nd²); their squared Frobenius norms are equal."""
    n, d = x.shape
    if n <= d:
        gram = x @ x.T
        row = gram.sum(axis=1)
    else:
        gram = x.T @ x
        row = x @ x.sum(axis=0)
    return float(row.sum()), float(np.sum(gram * gram)), row


def _mean(n: int, total: float) -> float:
    return float((total - n) / (n * (n - 1))) if n >= 2 else float("nan")


def _sd(n: int, total: float, squares: float) -> float:
    if n < 2:
        return float("nan")
    mean = _mean(n, total)
    return float(np.sqrt(max((squares - n) / (n * (n - 1)) - mean * mean, 0.0)))


def _leave_one_out(n: int, total: float, row: np.ndarray) -> np.ndarray:
    s_minus = total - 2 * row + 1.0  # ‖s − xᵢ‖² for unit xᵢ
    return (s_minus - (n - 1)) / ((n - 1) * (n - 2))


def pair_mean(x: np.ndarray) -> float:
    """Mean cosine similarity over distinct pairs of unit rows (closed form)."""
    n = x.shape[0]
    if n < 2:
        return float("nan")
    s = x.sum(axis=0)
    return _mean(n, float(s @ s))


def pair_sd(x: np.ndarray) -> float:
    """Standard deviation (population) of the distinct-pair similarities of unit rows."""
    total, squares, _ = pair_sums(x)
    return _sd(x.shape[0], total, squares)


def leave_one_out_means(x: np.ndarray) -> np.ndarray:
    """Pair mean of the class without image i, for every i (n ≥ 3)."""
    s = x.sum(axis=0)
    return _leave_one_out(x.shape[0], float(s @ s), x @ s)


def intra_class_similarity(x: np.ndarray, interval: str = "jackknife") -> dict:
    """n, pairs, mean, sd, se and the 95% interval of one class's intra-class similarity."""
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}; expected one of {INTERVALS}")
    x = unit_rows(x, np.float64)
    n = x.shape[0]
    pairs = n * (n - 1) // 2
    total, squares, row = pair_sums(x)  # one product serves the mean, the sd and the jackknife
    mean, sd = _mean(n, total), _sd(n, total, squares)
    if interval == "pairs":
        se = sd / np.sqrt(pairs) if pairs else float("nan")
    elif n >= 3:
        loo = _leave_one_out(n, total, row)
        se = float(np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2)))
    else:
        se = float("nan")
    return {
        "n": n,
        "pairs": pairs,
        "mean": mean,
        "sd": sd,
        "se": float(se),
        "ci_low": mean - Z95 * se,
        "ci_high": mean + Z95 * se,
    }


def compare_means(a: dict, b: dict) -> dict:
    """Difference a − b with its 95% interval and the verdict used in the paper's figures."""
    diff = a["mean"] - b["mean"]
    se = float(np.sqrt(a["se"] ** 2 + b["se"] ** 2))
    low, high = diff - Z95 * se, diff + Z95 * se
    if not np.isfinite(se):
        verdict = "neither"
    elif high < 0:
        verdict = "significantly lower"
    elif low > 0:
        verdict = "significantly higher"
    else:
        verdict = "neither"
    return {"difference": diff, "se": se, "ci_low": low, "ci_high": high, "verdict": verdict}


def per_class_intra_similarity(
    embeddings: np.ndarray, labels, cap: int | None = 100, seed: int = 0, interval: str = "jackknife"
):
    """One row per class: wnid, n, pairs, mean, sd, se, ci_low, ci_high.

    Classes with more than ``cap`` images use a seeded random sample of ``cap`` (the paper: 100).
    """
    import polars as pl

    rows = []
    for wnid, idx in capped_class_indices(labels, cap, seed).items():
        rows.append({"wnid": str(wnid), **intra_class_similarity(embeddings[idx], interval)})
    return pl.DataFrame(rows, schema=CLASS_STATS_SCHEMA)


def compare_classes(a, b):
    """Per class present in both frames of ``per_class_intra_similarity``: a − b and the verdict."""
    import polars as pl

    joined = a.join(b, on="wnid", suffix="_b")
    rows = [
        {
            "wnid": r["wnid"],
            **compare_means({"mean": r["mean"], "se": r["se"]}, {"mean": r["mean_b"], "se": r["se_b"]}),
        }
        for r in joined.iter_rows(named=True)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "wnid": pl.String,
            "difference": pl.Float64,
            "se": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "verdict": pl.String,
        },
    )


def pair_similarities(x: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """All distinct-pair cosine similarities of unit rows (upper triangle, chunked products)."""
    n = x.shape[0]
    out = []
    for start in range(0, n, chunk):
        block = x[start : start + chunk] @ x[start:].T  # rows start.., columns start..
        rows, cols = np.triu_indices(block.shape[0], k=1, m=block.shape[1])
        out.append(block[rows, cols])
    return np.concatenate(out) if out else np.zeros(0)


def capped_class_indices(labels, cap: int | None, seed: int = 0) -> dict[str, np.ndarray]:
    """Row indices per class, a seeded random sample of ``cap`` where a class has more."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    classes, starts = np.unique(labels[order], return_index=True)
    out = {}
    for wnid, idx in zip(classes, np.split(order, starts[1:])):
        if cap is not None and idx.size > cap:
            idx = np.sort(rng.choice(idx, size=cap, replace=False))
        out[str(wnid)] = idx
    return out


def matched_resample(
    a: dict[str, np.ndarray], b: dict[str, np.ndarray], seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Pool per-class values of two datasets over their common classes so the pools are
    comparable (paper Figs. 6a, 8a, 10a, 17a): in each class, ``a``'s values are sampled with
    replacement to ``b``'s number; ``b``'s are kept as they are.  Classes in sorted order."""
    rng = np.random.default_rng(seed)
    pooled_a, pooled_b = [], []
    for wnid in sorted(set(a) & set(b)):
        if a[wnid].size and b[wnid].size:
            pooled_a.append(rng.choice(a[wnid], size=b[wnid].size, replace=True))
            pooled_b.append(b[wnid])
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    return cat(pooled_a), cat(pooled_b)


def pooled_pair_similarities(
    a: np.ndarray, a_labels, b: np.ndarray, b_labels, cap: int | None = 100, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The pooled pair similarities of two datasets over their common classes (paper Fig. 6a):
    in each class, ``a``'s pairs are sampled with replacement to match ``b``'s number."""
    ia, ib = capped_class_indices(a_labels, cap, seed), capped_class_indices(b_labels, cap, seed)
    common = set(ia) & set(ib)
    pairs = lambda x, idx: {w: pair_similarities(unit_rows(x[idx[w]], np.float64)) for w in common}  # noqa: E731
    return matched_resample(pairs(a, ia), pairs(b, ib), seed)


def comparison_summary(comparison: pl.DataFrame) -> dict:
    """Classes compared and the number and share significantly lower / higher (``verdict``)."""
    n = comparison.height
    lower = int((comparison["verdict"] == "significantly lower").sum())
    higher = int((comparison["verdict"] == "significantly higher").sum())
    return {
        "classes": n,
        "significantly_lower": lower,
        "significantly_higher": higher,
        "fraction_significantly_lower": lower / n if n else float("nan"),
        "fraction_significantly_higher": higher / n if n else float("nan"),
    }
