"""LAIONet selection (paper §2): threshold, NSFW policy, top-k, coverage curve."""

from __future__ import annotations

import numpy as np
import polars as pl

from laionet_assets.core.choices import check_choice

# How LAIONet treats each row's safety signal (a release's NSFW tag or unsafe score; see
# core.releases.layouts): one function, safety_ok, applies them for the asset and its check.
NSFW_POLICIES = ("auto", "require_unlikely", "allow_missing", "max_unsafe_score", "none")
DEFAULT_MAX_UNSAFE_SCORE = 0.5  # LAION-5B's and COYO's own cut; a stricter research choice: 0.1
# A LAIONet candidate row: a single-label caption with its similarity, safety signal, size, part and row.
LAIONET_SCHEMA = {
    "sample_id": pl.String,
    "url": pl.String,
    "text": pl.String,
    "wnid": pl.String,
    "text_similarity": pl.Float32,
    "nsfw_tag": pl.String,
    "unsafe_score": pl.Float32,
    "width": pl.Int32,
    "height": pl.Int32,
    "release_part": pl.String,
    "part_row": pl.Int64,  # the row in the part's file and in its shipped embeddings
}
LAIONET_COLUMNS = list(LAIONET_SCHEMA)


def check_threshold(threshold: float | None) -> float | None:
    """A cosine-similarity threshold (or None for "the encoder's"), or a ValueError."""
    if threshold is not None and not -1.0 <= threshold <= 1.0:
        raise ValueError(f"similarity threshold {threshold} is outside [-1, 1]")
    return threshold


def check_unsafe_score(score: float) -> float:
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"max_unsafe_score {score} is outside [0, 1]")
    return score


def check_nsfw_policy(policy: str) -> str:
    """The policy itself, or a ValueError naming the allowed ones (used by every config)."""
    return check_choice(policy, NSFW_POLICIES, "NSFW policy")


def safety_ok(policy: str, max_unsafe_score: float = DEFAULT_MAX_UNSAFE_SCORE) -> pl.Expr:
    """Rows a policy keeps, from ``nsfw_tag`` (LAION-400M's UNLIKELY/UNSURE/NSFW) and
    ``unsafe_score`` (LAION-5B's punsafe, COYO's detectors; in [0, 1]):

    - ``require_unlikely``: the paper's ``NSFW == "UNLIKELY"``; a row without a tag is dropped.
    - ``allow_missing``: also keeps rows with neither a tag nor a score.
    - ``max_unsafe_score``: ``unsafe_score <= max_unsafe_score``; a row without a score is dropped.
    - ``auto``: a row's tag when it has one, else its score; a row with neither is dropped.
    - ``none``: every row (for releases with no safety signal; recorded in metadata and report).
    """
    tag, score = pl.col("nsfw_tag"), pl.col("unsafe_score")
    tag_ok = tag.eq("UNLIKELY").fill_null(False)
    score_ok = (score <= check_unsafe_score(max_unsafe_score)).fill_null(False)
    no_signal = tag.is_null() & score.is_null()
    return {
        "require_unlikely": tag_ok,
        "allow_missing": tag_ok | no_signal,
        "max_unsafe_score": score_ok,
        "auto": pl.when(tag.is_not_null()).then(tag_ok).otherwise(score_ok),
        "none": pl.lit(True),
    }[check_nsfw_policy(policy)]


def selection_counts(
    threshold: float, nsfw_policy: str = "auto", max_unsafe_score: float = DEFAULT_MAX_UNSAFE_SCORE
) -> dict[str, pl.Expr]:
    """The candidates by outcome, as aggregations over a frame of candidates (sums over parts
    add up to the sums over their union)."""
    ok = safety_ok(nsfw_policy, max_unsafe_score)
    above = pl.col("text_similarity") > threshold
    no_signal = pl.col("nsfw_tag").is_null() & pl.col("unsafe_score").is_null()
    return {
        "candidates": pl.len(),
        "dropped_nsfw_policy": (~ok).sum(),
        "dropped_nsfw_policy_no_signal": (~ok & no_signal).sum(),
        "dropped_below_threshold": (ok & ~above).sum(),
        "kept_without_safety_signal": (ok & above & no_signal).sum(),
    }


