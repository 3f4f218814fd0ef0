"""Intra-class similarity: intra_class_stats → v2_comparison (paper §3.2, §4.1, Figs. 6 and 8)."""

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field, field_validator

from laionet_assets.core.analysis import stats
from laionet_assets.core.models.image_embeddings import load_vectors
from laionet_assets.core.report.figures import intra_class_figure, selection_frequency_figure
from laionet_assets.defs.images.assets import V2_SELECTION_FREQUENCY
from laionet_assets.defs.lib import figure, markdown_table
from laionet_assets.defs.partitions import RELEASE_LEVEL, of_release_parts
from laionet_assets.defs.similarity.embeddings import INTRA_CLASS_DATASETS, embedded_images
from laionet_assets.resources import LaionetStorage

GROUP = "laionet_similarity"
STATS_SCHEMA = {"dataset": pl.String, "interval": pl.String, **stats.CLASS_STATS_SCHEMA}


class IntraClassConfig(dg.Config):
    cap: int = Field(
        default=100,
        description="images per class, a seeded random sample where a class has more (paper: 100)",
    )
    seed: int = Field(default=0, description="seed of the per-class sample and of the pooled pair sampling")
    interval: str = Field(
        default="jackknife",
        description="'jackknife' (over images; default, correct) or 'pairs' (the paper's)",
    )

    _interval = field_validator("interval")(classmethod(lambda cls, v: stats.check_interval(v)))

    @field_validator("cap")
    @classmethod
    def _cap(cls, v: int) -> int:
        if v < 2:
            raise ValueError(f"cap must be at least 2 images per class, got {v}")
        return v


COMPARISON_SCHEMA = {"wnid": pl.String, "difference": pl.Float64, "verdict": pl.String}


@dg.multi_asset(
    group_name=GROUP,
    **RELEASE_LEVEL,
    ins={"image_embeddings": of_release_parts()},
    outs={
        "intra_class_stats": dg.AssetOut(
            kinds={"numpy", "matplotlib"},
            description=(
                "Per dataset and class: mean intra-class similarity with its 95% interval of both kinds"
            ),
        ),
        "intra_class_laionet_vs_imagenet": dg.AssetOut(
            kinds={"polars"},
            description=(
                "Per class, LAIONet minus ImageNet val intra-class similarity: difference, interval, verdict"
            ),
        ),
    },
)
def intra_class_stats(
    context: dg.AssetExecutionContext,
    config: IntraClassConfig,
    storage: LaionetStorage,
    image_embeddings: dict,
    reference_image_embeddings: pl.DataFrame,
):
    """Paper §3.2: per dataset and class, mean and sd of the distinct-pair cosine similarities of
    the class's (capped) images, with the 95% interval of both kinds (``interval`` column).  Per
    class LAIONet vs ImageNet val: difference, interval and verdict under the configured interval
    (``intra_class_laionet_vs_imagenet``) and paper Fig. 6."""
    cache = storage.embedding_cache("image")
    embedded = embedded_images(image_embeddings, reference_image_embeddings)
    frames, vectors = [], {}
    present = embedded["dataset"].unique(maintain_order=True).to_list()
    for dataset in [d for d in INTRA_CLASS_DATASETS if d in present]:
        x, labels = load_vectors(cache, embedded, dataset)
        vectors[dataset] = (x, labels)
        if x.shape[0] == 0:
            continue
        for interval in stats.INTERVALS:
            frames.append(
                stats.per_class_intra_similarity(x, labels, config.cap, config.seed, interval)
                .with_columns(dataset=pl.lit(dataset), interval=pl.lit(interval))
                .filter(pl.col("n") >= 2)
            )  # one image: no pairs
    out = pl.concat(frames).select(list(STATS_SCHEMA)) if frames else pl.DataFrame(schema=STATS_SCHEMA)
    meta = {"cap": config.cap, "seed": config.seed, "interval": config.interval}
    comparison = pl.DataFrame(schema=COMPARISON_SCHEMA)
    comparison_meta = {"interval": config.interval}
    if frames:
        meta["classes_per_dataset"] = dg.MetadataValue.json(
            dict(
                out.filter(pl.col("interval") == config.interval)
                .group_by("dataset")
                .agg(pl.len())
                .iter_rows()
            )
        )
        pick = lambda d, i: out.filter((pl.col("dataset") == d) & (pl.col("interval") == i))  # noqa: E731
        for interval in stats.INTERVALS:
            compared = stats.compare_classes(pick("laionet", interval), pick("imagenet_val", interval))
            meta[f"laionet_vs_imagenet_{interval}"] = dg.MetadataValue.json(
                stats.comparison_summary(compared)
            )
            if interval == config.interval:
                comparison = compared
                a, b = vectors.get("laionet"), vectors.get("imagenet_val")
                pooled = (
                    stats.pooled_pair_similarities(a[0], a[1], b[0], b[1], config.cap, config.seed)
                    if a is not None and b is not None and a[0].shape[0] and b[0].shape[0]
                    else (np.zeros(0), np.zeros(0))
                )
                fig = intra_class_figure(
                    *pooled,
                    comparison,
                    ("LAIONet", "ImageNet"),
                    storage.figure_path("intra_class", context.partition_key),
                )
                meta["fig6_intra_class"] = comparison_meta["fig6_intra_class"] = figure(fig)
                comparison_meta.update(
                    {
                        **stats.comparison_summary(comparison),
                        "pooled_mean_laionet": float(pooled[0].mean()) if pooled[0].size else None,
                        "pooled_mean_imagenet": float(pooled[1].mean()) if pooled[1].size else None,
                        "comparison": markdown_table(comparison.sort("difference"), 20),
                    }
                )
                meta["fraction_significantly_lower"] = comparison_meta["fraction_significantly_lower"]
    yield dg.Output(out, output_name="intra_class_stats", metadata=meta)
    yield dg.Output(comparison, output_name="intra_class_laionet_vs_imagenet", metadata=comparison_meta)


