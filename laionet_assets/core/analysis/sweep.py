"""LAIONet's threshold trade-off (the experiment the paper's §2 and Fig. 3 leave open): as the
text-similarity threshold moves, how many rows and classes LAIONet keeps, how similar a class's
images are to each other, how many classes are significantly less similar than ImageNet's, and
how accurate the models are.

LAIONet at a higher threshold is a subset of LAIONet at a lower one (same policy, same lemma
matches), so one table of the candidates above the lowest threshold, with their images fetched
and embedded once, answers every threshold.

Thresholds: a list given by the user; else, for a pretrained CLIP text encoder, ``CLIP_SWEEP``
(0.70 … 0.90 around the paper's 0.82); else (other encoders, whose similarities live on other
scales, and random-weight test encoders) the ``SWEEP_QUANTILES`` quantiles of the candidates'
similarity distribution (the rows the safety policy keeps that match one synset).  LAIONet's own
threshold is always added.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from laionet_assets.core.analysis.accuracy import per_class_recall
from laionet_assets.core.analysis.text_matched import above, classes_above, compare_per_threshold
from laionet_assets.core.text.selection import coverage_curve

CLIP_SWEEP = (0.70, 0.74, 0.78, 0.82, 0.86, 0.90)
SWEEP_QUANTILES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
LAIONET_OWN = "LAIONet's threshold"  # the chosen_as of the threshold laionet_clean used

SWEEP_SCHEMA = {
    "threshold": pl.Float64,
    "rows": pl.Int64,  # candidates above the threshold (LAIONet's size before downloads)
    "classes_covered": pl.Int64,
    "images": pl.Int64,  # of those, images downloaded and kept (as laionet_final keeps them)
    "classes_with_pairs": pl.Int64,  # classes with two images or more
    "intra_class_mean": pl.Float64,  # mean over those classes of the class's mean pair similarity
    "intra_class_pooled": pl.Float64,  # mean over all (capped) within-class pairs
    "classes_compared": pl.Int64,  # classes in both LAIONet and the reference
    "share_lower_than_reference": pl.Float64,  # of the compared: significantly lower in LAIONet
    "reference_intra_class_mean": pl.Float64,  # the reference's mean over the same classes
}


def sweep_thresholds(
    similarity: np.ndarray,
    clip_scale: bool,
    laionet_threshold: float,
    thresholds: Sequence[float] | None = None,
    quantiles: Sequence[float] = SWEEP_QUANTILES,
) -> pl.DataFrame:
    """The thresholds swept, ascending, LAIONet's own included (see the module's docstring), with
    how each was chosen and the share of the candidates at or below it (``quantile``)."""
    sims = np.asarray(similarity, dtype=np.float64)
    if thresholds:
        chosen, why = [float(t) for t in thresholds], ["given"] * len(thresholds)
    elif clip_scale:
        chosen, why = list(CLIP_SWEEP), ["CLIP default"] * len(CLIP_SWEEP)
    else:
        if any(not 0.0 <= q <= 1.0 for q in quantiles):
            raise ValueError(f"sweep quantiles must lie in [0, 1], got {list(quantiles)}")
        chosen = [round(float(v), 4) for v in np.quantile(sims, quantiles)] if sims.size else []
        why = [f"quantile {q:g}" for q in quantiles][: len(chosen)]
    reasons = dict(zip(chosen, why))
    reasons[float(laionet_threshold)] = LAIONET_OWN
    ordered = sorted(reasons)
    return pl.DataFrame(
        {
            "threshold": ordered,
            "chosen_as": [reasons[t] for t in ordered],
            "quantile": [float((sims <= t).mean()) if sims.size else None for t in ordered],
        },
        schema={"threshold": pl.Float64, "chosen_as": pl.String, "quantile": pl.Float64},
    )


def pooled_mean(per_class: pl.DataFrame) -> float | None:
    """Mean over every distinct within-class pair: the classes' means weighted by their pairs."""
    pairs = per_class["pairs"].sum()
    return float((per_class["mean"] * per_class["pairs"]).sum() / pairs) if pairs else None


