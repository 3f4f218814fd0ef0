"""Two releases' LAIONets side by side (the paper's closing question: would LAION-5B give better
matches than LAION-400M?): their sizes, how much they share, whether they favour the same
classes, whether their classes are as alike inside, and whether the models lose as much.

Every function takes the two sides as ``a`` (the release compared) and ``b`` (the baseline) and
reports ``a`` against ``b``: a difference is a − b.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from laionet_assets.core.analysis.accuracy import Z95
from laionet_assets.core.analysis.per_class import spearman
from laionet_assets.core.analysis.stats import compare_classes, compare_means, comparison_summary

# How two LAIONets can hold the same row: the image's address, the caption, the downloaded bytes.
OVERLAP_KEYS = {"url": "url", "caption": "text", "image": "image_sha256"}


def sizes(laionet: pl.DataFrame) -> dict[str, int]:
    """Rows and classes of one LAIONet."""
    return {"rows": laionet.height, "classes": laionet["wnid"].n_unique()}


def overlap(a: pl.DataFrame, b: pl.DataFrame, column: str) -> dict:
    """The distinct non-null values of ``column`` in each LAIONet and in both, with the share of
    each side's that the other holds."""
    left, right = (frame[column].drop_nulls().unique() for frame in (a, b))
    shared = int(left.is_in(right.implode()).sum())
    return {
        "a": left.len(),
        "b": right.len(),
        "shared": shared,
        "share_of_a": shared / left.len() if left.len() else float("nan"),
        "share_of_b": shared / right.len() if right.len() else float("nan"),
    }


def overlap_by_class(a: pl.DataFrame, b: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per class of either side: its distinct values of ``column`` in ``a``, in ``b`` and in both
    (a value shared under another class in the other release is not shared here)."""

    def distinct(frame: pl.DataFrame, side: str) -> pl.DataFrame:
        return frame.select("wnid", column).drop_nulls().unique().with_columns(pl.lit(True).alias(side))

    both = distinct(a, "in_a").join(distinct(b, "in_b"), on=["wnid", column], how="full", coalesce=True)
    return (
        both.group_by("wnid")
        .agg(
            a=pl.col("in_a").fill_null(False).sum(),
            b=pl.col("in_b").fill_null(False).sum(),
            shared=(pl.col("in_a").fill_null(False) & pl.col("in_b").fill_null(False)).sum(),
        )
        .with_columns(pl.col("a", "b", "shared").cast(pl.Int64))
        .sort("wnid")
    )


def frequency_correlation(a: pl.DataFrame, b: pl.DataFrame, wnids: list[str]) -> dict:
    """Spearman's ρ of the two LAIONets' rows per class over the vocabulary's classes (a class
    absent from a side counts 0), with its 95% interval (``per_class.spearman``)."""
    counts = [
        pl.DataFrame({"wnid": wnids})
        .join(frame.group_by("wnid").len(), on="wnid", how="left")["len"]
        .fill_null(0)
        .to_numpy()
        for frame in (a, b)
    ]
    return spearman(*counts)


def intra_class_difference(a_stats: pl.DataFrame, b_stats: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Per class in both (``stats.per_class_intra_similarity`` of each side, one encoder): a − b
    with its interval and verdict, and the number and share of classes significantly lower and
    higher."""
    compared = compare_classes(a_stats, b_stats)
    return compared, comparison_summary(compared)


