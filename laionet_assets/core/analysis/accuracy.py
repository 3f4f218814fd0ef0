"""Accuracy of ImageNet models on LAIONet and ImageNet (paper §3.1, Figs. 1 and 5).

Accuracy is the mean of per-class recalls over the classes present in LAIONet (equally
weighted, as ImageNet weights its classes), or weighted by each class's relative frequency in
LAIONet (LAION-weighted).  Recall@k of a class = share of its images whose true wnid is among the
model's top k.

Intervals.  Each class's recall gets a Wilson 95% score interval.  The paper does not say how it
carries those to an accuracy; we propagate them as independent per-class errors: the Wilson
half-width h_c of class c gives se_c = h_c / z, and a weighted accuracy Σ w_c r_c gets
se = √(Σ w_c² se_c²) and the interval accuracy ± z·se, clipped to [0, 1].  Classes are disjoint
sets of images, so independence across classes holds; the Wilson half-width (not r(1−r)/n) keeps
classes with recall 0 or 1 from claiming zero error.
"""

from __future__ import annotations

import numpy as np
import polars as pl

Z95 = 1.959963984540054

PREDICTION_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "image_id": pl.String,
    "wnid": pl.String,
    "top5": pl.List(pl.String),
}


def wilson_interval(successes, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (vectorised; n = 0 gives NaN)."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denominator = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # Exact at the boundaries (k = 0 → low 0, k = n → high 1), which rounding would miss.
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return low, high


def per_class_recall(predictions: pl.DataFrame) -> pl.DataFrame:
    """One row per dataset, model and class: n, hits@1, hits@5, recall@1/@5 and Wilson bounds.

    Rows whose prediction failed (``top5`` null) are not counted.
    """
    scored = predictions.filter(pl.col("top5").is_not_null()).with_columns(
        hit1=(pl.col("top5").list.first() == pl.col("wnid")),
        hit5=pl.col("top5").list.contains(pl.col("wnid")),
    )
    table = (
        scored.group_by("dataset", "model", "wnid")
        .agg(
            n=pl.len().cast(pl.Int64),
            hits1=pl.col("hit1").sum().cast(pl.Int64),
            hits5=pl.col("hit5").sum().cast(pl.Int64),
        )
        .sort("dataset", "model", "wnid")
    )
    out = {}
    for k in ("1", "5"):
        low, high = wilson_interval(table[f"hits{k}"].to_numpy(), table["n"].to_numpy())
        out[f"recall{k}"] = table[f"hits{k}"] / table["n"]
        out[f"recall{k}_low"], out[f"recall{k}_high"] = pl.Series(low), pl.Series(high)
    return table.with_columns(**out)


def weighted_accuracy(recall: np.ndarray, low: np.ndarray, high: np.ndarray, weights: np.ndarray) -> dict:
    """Σ w r with the propagated Wilson interval; weights are normalised to sum to 1."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.size == 0 or weights.sum() <= 0:
        return {"accuracy": float("nan"), "low": float("nan"), "high": float("nan"), "classes": 0}
    w = weights / weights.sum()
    accuracy = float(np.sum(w * recall))
    se = float(np.sqrt(np.sum((w * (np.asarray(high) - np.asarray(low)) / (2 * Z95)) ** 2)))
    return {
        "accuracy": accuracy,
        "low": max(0.0, accuracy - Z95 * se),
        "high": min(1.0, accuracy + Z95 * se),
        "classes": int(weights.size),
    }


def accuracy_table(recalls: pl.DataFrame, laion_frequency: pl.DataFrame) -> pl.DataFrame:
    """Per dataset and model: equally weighted and LAION-weighted top-1/top-5 accuracy with intervals.

    ``laion_frequency``: ``wnid``, ``count`` of LAIONet.  Only classes present in LAIONet (count > 0)
    and evaluated in the dataset count.
    """
    present = laion_frequency.filter(pl.col("count") > 0).select("wnid", "count")
    rows = []
    for (dataset, model), group in recalls.join(present, on="wnid", how="inner").group_by(
        "dataset", "model", maintain_order=True
    ):
        row = {"dataset": dataset, "model": model, "classes": group.height, "images": int(group["n"].sum())}
        for k in ("1", "5"):
            args = [group[c].to_numpy() for c in (f"recall{k}", f"recall{k}_low", f"recall{k}_high")]
            for weighting, weights in (
                ("equal", np.ones(group.height)),
                ("laion", group["count"].to_numpy()),
            ):
                result = weighted_accuracy(*args, weights)
                prefix = f"top{k}_{weighting}"
                row.update(
                    {
                        prefix: result["accuracy"],
                        f"{prefix}_low": result["low"],
                        f"{prefix}_high": result["high"],
                    }
                )
        rows.append(row)
    schema = {"dataset": pl.String, "model": pl.String, "classes": pl.Int64, "images": pl.Int64}
    for k in ("1", "5"):
        for weighting in ("equal", "laion"):
            schema.update({f"top{k}_{weighting}{s}": pl.Float64 for s in ("", "_low", "_high")})
    return pl.DataFrame(rows, schema=schema).sort("model", "dataset")
