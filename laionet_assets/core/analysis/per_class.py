"""Which classes lose most accuracy on LAIONet, and is it the classes whose images vary more?
(the per-class question behind the paper's Fig. 7).

Per model and class present in both datasets: recall@1 on LAIONet minus recall@1 on ImageNet, with
the interval of a difference of two independent proportions (each side's standard error from its
Wilson half-width, as ``core.analysis.accuracy`` carries them to accuracies) and the verdict of
``stats.compare_means``; ranked from the largest loss.  Its relation to the class's intra-class
similarity difference (LAIONet minus ImageNet) is Spearman's rank correlation with a 95% interval
from Fisher's z with Fieller, Hartley and Pearson's standard error 1.03/√(n−3) for rank
correlations.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from laionet_assets.core.analysis.accuracy import Z95
from laionet_assets.core.analysis.stats import compare_means

DIFFERENCE_SCHEMA = {
    "model": pl.String,
    "wnid": pl.String,
    "laionet_n": pl.Int64,
    "laionet_recall1": pl.Float64,
    "imagenet_n": pl.Int64,
    "imagenet_recall1": pl.Float64,
    "difference": pl.Float64,
    "se": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "verdict": pl.String,
    "rank": pl.Int64,  # 1: the class that loses most on LAIONet, for this model
    "intra_class_difference": pl.Float64,  # LAIONet − ImageNet intra-class similarity (null: not compared)
}


RANKED_COLUMNS = [
    "model",
    "rank",
    "wnid",
    "laionet_recall1",
    "imagenet_recall1",
    "difference",
    "ci_low",
    "ci_high",
]


def ranked(differences: pl.DataFrame, n: int = 10, least: bool = False) -> pl.DataFrame:
    """Per model, the ``n`` classes that lose most recall@1 on LAIONet (or least), as tables show them."""
    chosen = pl.col("rank") > pl.len().over("model") - n if least else pl.col("rank") <= n
    return differences.filter(chosen).select(RANKED_COLUMNS)


def recall_differences(recalls: pl.DataFrame, intra_class: pl.DataFrame) -> pl.DataFrame:
    """``per_class_recall`` rows of datasets ``laionet`` and ``imagenet_val`` → one row per model
    and class present in both (``DIFFERENCE_SCHEMA``), with the class's intra-class similarity
    difference from ``intra_class_laionet_vs_imagenet`` where it was compared."""
    se = ((pl.col("recall1_high") - pl.col("recall1_low")) / (2 * Z95)).alias("se")
    side = lambda name: recalls.filter(pl.col("dataset") == name).select(  # noqa: E731
        "model", "wnid", n="n", recall="recall1", se=se
    )
    joined = side("laionet").join(side("imagenet_val"), on=["model", "wnid"], suffix="_imagenet")
    rows = [
        {
            "model": r["model"],
            "wnid": r["wnid"],
            "laionet_n": r["n"],
            "laionet_recall1": r["recall"],
            "imagenet_n": r["n_imagenet"],
            "imagenet_recall1": r["recall_imagenet"],
            **compare_means(
                {"mean": r["recall"], "se": r["se"]}, {"mean": r["recall_imagenet"], "se": r["se_imagenet"]}
            ),
        }
        for r in joined.iter_rows(named=True)
    ]
    schema = {k: v for k, v in DIFFERENCE_SCHEMA.items() if k not in ("rank", "intra_class_difference")}
    table = pl.DataFrame(rows, schema=schema)
    return (
        table.sort(["model", "difference", "wnid"])
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("model"))
        .join(intra_class.select("wnid", intra_class_difference="difference"), on="wnid", how="left")
        .select(list(DIFFERENCE_SCHEMA))
        .sort(["model", "rank"])
    )


def spearman(x: np.ndarray, y: np.ndarray) -> dict:
    """Spearman's ρ (ties get their average rank) with a 95% interval by Fisher's z and the
    standard error 1.03/√(n−3); NaN where n < 4 or a side is constant."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n = int(x.size)
    nan = {"rho": float("nan"), "low": float("nan"), "high": float("nan"), "n": n}
    if n < 4:
        return nan
    rx = pl.Series(x).rank("average").to_numpy()
    ry = pl.Series(y).rank("average").to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return nan
    rho = float(np.corrcoef(rx, ry)[0, 1])
    z, half = np.arctanh(np.clip(rho, -0.999999, 0.999999)), Z95 * 1.03 / np.sqrt(n - 3)
    # |ρ| = 1 has z = ±∞: z is clipped, and the interval kept around ρ itself
    low, high = min(float(np.tanh(z - half)), rho), max(float(np.tanh(z + half)), rho)
    return {"rho": rho, "low": low, "high": high, "n": n}


def correlations(differences: pl.DataFrame) -> pl.DataFrame:
    """Per model: Spearman's ρ of the recall difference and the intra-class similarity difference
    over the classes that have both, with its interval."""
    rows = []
    for (model,), group in differences.group_by(["model"], maintain_order=True):
        both = group.drop_nulls("intra_class_difference")
        result = spearman(both["difference"].to_numpy(), both["intra_class_difference"].to_numpy())
        rows.append({"model": model, **result})
    return pl.DataFrame(
        rows,
        schema={"model": pl.String, "rho": pl.Float64, "low": pl.Float64, "high": pl.Float64, "n": pl.Int64},
    )