@dg.asset(group_name=GROUP, **RELEASE_LEVEL, kinds={"polars", "matplotlib"})
def v2_comparison(
    context: dg.AssetExecutionContext,
    config: IntraClassConfig,
    storage: LaionetStorage,
    intra_class_stats: pl.DataFrame,
    reference_image_embeddings: pl.DataFrame,
) -> pl.DataFrame:
    """Paper Fig. 8: (a) pooled intra-class similarities of ImageNetV2 b and c; (b, c) for
    ImageNetV2 b, a, c (MTurk selection frequency 0.73, 0.85, 0.93), the share of
    classes in which LAIONet (or ImageNet) has significantly lower intra-class similarity than the
    version, and vice versa."""
    rows = []
    if intra_class_stats.height:
        chosen = intra_class_stats.filter(pl.col("interval") == config.interval)
        for version, frequency in sorted(V2_SELECTION_FREQUENCY.items(), key=lambda kv: kv[1]):
            v2 = chosen.filter(pl.col("dataset") == version)
            if v2.is_empty():
                continue
            for other in ("laionet", "imagenet_val"):
                summary = stats.comparison_summary(
                    stats.compare_classes(chosen.filter(pl.col("dataset") == other), v2)
                )
                rows.append(
                    {
                        "version": version.removeprefix("imagenetv2_"),
                        "selection_frequency": frequency,
                        "other": other,
                        "classes": summary["classes"],
                        "other_lower": summary["fraction_significantly_lower"],
                        "v2_lower": summary["fraction_significantly_higher"],
                    }
                )
    schema = {
        "version": pl.String,
        "selection_frequency": pl.Float64,
        "other": pl.String,
        "classes": pl.Int64,
        "other_lower": pl.Float64,
        "v2_lower": pl.Float64,
    }
    table = pl.DataFrame(rows, schema=schema)
    cache = storage.embedding_cache("image")
    b, c = (
        load_vectors(cache, reference_image_embeddings, "imagenetv2_b"),
        load_vectors(cache, reference_image_embeddings, "imagenetv2_c"),
    )
    pooled = (
        stats.pooled_pair_similarities(b[0], b[1], c[0], c[1], config.cap, config.seed)
        if b[0].shape[0] and c[0].shape[0]
        else (np.zeros(0), np.zeros(0))
    )
    fig = selection_frequency_figure(
        table, storage.figure_path("selection_frequency", context.partition_key), pooled
    )
    context.add_output_metadata(
        {
            "interval": config.interval,
            "versions_compared": table["version"].n_unique(),
            "table": markdown_table(table),
            "fig8_selection_frequency": figure(fig),
        }
    )
    return table
