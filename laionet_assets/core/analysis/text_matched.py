"""ImageNet recreated from LAION by caption search alone (paper §4.3, Fig. 10; Appendix E, Fig. 18).

The text-matched dataset at threshold t holds every LAION row whose most similar
ImageNet-Captions text has similarity > t, labelled with that text's class
(``caption_index.match_nearest``).  The dataset at a higher threshold is a subset of the one at
a lower threshold, so one table of matches with their similarities answers every threshold.

``threshold_sweep`` compares, at each threshold, the per-class intra-class similarity of the
text-matched images with the reference's (ImageNet val) per-class statistics, with the same
per-class machinery (cap, seed, interval) as LAIONet vs ImageNet (``stats``).
``sweep_summary`` turns that into Fig. 18: classes covered, and the share of compared classes
that are significantly lower in the text-matched set and in the reference, per threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from laionet_assets.core.analysis import stats
from laionet_assets.core.text.selection import coverage_curve

SWEEP = tuple(float(t) for t in np.round(np.arange(0.5, 0.9001, 0.05), 2))
COMPARISON_SCHEMA = {
    "threshold": pl.Float64,
    "wnid": pl.String,
    "n": pl.Int64,
    "mean": pl.Float64,
    "reference_n": pl.Int64,
    "reference_mean": pl.Float64,
    "difference": pl.Float64,
    "se": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "verdict": pl.String,
}


def above(similarity: pl.Series, threshold: float) -> np.ndarray:
    """Rows with similarity > threshold, compared in the column's precision as the selection is."""
    return pl.select(similarity > threshold).to_series().to_numpy()


def classes_above(
    vectors: np.ndarray,
    labels: np.ndarray,
    similarity: pl.Series,
    thresholds: Sequence[float],
    cap: int | None = 100,
    seed: int = 0,
    interval: str = "jackknife",
) -> dict[float, pl.DataFrame]:
    """Per threshold: the per-class intra-class similarity (``per_class_intra_similarity``, classes
    with two images or more) of the rows with similarity > threshold."""
    out = {}
    for t in thresholds:
        keep = above(similarity, t)
        out[float(t)] = stats.per_class_intra_similarity(
            vectors[keep], labels[keep], cap, seed, interval
        ).filter(pl.col("n") >= 2)
    return out


def compare_per_threshold(per_threshold: dict[float, pl.DataFrame], reference: pl.DataFrame) -> pl.DataFrame:
    """Per threshold and per class in both: intra-class similarity minus the reference's, with its
    95% interval and verdict (``COMPARISON_SCHEMA``)."""
    frames = [
        stats.compare_classes(per_class, reference)
        .join(per_class.select("wnid", "n", "mean"), on="wnid")
        .join(reference.select("wnid", reference_n="n", reference_mean="mean"), on="wnid")
        .with_columns(threshold=pl.lit(t))
        for t, per_class in per_threshold.items()
    ]
    if not frames:
        return pl.DataFrame(schema=COMPARISON_SCHEMA)
    return pl.concat(frames).select(list(COMPARISON_SCHEMA)).cast(COMPARISON_SCHEMA)


def threshold_sweep(
    vectors: np.ndarray,
    labels: np.ndarray,
    similarity: pl.Series,
    reference: pl.DataFrame,
    thresholds: Sequence[float],
    cap: int | None = 100,
    seed: int = 0,
    interval: str = "jackknife",
) -> pl.DataFrame:
    """Per threshold and per class in both: the text-matched images' intra-class similarity
    (rows with similarity > threshold) minus the reference's (``per_class_intra_similarity``
    rows), with its 95% interval and verdict (``COMPARISON_SCHEMA``)."""
    return compare_per_threshold(
        classes_above(vectors, labels, similarity, thresholds, cap, seed, interval), reference
    )


def sweep_summary(
    matches: pl.DataFrame, comparisons: pl.DataFrame, thresholds: Sequence[float]
) -> pl.DataFrame:
    """Fig. 18 per threshold: LAION rows and classes covered by the text matches (``matches``:
    ``wnid``, ``similarity``; images or not), classes compared, and the share of those that are
    significantly lower in the text-matched set and in the reference."""
    coverage = coverage_curve(
        matches.select("wnid", text_similarity="similarity"), np.asarray(thresholds, dtype=np.float64)
    )
    shares = comparisons.group_by("threshold").agg(
        classes_compared=pl.len(),
        text_matched_lower=(pl.col("verdict") == "significantly lower").mean(),
        reference_lower=(pl.col("verdict") == "significantly higher").mean(),
    )
    return (
        coverage.rename({"rows_kept": "rows"})
        .join(shares, on="threshold", how="left")
        .with_columns(pl.col("classes_compared").fill_null(0).cast(pl.Int64))
        .sort("threshold")
    )
