"""Selection by image against selection by caption: the paper's explanation put to a direct test.

The paper explains why ImageNet looks unlike LAION: ImageNet's annotators looked at the image and
kept stereotypical pictures, whereas LAIONet's selection saw only the caption (§4, an
information bottleneck).  If that is so, selecting LAION's candidates *by their image* should
give classes whose images are more alike than LAIONet's, closer to ImageNet's.  From the same
pool as LAIONet (single-label, safety-filtered candidates of one release), three rules select by
the image:

* ``image_to_class``: the image's CLIP similarity to its synset text (Appendix D's
  image-to-synset similarity) above a threshold: the image analogue of LAIONet's caption rule;
* ``image_to_prototype``: the image's cosine to its class's ImageNet image centroid (how an
  image-based filter such as DataComp's keeps images near ImageNet's clusters), the centroid taken
  from one seeded half of ImageNet val (:func:`split_halves`); every comparison with ImageNet uses
  the other half, so the test is not circular;
* ``caption_then_image``: LAIONet's rows further filtered by ``image_to_class``: the two-stage
  selection ImageNet itself used (a text query, then people looking at the image).

Per class the sets, LAIONet's caption selection (``caption``) among them, are compared at one
size: the smallest set's number of images in that class (at most ``max_images``), each set
sampled to it with a seed (:func:`matched_sample`).  A class where a set has fewer than
``min_images`` is reported, not padded.

A threshold left unset is chosen so that the rule keeps as many candidates as the caption rule
does (:func:`count_threshold`): the rules are then equally selective, and only *what* they look
at differs.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from laionet_assets.core.analysis import stats
from laionet_assets.core.analysis.stats import Z95
from laionet_assets.core.vectors import unit_rows

CAPTION = "caption"  # LAIONet: selected by its caption alone
RULES = ("image_to_class", "image_to_prototype", "caption_then_image")
SETS = (CAPTION, *RULES)
SET_LABELS = {
    CAPTION: "LAIONet (by caption)",
    "image_to_class": "by image: image-to-class",
    "image_to_prototype": "by image: image-to-prototype",
    "caption_then_image": "caption, then image",
}
# the score each image rule thresholds
RULE_SCORE = {
    "image_to_class": "class_similarity",
    "image_to_prototype": "prototype_similarity",
    "caption_then_image": "class_similarity",
}
SCORES = ("class_similarity", "prototype_similarity")
# the columns a candidate is scored by, beside LAIONet's own
CANDIDATE_SCHEMA = {
    "sample_id": pl.String,
    "wnid": pl.String,
    "text_similarity": pl.Float32,
    "release_part": pl.String,
    "part_row": pl.Int64,
    "in_laionet": pl.Boolean,
    "vector_key": pl.String,
    "class_similarity": pl.Float32,
    "prototype_similarity": pl.Float32,
}
SIZES_SCHEMA = {
    "wnid": pl.String,
    **{f"n_{s}": pl.Int64 for s in SETS},
    "matched_n": pl.Int64,
    "status": pl.String,  # compared, or which sets select too few
}
COMPARED = "compared"


def split_halves(image_ids, labels, seed: int = 0) -> np.ndarray:
    """True for the images of the prototype half of each class, False for the comparison half:
    per class (images in ``image_id`` order), a seeded random ``n // 2`` to the prototypes, the
    rest to the comparison.  Independent of the input's row order."""
    frame = pl.DataFrame(
        {
            "image_id": pl.Series(list(image_ids), dtype=pl.String),
            "wnid": pl.Series(list(labels), dtype=pl.String),
        }
    ).with_row_index("_row")
    ordered = frame.sort("wnid", "image_id")
    key = np.random.default_rng(seed).random(ordered.height)
    ranked = ordered.with_columns(_key=pl.Series(key)).with_columns(
        prototype=pl.col("_key").rank("ordinal").over("wnid") <= pl.len().over("wnid") // 2
    )
    return ranked.sort("_row")["prototype"].to_numpy()