def accuracy_difference(a: pl.DataFrame, b: pl.DataFrame, imagenet: pl.DataFrame) -> pl.DataFrame:
    """Per model in all three (``accuracy_table`` rows of LAIONet ``a``, LAIONet ``b`` and ImageNet
    val): equal-weight top-1 on each release, its drop from ImageNet on each, and the difference
    of the two releases with its 95% interval (each side's standard error from its interval's
    half-width)."""
    columns = ["model", "top1_equal", "top1_equal_low", "top1_equal_high"]
    joined = (
        a.select(columns)
        .join(b.select(columns), on="model", suffix="_b")
        .join(imagenet.select("model", imagenet="top1_equal"), on="model")
    )
    rows = []
    for r in joined.iter_rows(named=True):
        sides = [
            {
                "mean": r[f"top1_equal{s}"],
                "se": (r[f"top1_equal_high{s}"] - r[f"top1_equal_low{s}"]) / (2 * Z95),
            }
            for s in ("", "_b")
        ]
        rows.append(
            {
                "model": r["model"],
                "top1_a": r["top1_equal"],
                "top1_b": r["top1_equal_b"],
                "drop_a": r["imagenet"] - r["top1_equal"],
                "drop_b": r["imagenet"] - r["top1_equal_b"],
                **compare_means(*sides),
            }
        )
    schema = {
        "model": pl.String,
        **{c: pl.Float64 for c in ("top1_a", "top1_b", "drop_a", "drop_b", "difference", "se")},
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "verdict": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).sort("model")


@dataclass(frozen=True)
class ReleaseSide:
    """What one release contributes to a comparison; ``None`` where it was not computed."""

    laionet: pl.DataFrame  # laionet_clean: wnid, url, text
    images: pl.DataFrame | None = None  # its downloaded images: wnid, image_sha256
    intra_class: pl.DataFrame | None = None  # per_class_intra_similarity of its LAIONet
    encoder: str | None = None  # the image encoder behind intra_class
    accuracy: pl.DataFrame | None = None  # accuracy_table: dataset laionet and imagenet_val rows


COMPARISON_SCHEMA = {
    "release": pl.String,
    "baseline": pl.String,
    "measure": pl.String,
    "model": pl.String,  # the classifier, for the accuracy rows
    "value": pl.Float64,
    "low": pl.Float64,  # the 95% interval, where the measure has one
    "high": pl.Float64,
}
BY_CLASS_SCHEMA = {
    "release": pl.String,
    "baseline": pl.String,
    "wnid": pl.String,
    "urls": pl.Int64,
    "urls_baseline": pl.Int64,
    "urls_shared": pl.Int64,
    "captions": pl.Int64,
    "captions_baseline": pl.Int64,
    "captions_shared": pl.Int64,
    "images": pl.Int64,  # downloaded images (by sha256); null where a side has none
    "images_baseline": pl.Int64,
    "images_shared": pl.Int64,
    "intra_class_difference": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "verdict": pl.String,
}


