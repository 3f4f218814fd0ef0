"""Blocking asset checks on laionet_clean: class coverage, NSFW removal, schema and ranges (GX 1.x)."""

import dagster as dg
import polars as pl

from laionet_assets.core.expectations import laionet_expectations, validate_frame
from laionet_assets.core.text.selection import safety_ok
from laionet_assets.resources import QualityGates


@dg.asset_check(asset="laionet_clean", blocking=True, additional_ins={"imagenet_synsets": dg.AssetIn()})
def laionet_class_coverage(
    laionet_clean: pl.LazyFrame, imagenet_synsets: pl.DataFrame, quality_gates: QualityGates
) -> dg.AssetCheckResult:
    """LAIONet covers at least ``min_covered_classes`` ImageNet classes (paper: 915 of 1000)."""
    present = set(laionet_clean.select(pl.col("wnid").unique()).collect()["wnid"].to_list())
    missing = [w for w in imagenet_synsets["wnid"].to_list() if w not in present]
    covered = len(present)
    return dg.AssetCheckResult(
        passed=covered >= quality_gates.min_covered_classes,
        metadata={
            "covered_classes": covered,
            "min_covered_classes": quality_gates.min_covered_classes,
            "missing_classes": len(missing),
            "missing_wnids": dg.MetadataValue.json(missing),
        },
    )


@dg.asset_check(asset="laionet_clean", blocking=True)
def laionet_nsfw_removed(laionet_clean: pl.LazyFrame, quality_gates: QualityGates) -> dg.AssetCheckResult:
    """No row violates the required safety policy (default ``auto``: a row with an NSFW tag is
    ``UNLIKELY``, a row with an unsafe score is at most ``max_unsafe_score_required``, and a row
    with neither is a violation unless the policy is ``none``)."""
    policy, limit = quality_gates.nsfw_policy_required, quality_gates.max_unsafe_score_required
    laionet_clean = laionet_clean.select("sample_id", "nsfw_tag", "unsafe_score").collect()
    violating = laionet_clean.filter(~safety_ok(policy, limit))
    signal = (
        pl.when(pl.col("nsfw_tag").is_not_null())
        .then(pl.lit("tag ") + pl.col("nsfw_tag"))
        .when(pl.col("unsafe_score").is_not_null())
        .then(
            pl.when(pl.col("unsafe_score") <= limit).then(pl.lit("score <= ")).otherwise(pl.lit("score > "))
        )
        .otherwise(pl.lit("no signal"))
    )
    by_value = violating.group_by(signal.alias("signal")).len().sort("signal")
    return dg.AssetCheckResult(
        passed=violating.height == 0,
        metadata={
            "policy": policy,
            "max_unsafe_score_required": limit,
            "rows_by_signal": dg.MetadataValue.json(
                dict(laionet_clean.group_by(signal.alias("signal")).len().sort("signal").iter_rows())
            ),
            "violating_rows": violating.height,
            "violations_by_value": dg.MetadataValue.json({str(k): int(v) for k, v in by_value.iter_rows()}),
            "first_violating_sample_ids": dg.MetadataValue.json(violating["sample_id"].head(10).to_list()),
        },
    )


@dg.asset_check(asset="laionet_clean", blocking=True, additional_ins={"imagenet_synsets": dg.AssetIn()})
def laionet_schema_and_ranges(
    laionet_clean: pl.LazyFrame, imagenet_synsets: pl.DataFrame
) -> dg.AssetCheckResult:
    """Great Expectations 1.x: expected columns, unique non-null sample_id, text_similarity in
    [-1, 1], wnid among the 1000 ILSVRC-2012 synsets."""
    result = validate_frame(
        laionet_clean, laionet_expectations(imagenet_synsets["wnid"].to_list()), "laionet_clean"
    )
    failed = [name for name, r in result["results"].items() if not r["success"]]
    return dg.AssetCheckResult(
        passed=result["success"],
        metadata={
            "failed_expectations": dg.MetadataValue.json(failed),
            "results": dg.MetadataValue.json(result["results"]),
        },
    )