def laionet_sweep(
    candidates: pl.DataFrame,
    images: pl.DataFrame,
    vectors: np.ndarray,
    reference: pl.DataFrame,
    thresholds: Sequence[float],
    cap: int | None = 100,
    seed: int = 0,
    interval: str = "jackknife",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per threshold (``SWEEP_SCHEMA``) and per threshold and class (``COMPARISON_SCHEMA`` of
    ``core.analysis.text_matched``): ``candidates`` (``wnid``, ``text_similarity``) give rows and classes;
    ``images`` (``wnid``, ``text_similarity``), row i embedded as ``vectors[i]``, give the
    intra-class figures; ``reference`` is the reference's per-class statistics
    (``per_class_intra_similarity``, e.g. ImageNet val's)."""
    coverage = coverage_curve(
        candidates.select("wnid", "text_similarity"), np.asarray(thresholds, np.float64)
    )
    per_threshold = classes_above(
        vectors, images["wnid"].to_numpy(), images["text_similarity"], thresholds, cap, seed, interval
    )
    comparisons = compare_per_threshold(per_threshold, reference)
    rows = []
    for t, per_class in per_threshold.items():
        compared = comparisons.filter(pl.col("threshold") == t)
        rows.append(
            {
                "threshold": t,
                "images": int(above(images["text_similarity"], t).sum()),
                "classes_with_pairs": per_class.height,
                "intra_class_mean": float(per_class["mean"].mean()) if per_class.height else None,
                "intra_class_pooled": pooled_mean(per_class),
                "classes_compared": compared.height,
                "share_lower_than_reference": float((compared["verdict"] == "significantly lower").mean())
                if compared.height
                else None,
                "reference_intra_class_mean": float(compared["reference_mean"].mean())
                if compared.height
                else None,
            }
        )
    table = coverage.rename({"rows_kept": "rows"}).join(
        pl.DataFrame(
            rows, schema={k: v for k, v in SWEEP_SCHEMA.items() if k not in ("rows", "classes_covered")}
        ),
        on="threshold",
    )
    return table.select(list(SWEEP_SCHEMA)).cast(SWEEP_SCHEMA).sort("threshold"), comparisons


def accuracy_by_threshold(
    predictions: pl.DataFrame, similarity: pl.DataFrame, thresholds: Sequence[float]
) -> pl.DataFrame:
    """Per threshold and model: equal-weight top-1 and top-5 accuracy (the mean of per-class
    recalls over the classes present) of the predicted rows above the threshold.
    ``predictions``: ``sample_id``, ``model``, ``wnid``, ``top5``; ``similarity``: ``sample_id``,
    ``text_similarity``."""
    scored = predictions.join(similarity.select("sample_id", "text_similarity"), on="sample_id")
    frames = []
    for t in thresholds:
        kept = scored.filter(above(scored["text_similarity"], t))
        recall = per_class_recall(kept.with_columns(dataset=pl.lit("laionet")))
        frames.append(
            recall.group_by("model")
            .agg(
                classes=pl.len().cast(pl.Int64),
                images=pl.col("n").sum().cast(pl.Int64),
                top1_equal=pl.col("recall1").mean(),
                top5_equal=pl.col("recall5").mean(),
            )
            .with_columns(threshold=pl.lit(float(t)))
        )
    schema = {
        "threshold": pl.Float64,
        "model": pl.String,
        "classes": pl.Int64,
        "images": pl.Int64,
        "top1_equal": pl.Float64,
        "top5_equal": pl.Float64,
    }
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames).select(list(schema)).cast(schema).sort("threshold", "model")


def with_accuracy(table: pl.DataFrame, accuracy: pl.DataFrame) -> pl.DataFrame:
    """The sweep table with one ``top1_equal_<model>`` column per model."""
    if accuracy.is_empty():
        return table
    wide = accuracy.pivot("model", index="threshold", values="top1_equal")
    return table.join(
        wide.rename({m: f"top1_equal_{m}" for m in wide.columns if m != "threshold"}),
        on="threshold",
        how="left",
    )