def compare(names: tuple[str, str], a: ReleaseSide, b: ReleaseSide, wnids: list[str]):
    """Release ``names[0]`` against the baseline ``names[1]``: the summary rows
    (``COMPARISON_SCHEMA``), the rows per class (``BY_CLASS_SCHEMA``) and, by part of the
    comparison, why it could not be computed.  The text side (sizes, overlaps of URL and caption,
    the frequency correlation) is always computed."""
    rows: list[dict] = []

    def add(measure: str, value, low=None, high=None, model=None) -> None:
        rows.append({"measure": measure, "model": model, "value": value, "low": low, "high": high})

    for side, frame in (("", a.laionet), ("_baseline", b.laionet)):
        for key, value in sizes(frame).items():
            add(f"{key}{side}", value)
    for name, column in OVERLAP_KEYS.items():
        if column == "image_sha256":
            continue
        shared = overlap(a.laionet, b.laionet, column)
        add(f"{name}s_shared", shared["shared"])
        add(f"{name}s_shared_share_of_release", shared["share_of_a"])
        add(f"{name}s_shared_share_of_baseline", shared["share_of_b"])
    rho = frequency_correlation(a.laionet, b.laionet, wnids)
    add("class_frequency_spearman", rho["rho"], rho["low"], rho["high"])
    missing: dict[str, str] = {}
    if a.images is not None and b.images is not None:
        shared = overlap(a.images, b.images, "image_sha256")
        add("images_shared", shared["shared"])
        add("images_shared_share_of_release", shared["share_of_a"])
    else:
        missing["images"] = "no downloaded images on " + _sides(a.images, b.images, names)
    tables = [(a.laionet, b.laionet, "url", "urls"), (a.laionet, b.laionet, "text", "captions")]
    if a.images is not None and b.images is not None:
        tables.append((a.images, b.images, "image_sha256", "images"))
    by_class = None
    for left, right, column, name in tables:
        counts = overlap_by_class(left, right, column).rename(
            {"a": name, "b": f"{name}_baseline", "shared": f"{name}_shared"}
        )
        by_class = counts if by_class is None else by_class.join(counts, on="wnid", how="full", coalesce=True)
    counted = [c for c in by_class.columns if c != "wnid"]
    by_class = by_class.with_columns(pl.col(counted).fill_null(0))
    if a.intra_class is None or b.intra_class is None:
        missing["intra_class"] = "no intra_class_stats on " + _sides(a.intra_class, b.intra_class, names)
    elif a.encoder != b.encoder:
        missing["intra_class"] = (
            f"{names[0]} was embedded by {a.encoder} and {names[1]} by {b.encoder}: intra-class "
            "similarity is compared under one encoder; re-materialise image_embeddings and "
            f"intra_class_stats of {names[1]} with --image-encoder set to {a.encoder} (or of "
            f"{names[0]} with {b.encoder})"
        )
    else:
        compared, summary = intra_class_difference(a.intra_class, b.intra_class)
        add("intra_class_classes_compared", summary["classes"])
        add("intra_class_share_significantly_lower", summary["fraction_significantly_lower"])
        add("intra_class_share_significantly_higher", summary["fraction_significantly_higher"])
        by_class = by_class.join(
            compared.select(
                "wnid",
                intra_class_difference="difference",
                ci_low="ci_low",
                ci_high="ci_high",
                verdict="verdict",
            ),
            on="wnid",
            how="left",
        )
    if a.accuracy is None or b.accuracy is None:
        missing["accuracy"] = "no accuracy on " + _sides(a.accuracy, b.accuracy, names)
    else:
        pick = lambda t, d: t.filter(pl.col("dataset") == d)  # noqa: E731
        differences = accuracy_difference(
            pick(a.accuracy, "laionet"), pick(b.accuracy, "laionet"), pick(a.accuracy, "imagenet_val")
        )
        for r in differences.iter_rows(named=True):
            add("top1_equal", r["top1_a"], model=r["model"])
            add("top1_equal_baseline", r["top1_b"], model=r["model"])
            add("top1_drop_from_imagenet", r["drop_a"], model=r["model"])
            add("top1_drop_from_imagenet_baseline", r["drop_b"], model=r["model"])
            add("top1_equal_difference", r["difference"], r["ci_low"], r["ci_high"], model=r["model"])
    summary = pl.DataFrame(
        [{"release": names[0], "baseline": names[1], **r} for r in rows], schema=COMPARISON_SCHEMA
    )
    by_class = by_class.with_columns(release=pl.lit(names[0]), baseline=pl.lit(names[1]))
    for column, dtype in BY_CLASS_SCHEMA.items():
        if column not in by_class.columns:
            by_class = by_class.with_columns(pl.lit(None, dtype).alias(column))
    return summary, by_class.select(list(BY_CLASS_SCHEMA)).cast(BY_CLASS_SCHEMA), missing


def _sides(a, b, names: tuple[str, str]) -> str:
    return " and ".join(n for n, side in zip(names, (a, b)) if side is None)


def pairs(releases: list[str], baseline: str | None) -> list[tuple[str, str]]:
    """The (release, baseline) pairs compared: every other release against ``baseline``, or every
    pair of releases (the later name against the earlier) when none is chosen."""
    releases = sorted(releases)
    if baseline is not None:
        if baseline not in releases:
            raise ValueError(f"baseline release {baseline!r} is not in the home; its releases: {releases}")
        return [(r, baseline) for r in releases if r != baseline]
    return [(later, earlier) for i, earlier in enumerate(releases) for later in releases[i + 1 :]]