# LAIONet's row order: by class, most similar first; ties by sample id, then part and row (a
# sample id that two parts share)
LAIONET_ORDER = ["wnid", "text_similarity", "sample_id", "release_part", "part_row"]
_DESCENDING = [False, True, False, False, False]


def finish_selection(kept: pl.DataFrame) -> pl.DataFrame:
    """Selected candidates as LAIONet holds them: ``nsfw_missing`` added, in LAIONet's order."""
    return kept.with_columns(
        nsfw_missing=pl.col("nsfw_tag").is_null() & pl.col("unsafe_score").is_null()
    ).sort(LAIONET_ORDER, descending=_DESCENDING)


def laionet_counts(counts: dict, laionet: pl.DataFrame) -> dict[str, int]:
    """The selection's counts with LAIONet's rows and classes."""
    return {k: int(v) for k, v in counts.items()} | {
        "rows": laionet.height,
        "classes": laionet["wnid"].n_unique(),
    }


def select_laionet(
    candidates: pl.DataFrame,
    threshold: float,
    nsfw_policy: str = "auto",
    max_unsafe_score: float = DEFAULT_MAX_UNSAFE_SCORE,
) -> tuple[pl.DataFrame, dict]:
    """Single-label candidates with ``text_similarity > threshold`` that the safety policy keeps,
    and the candidates by outcome."""
    check_threshold(threshold)
    counts = candidates.select(**selection_counts(threshold, nsfw_policy, max_unsafe_score)).row(
        0, named=True
    )
    kept = candidates.filter(
        safety_ok(nsfw_policy, max_unsafe_score) & (pl.col("text_similarity") > threshold)
    )
    kept = finish_selection(kept)
    return kept, laionet_counts(counts, kept)


def top_per_class(laionet: pl.DataFrame, k: int = 50) -> pl.DataFrame:
    """The ``k`` rows most similar to their synset text in each class (ties by sample_id)."""
    order = [c for c in LAIONET_ORDER if c in laionet.columns]
    return (
        laionet.sort(order, descending=_DESCENDING[: len(order)])
        .group_by("wnid", maintain_order=True)
        .head(k)
    )


def coverage_curve(candidates: pl.DataFrame, thresholds: np.ndarray | None = None) -> pl.DataFrame:
    """Classes covered and rows kept for each threshold (paper Fig. 3b,c): ``similarity > t``."""
    class_max = candidates.group_by("wnid").agg(pl.col("text_similarity").max())
    return coverage_from(candidates["text_similarity"].to_numpy(), class_max, thresholds)


def coverage_from(
    similarities: np.ndarray, class_max: pl.DataFrame, thresholds: np.ndarray | None = None
) -> pl.DataFrame:
    """:func:`coverage_curve` from the candidates' similarities and each class's highest one."""
    if thresholds is None:
        thresholds = np.round(np.linspace(0.0, 1.0, 101), 2)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    # Compare in the column's own precision, as select_laionet's polars filter does: a float32
    # similarity of 0.3 is not above the threshold 0.3 (it would be in float64).
    dtype = similarities.dtype if similarities.size else np.float32
    ascending = similarities.size < 2 or bool((similarities[1:] >= similarities[:-1]).all())
    sims = similarities if ascending else np.sort(similarities)
    maxima = np.sort(class_max["text_similarity"].to_numpy())
    rows_kept = sims.size - np.searchsorted(sims, thresholds.astype(dtype), side="right")
    classes = maxima.size - np.searchsorted(maxima, thresholds.astype(dtype), side="right")
    return pl.DataFrame(
        {
            "threshold": thresholds,
            "classes_covered": classes.astype(np.int64),
            "rows_kept": rows_kept.astype(np.int64),
        }
    )


def class_frequencies(laionet: pl.DataFrame, synsets: pl.DataFrame) -> pl.DataFrame:
    """Rows per class and relative frequency (paper Fig. 4), every one of the 1000 classes listed."""
    counts = laionet.group_by("wnid").agg(pl.len().alias("count"))
    total = max(laionet.height, 1)
    return (
        synsets.select("wnid", "class_index", "name")
        .join(counts, on="wnid", how="left")
        .with_columns(pl.col("count").fill_null(0).cast(pl.Int64))
        .with_columns(relative_frequency=pl.col("count") / total)
        .sort(["count", "class_index"], descending=[True, False])
    )