def class_prototypes(x: np.ndarray, labels) -> tuple[np.ndarray, list[str]]:
    """Per class (sorted), the unit mean of its unit image vectors: [k, d] and the wnids."""
    labels = np.asarray(labels)
    wnids = sorted({str(w) for w in labels})
    if not wnids:
        return np.zeros((0, x.shape[1] if x.ndim == 2 else 1), np.float32), []
    x = unit_rows(x, np.float64)
    means = np.stack([x[labels == w].mean(axis=0) for w in wnids])
    return unit_rows(means, np.float32), wnids


def own_class_similarity(x: np.ndarray, labels, matrix: np.ndarray, wnids) -> np.ndarray:
    """Per unit row of ``x``, the cosine to its own class's row of ``matrix`` (synset texts or
    prototypes, ``wnids`` its classes); NaN where its class has no row."""
    row = {w: i for i, w in enumerate(wnids)}
    index = np.array([row.get(str(w), -1) for w in labels], dtype=np.int64)
    out = np.full(len(index), np.nan, dtype=np.float32)
    have = index >= 0
    if have.any():
        out[have] = np.einsum("ij,ij->i", x[have], matrix[index[have]])
    return out


def count_threshold(scores: np.ndarray, count: int) -> float:
    """The threshold ``t`` at which ``score > t`` keeps ``count`` of ``scores`` (the NaN ones never
    kept): the ``count + 1``-th highest score, or just below the lowest when every one is kept.
    Ties at ``t`` are all left out, so a rule may keep a little fewer."""
    finite = np.sort(np.asarray(scores, dtype=np.float64)[np.isfinite(scores)])[::-1]
    if finite.size == 0:
        return 1.0
    if count >= finite.size:
        return float(np.nextafter(finite[-1], -np.inf))
    return float(finite[max(count, 0)])


def thresholds_for(candidates: pl.DataFrame, chosen: dict[str, float | None]) -> dict[str, float]:
    """Each score's threshold: the one chosen, or (None) the one that keeps as many candidates as
    the caption rule (``in_laionet``) keeps."""
    count = int(candidates["in_laionet"].sum())
    return {
        score: chosen.get(score)
        if chosen.get(score) is not None
        else count_threshold(candidates[score].to_numpy(), count)
        for score in SCORES
    }


def rule_filter(rule: str, thresholds: dict[str, float]) -> pl.Expr:
    """The rows a set keeps, as an expression over the scored candidates."""
    if rule == CAPTION:
        return pl.col("in_laionet")
    above = pl.col(RULE_SCORE[rule]) > thresholds[RULE_SCORE[rule]]
    return (pl.col("in_laionet") & above) if rule == "caption_then_image" else above


def select_sets(candidates: pl.DataFrame, thresholds: dict[str, float]) -> pl.DataFrame:
    """Every set's rows (``set`` first, one row per set and candidate it keeps), in ``SETS``
    order and, within a set, by class and then LAIONet's keys."""
    frames = [
        candidates.filter(rule_filter(name, thresholds).fill_null(False)).with_columns(set=pl.lit(name))
        for name in SETS
    ]
    return select_sets_order(pl.concat(frames).select("set", *candidates.columns))


def matched_sizes(selected: pl.DataFrame, min_images: int, max_images: int) -> pl.DataFrame:
    """Per class any set selects: each set's number of images, the matched size (the smallest,
    at most ``max_images``) and the status: ``compared``, or which sets select fewer than
    ``min_images`` (the class is then not compared)."""
    counts = selected.group_by("wnid", "set").len()
    wide = (
        counts.pivot(on="set", index="wnid", values="len")
        if counts.height
        else pl.DataFrame(schema={"wnid": pl.String})
    )
    wide = wide.with_columns(
        **{
            f"n_{s}": (pl.col(s) if s in wide.columns else pl.lit(None)).fill_null(0).cast(pl.Int64)
            for s in SETS
        }
    )
    n = [pl.col(f"n_{s}") for s in SETS]
    short = pl.concat_str(
        [pl.when(pl.col(f"n_{s}") < min_images).then(pl.lit(s)) for s in SETS],
        separator=", ",
        ignore_nulls=True,
    )
    return (
        wide.with_columns(matched_n=pl.min_horizontal(*n).clip(upper_bound=max_images))
        .with_columns(
            status=pl.when(pl.col("matched_n") >= min_images)
            .then(pl.lit(COMPARED))
            .otherwise(pl.lit("too few in ") + short),
        )
        .select(list(SIZES_SCHEMA))
        .cast(SIZES_SCHEMA)
        .sort("wnid")
    )


