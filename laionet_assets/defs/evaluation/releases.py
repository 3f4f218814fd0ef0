"""The releases of a home compared: how LAIONet changes when built from another release (the
paper's closing question, LAION-5B against LAION-400M)."""

import dagster as dg
import polars as pl
from pydantic import Field, field_validator

from laionet_assets.core.analysis import releases as compare_releases
from laionet_assets.core.analysis import stats
from laionet_assets.core.report.figures import release_comparison_figure
from laionet_assets.defs.lib import figure, markdown_table
from laionet_assets.resources import LaionetStorage

GROUP = "laionet_evaluation"


class ReleaseComparisonConfig(dg.Config):
    baseline_release: str | None = Field(
        default=None,
        description="the release every other is compared with (default: every pair of releases, the "
        "later name against the earlier)",
    )
    interval: str = Field(
        default="jackknife", description="which of intra_class_stats' intervals the verdicts use"
    )

    _interval = field_validator("interval")(classmethod(lambda cls, v: stats.check_interval(v)))


def _side(storage: LaionetStorage, release: str, parts: list[str], inputs: dict, interval: str):
    """What ``release`` brings to a comparison, from its stored tables."""
    clean = inputs["laionet_clean"][release].select("wnid", "url", "text").collect()
    images = [inputs["laionet_images"][k] for k in parts if k in inputs["laionet_images"]]
    downloaded = (
        pl.concat([f.select("wnid", "image_sha256", "status") for f in images], how="diagonal_relaxed")
        .filter(pl.col("status") == "ok")
        .collect()
        if images
        else None
    )
    intra = inputs["intra_class_stats"].get(release)
    if intra is not None:
        intra = intra.filter((pl.col("dataset") == "laionet") & (pl.col("interval") == interval)).collect()
    embedded = storage.read_asset("image_embeddings", ["encoder"], partitions=parts)
    encoders = sorted(set(embedded["encoder"].drop_nulls())) if embedded is not None else []
    return compare_releases.ReleaseSide(
        laionet=clean,
        images=downloaded if downloaded is not None and downloaded.height else None,
        intra_class=intra if intra is not None and intra.height else None,
        encoder=", ".join(encoders) or None,
        accuracy=inputs["accuracy"].get(release),
    )


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "release_comparison": dg.AssetOut(
            description="Every pair of releases' LAIONets (or each against --baseline-release): sizes, "
            "overlaps, class-frequency correlation, intra-class similarity and accuracy differences",
            kinds={"polars", "matplotlib"},
        ),
        "release_comparison_by_class": dg.AssetOut(
            description="Per pair of releases and class: URLs in each and in both, and the intra-class "
            "similarity difference with its interval and verdict",
            kinds={"polars"},
        ),
    },
    ins={
        "laionet_clean": dg.AssetIn(),
        "laionet_images": dg.AssetIn(),
        "intra_class_stats": dg.AssetIn(),
        "accuracy": dg.AssetIn(),
    },
)
def release_comparison(
    context: dg.AssetExecutionContext,
    config: ReleaseComparisonConfig,
    storage: LaionetStorage,
    imagenet_synsets: pl.DataFrame,
    laionet_clean: dict[str, pl.LazyFrame],
    laionet_images: dict[str, pl.LazyFrame],
    intra_class_stats: dict[str, pl.LazyFrame],
    accuracy: dict[str, pl.DataFrame],
):
    """LAIONet built from one release against LAIONet built from another: rows and classes, the
    share of URLs, captions and downloaded images they share (overall and per class), Spearman's
    ρ of their class frequencies, per class their intra-class similarity difference (one image
    encoder for both) and per model their equal-weight top-1 and its drop from ImageNet.  Parts
    that cannot be computed for a pair are named in metadata with the reason; the text side always is."""
    registered = storage.registry.releases()
    built = sorted(r for r in laionet_clean if r in registered)
    inputs = {
        "laionet_clean": laionet_clean,
        "laionet_images": laionet_images,
        "intra_class_stats": intra_class_stats,
        "accuracy": accuracy,
    }
    try:
        pairs = compare_releases.pairs(built, config.baseline_release)
    except ValueError as exc:
        raise dg.Failure(str(exc)) from None
    sides = {
        r: _side(storage, r, registered[r], inputs, config.interval) for r in {x for p in pairs for x in p}
    }
    wnids = imagenet_synsets["wnid"].to_list()
    summaries, by_class, missing = [], [], {}
    for release, baseline in pairs:
        summary, classes, why = compare_releases.compare(
            (release, baseline), sides[release], sides[baseline], wnids
        )
        summaries.append(summary)
        by_class.append(classes)
        if why:
            missing[f"{release} vs {baseline}"] = why
            for part, reason in why.items():
                context.log.warning(f"{release} vs {baseline}: {part} not compared: {reason}")
    summary = pl.concat(summaries) if summaries else pl.DataFrame(schema=compare_releases.COMPARISON_SCHEMA)
    classes = pl.concat(by_class) if by_class else pl.DataFrame(schema=compare_releases.BY_CLASS_SCHEMA)
    fig = release_comparison_figure(summary, classes, storage.figure_path("release_comparison"))
    meta = {
        "releases": dg.MetadataValue.json(built),
        "pairs": dg.MetadataValue.json([f"{r} vs {b}" for r, b in pairs]),
        "baseline_release": config.baseline_release or "every pair",
        "not_computed": dg.MetadataValue.json(missing),
        "comparison": markdown_table(summary, 60),
        "fig_release_comparison": figure(fig),
    }
    if not pairs:
        context.log.info(f"one release in the home ({', '.join(built) or 'none built'}): nothing to compare")
    yield dg.Output(summary, output_name="release_comparison", metadata=meta)
    yield dg.Output(classes, output_name="release_comparison_by_class", metadata={"rows": classes.height})
