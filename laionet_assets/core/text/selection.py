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


def select_laionet(
    candidates: pl.DataFrame,
    threshold: float,
    nsfw_policy: str = "auto",
    max_unsafe_score: float = DEFAULT_MAX_UNSAFE_SCORE,
) -> tuple[pl.DataFrame, dict]:
    """Single-label candidates with ``text_similarity > threshold`` that the safety policy keeps."""
    check_threshold(threshold)
    ok = safety_ok(nsfw_policy, max_unsafe_score)
    above = pl.col("text_similarity") > threshold
    no_signal = pl.col("nsfw_tag").is_null() & pl.col("unsafe_score").is_null()
    counts = candidates.select(
        candidates=pl.len(),
        dropped_nsfw_policy=(~ok).sum(),
        dropped_nsfw_policy_no_signal=(~ok & no_signal).sum(),
        dropped_below_threshold=(ok & ~above).sum(),
        kept_without_safety_signal=(ok & above & no_signal).sum(),
    ).row(0, named=True)
    kept = (
        candidates.filter(ok & above)
        .with_columns(nsfw_missing=no_signal)
        .sort(["wnid", "text_similarity", "sample_id"], descending=[False, True, False])
    )
    counts["rows"] = kept.height
    counts["classes"] = kept["wnid"].n_unique()
    return kept, {k: int(v) for k, v in counts.items()}


def top_per_class(laionet: pl.DataFrame, k: int = 50) -> pl.DataFrame:
    """The ``k`` rows most similar to their synset text in each class (ties by sample_id)."""
    return (
        laionet.sort(["wnid", "text_similarity", "sample_id"], descending=[False, True, False])
        .group_by("wnid", maintain_order=True)
        .head(k)
    )


def coverage_curve(candidates: pl.DataFrame, thresholds: np.ndarray | None = None) -> pl.DataFrame:
    """Classes covered and rows kept for each threshold (paper Fig. 3b,c): ``similarity > t``."""
    if thresholds is None:
        thresholds = np.round(np.linspace(0.0, 1.0, 101), 2)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    # Compare in the column's own precision, as select_laionet's polars filter does: a float32
    # similarity of 0.3 is not above the threshold 0.3 (it would be in float64).
    dtype = candidates["text_similarity"].to_numpy().dtype if candidates.height else np.float32
    sims = np.sort(candidates["text_similarity"].to_numpy())
    class_max = np.sort(
        candidates.group_by("wnid").agg(pl.col("text_similarity").max())["text_similarity"].to_numpy()
    )
    rows_kept = sims.size - np.searchsorted(sims, thresholds.astype(dtype), side="right")
    classes = class_max.size - np.searchsorted(class_max, thresholds.astype(dtype), side="right")
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