def matched_sample(selected: pl.DataFrame, sizes: pl.DataFrame, seed: int = 0) -> pl.DataFrame:
    """``selected`` with ``matched``: in each compared class, a seeded sample of ``matched_n`` of
    each set's rows (independent of the input's row order: rows are ordered by set, class and
    LAIONet's keys before the seeded draw)."""
    ordered = select_sets_order(selected)
    key = np.random.default_rng(seed).random(ordered.height)
    compared = sizes.filter(pl.col("status") == COMPARED).select("wnid", "matched_n")
    return (
        ordered.with_columns(_key=pl.Series(key, dtype=pl.Float64))
        .join(compared, on="wnid", how="left", maintain_order="left")
        .with_columns(
            matched=(pl.col("_key").rank("ordinal").over("set", "wnid") <= pl.col("matched_n")).fill_null(
                False
            )
        )
        .drop("_key", "matched_n")
    )


def select_sets_order(selected: pl.DataFrame) -> pl.DataFrame:
    """Rows in the sets' canonical order: ``SETS``, class, release part, part row."""
    return selected.sort(
        pl.col("set").replace_strict({s: i for i, s in enumerate(SETS)}, return_dtype=pl.Int32),
        "wnid",
        "release_part",
        "part_row",
        maintain_order=True,
    )


def pooled_mean(per_class: pl.DataFrame) -> dict:
    """The mean over classes of the class means, with its standard error from the classes' own
    (classes are independent samples: √(Σ se²)/k) and 95% interval; no interval (NaN) where a
    class has no standard error (fewer than 3 images)."""
    k = per_class.height
    if not k:
        return {
            "classes": 0,
            "n": 0,
            "mean": float("nan"),
            "se": float("nan"),
            "ci_low": float("nan"),
            "ci_high": float("nan"),
        }
    mean = float(per_class["mean"].mean())
    se = float(np.sqrt(np.sum(per_class["se"].to_numpy() ** 2)) / k)  # NaN where a class has none
    return {
        "classes": k,
        "n": int(per_class["n"].sum()),
        "mean": mean,
        "se": se,
        "ci_low": mean - Z95 * se,
        "ci_high": mean + Z95 * se,
    }


COMPARISON_SCHEMA = {
    "set": pl.String,
    "wnid": pl.String,  # a class, or "all" for the pooled row
    "n": pl.Int64,
    "mean": pl.Float64,
    "se": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "difference": pl.Float64,  # the set minus LAIONet (caption selection)
    "difference_low": pl.Float64,
    "difference_high": pl.Float64,
    "verdict": pl.String,  # significantly higher: more alike inside than LAIONet
}
POOLED = "all"


