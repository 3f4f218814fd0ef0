"""Blocking asset checks on laionet_clean: class coverage, NSFW removal, schema and ranges (GX 1.x)."""

import dagster as dg
import polars as pl

from laionet_assets.core.expectations import laionet_expectations, validate_frame
from laionet_assets.core.laionet import nsfw_ok
from laionet_assets.resources import QualityGates


@dg.asset_check(asset="laionet_clean", blocking=True, additional_ins={"imagenet_synsets": dg.AssetIn()})
def laionet_class_coverage(
    laionet_clean: pl.DataFrame, imagenet_synsets: pl.DataFrame, quality_gates: QualityGates
) -> dg.AssetCheckResult:
    """LAIONet covers at least ``min_covered_classes`` ImageNet classes (paper: 915 of 1000)."""
    present = set(laionet_clean["wnid"].unique().to_list())
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
def laionet_nsfw_removed(laionet_clean: pl.DataFrame, quality_gates: QualityGates) -> dg.AssetCheckResult:
    """No row violates the required NSFW policy (``require_unlikely``: every row is ``UNLIKELY``)."""
    violating = laionet_clean.filter(~nsfw_ok(quality_gates.nsfw_policy_required))
    by_value = violating.group_by("nsfw").len().sort("nsfw", nulls_last=True)
    return dg.AssetCheckResult(
        passed=violating.height == 0,
        metadata={
            "policy": quality_gates.nsfw_policy_required,
            "violating_rows": violating.height,
            "violations_by_value": dg.MetadataValue.json({str(k): int(v) for k, v in by_value.iter_rows()}),
            "first_violating_sample_ids": dg.MetadataValue.json(violating["sample_id"].head(10).to_list()),
        },
    )


@dg.asset_check(asset="laionet_clean", blocking=True, additional_ins={"imagenet_synsets": dg.AssetIn()})
def laionet_schema_and_ranges(
    laionet_clean: pl.DataFrame, imagenet_synsets: pl.DataFrame
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


laionet_checks = [laionet_class_coverage, laionet_nsfw_removed, laionet_schema_and_ranges]