def compare_sets(per_set: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Per set (``per_class_intra_similarity`` frames by set name, LAIONet's as ``caption``) and
    class, and pooled over classes (``wnid`` "all"): the intra-class similarity with its interval
    and the difference from LAIONet's with its interval and verdict (``stats.compare_means``)."""
    caption = per_set.get(CAPTION, pl.DataFrame(schema=stats.CLASS_STATS_SCHEMA))
    base = pooled_mean(caption)
    frames = []
    for name, table in per_set.items():
        compared = stats.compare_classes(table, caption)
        per_class = table.join(compared, on="wnid", how="left", suffix="_d").select(
            pl.lit(name).alias("set"),
            "wnid",
            "n",
            "mean",
            "se",
            "ci_low",
            "ci_high",
            pl.col("difference"),
            difference_low=pl.col("ci_low_d"),
            difference_high=pl.col("ci_high_d"),
            verdict=pl.col("verdict"),
        )
        pooled = pooled_mean(table)
        diff = stats.compare_means(pooled, base)
        frames.append(per_class)
        frames.append(
            pl.DataFrame(
                [
                    {
                        "set": name,
                        "wnid": POOLED,
                        **{k: pooled[k] for k in ("n", "mean", "se", "ci_low", "ci_high")},
                        "difference": diff["difference"],
                        "difference_low": diff["ci_low"],
                        "difference_high": diff["ci_high"],
                        "verdict": diff["verdict"],
                    }
                ],
                schema=COMPARISON_SCHEMA,
            )
        )
    out = (
        pl.concat([f.cast(COMPARISON_SCHEMA) for f in frames])
        if frames
        else pl.DataFrame(schema=COMPARISON_SCHEMA)
    )
    return out.with_columns(
        **{
            c: pl.when(pl.col("set") == CAPTION).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("difference", "difference_low", "difference_high", "verdict")
        }
    )


def summary(comparison: pl.DataFrame, reference: str) -> pl.DataFrame:
    """Per set: classes compared, pooled intra-class similarity, the share of classes
    significantly more alike inside than LAIONet, and how much of the gap between LAIONet and
    ``reference`` (ImageNet's comparison half) the set closes: (set − LAIONet) / (reference − LAIONet)."""
    pooled = comparison.filter(pl.col("wnid") == POOLED)
    means = dict(pooled.select("set", "mean").iter_rows())
    caption, target = means.get(CAPTION, float("nan")), means.get(reference, float("nan"))
    classes = comparison.filter(pl.col("wnid") != POOLED)
    shares = classes.group_by("set").agg(
        classes=pl.len(),
        share_more_alike=(pl.col("verdict") == "significantly higher").mean(),
        share_less_alike=(pl.col("verdict") == "significantly lower").mean(),
    )
    gap = target - caption
    return (
        pooled.select("set", "mean", "ci_low", "ci_high", "verdict")
        .join(shares, on="set", how="left")
        .with_columns(
            gap_closed=(pl.col("mean") - caption) / gap
            if gap and np.isfinite(gap)
            else pl.lit(None, pl.Float64)
        )
        .with_columns(
            pl.when(pl.col("set") == CAPTION).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("share_more_alike", "share_less_alike")
        )
    )


def answer(table: pl.DataFrame, reference: str) -> str:
    """The experiment's answer in words, from ``summary``'s table."""
    rows = {r["set"]: r for r in table.iter_rows(named=True)}
    if CAPTION not in rows or reference not in rows:
        return "Not answered: LAIONet or ImageNet has no class with enough images to compare."
    base, target = rows[CAPTION]["mean"], rows[reference]["mean"]
    lines = [
        f"LAIONet's classes (selected by caption) have a pooled intra-class similarity of {base:.3f}; "
        f"ImageNet's (the half not used for prototypes) {target:.3f}."
    ]
    for rule in RULES:
        r = rows.get(rule)
        if r is None or r["mean"] is None or not np.isfinite(r["mean"]):
            lines.append(f"{SET_LABELS[rule][0].upper() + SET_LABELS[rule][1:]}: no class compared.")
            continue
        moved = r["verdict"] == "significantly higher"
        toward = (r["mean"] - base) * (target - base) > 0
        gap = r["gap_closed"]
        how_far = f", {gap:.0%} of the way to ImageNet" if gap is not None and np.isfinite(gap) else ""
        verdict = (
            "moves LAIONet toward ImageNet"
            if moved and toward
            else "moves LAIONet away from ImageNet"
            if r["verdict"] == "significantly lower" and not toward
            else "makes classes more alike inside, past ImageNet"
            if moved
            else "does not move LAIONet significantly"
        )
        label = SET_LABELS[rule][0].upper() + SET_LABELS[rule][1:]
        lines.append(
            f"{label} {verdict}: pooled {r['mean']:.3f} "
            f"({r['ci_low']:.3f}–{r['ci_high']:.3f}){how_far}; {r['share_more_alike']:.0%} of "
            f"{r['classes']} classes significantly more alike inside than LAIONet."
        )
    return " ".join(lines)
