"""Intra-class similarity: image_embeddings → intra_class_stats → v2_comparison (paper §3.2, §4.1),
and image-to-synset similarity (Appendix D)."""

import os
import time

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field, field_validator

from laionet_assets.assets.evaluation import evaluation_sets, folder_set
from laionet_assets.assets.images import V2_SELECTION_FREQUENCY
from laionet_assets.assets.lib import figure, markdown_table
from laionet_assets.core import image_synset, stats
from laionet_assets.core.figures import intra_class_figure, selection_frequency_figure
from laionet_assets.core.image_embeddings import embed_images, file_sha256, load_vectors
from laionet_assets.core.image_synset import synset_matrix
from laionet_assets.core.progress import Progress, library_versions
from laionet_assets.executors import GPU_STEP_TAGS
from laionet_assets.resources import ImageEncoder, LaionetStorage

GROUP = "laionet_similarity"
STATS_SCHEMA = {"dataset": pl.String, "interval": pl.String, **stats.CLASS_STATS_SCHEMA}
EMBEDDED_SCHEMA = {
    "dataset": pl.String,
    "image_id": pl.String,
    "wnid": pl.String,
    "image_sha256": pl.String,
    "encoder": pl.String,
    "error": pl.String,
}


# The datasets of paper §3.2 and §4.1 compared class by class; image_embeddings also embeds the
# text-matched LAION rows of §4.3 (dataset "text_matched"), compared in text_matched_intra_class.
INTRA_CLASS_DATASETS = ("laionet", "imagenet_val", "imagenetv2_a", "imagenetv2_b", "imagenetv2_c")


def text_matched_set(storage: LaionetStorage, text_matched_images: pl.DataFrame) -> pl.DataFrame:
    """The downloaded images of the text-matched LAION rows (paper §4.3)."""
    ok = text_matched_images.filter(pl.col("status") == "ok")
    return ok.select(
        image_id=pl.col("sample_id"),
        path=pl.lit(str(storage.images) + "/") + pl.col("image_path"),
        wnid=pl.col("wnid"),
        image_sha256=pl.col("image_sha256"),
    )


@dg.multi_asset(
    group_name=GROUP,
    pool="gpu",
    op_tags=GPU_STEP_TAGS,
    outs={
        "image_embeddings": dg.AssetOut(
            kinds={"pytorch", "lancedb"},
            description=(
                "Which image of which dataset has which CLIP embedding (LanceDB, keyed by the image's sha256)"
            ),
        ),
        "image_encoder_synset_embeddings": dg.AssetOut(
            kinds={"pytorch"},
            description=("The 1000 synset texts under the same CLIP model's text tower (paper Appendix D)"),
        ),
    },
)
def image_embeddings(
    context: dg.AssetExecutionContext,
    storage: LaionetStorage,
    image_encoder: ImageEncoder,
    laionet_final: pl.DataFrame,
    imagenet_val: pl.DataFrame,
    imagenet_synsets: pl.DataFrame,
    imagenetv2_a: pl.DataFrame,
    imagenetv2_b: pl.DataFrame,
    imagenetv2_c: pl.DataFrame,
    text_matched_images: pl.DataFrame,
):
    """CLIP image embeddings of every image the analyses compare (LAIONet, ImageNet val,
    ImageNetV2 a/b/c, the text-matched LAION rows of §4.3), stored in LanceDB (one table per
    encoder, keyed by the image's sha256, so no image is embedded twice), and the synset-text
    embeddings of the same model.  The image encoder is loaded here only: every comparison
    downstream reads these two tables, so lineage guarantees one encoder throughout."""
    model = image_encoder.load()
    cache = storage.embedding_cache("image")
    sets = evaluation_sets(storage, laionet_final, imagenet_val)
    sets.update(
        {
            name: folder_set(frame)
            for name, frame in (
                ("imagenetv2_a", imagenetv2_a),
                ("imagenetv2_b", imagenetv2_b),
                ("imagenetv2_c", imagenetv2_c),
            )
        }
    )
    sets["text_matched"] = text_matched_set(storage, text_matched_images)
    frames, counts = [], {}
    started = time.perf_counter()
    for dataset, images in sets.items():
        paths = images["path"].to_list()
        # downloaded images are named by their hash already; folder images are hashed here
        shas = [
            s or (file_sha256(p) if os.path.exists(p) else f"missing:{p}")
            for s, p in zip(images["image_sha256"].to_list(), paths)
        ]
        progress = Progress(len(paths), f"{dataset} image embeddings", context.log.info)
        _, errors, counts[dataset] = embed_images(
            model, paths, shas, cache, image_encoder.decode_workers, progress.update
        )
        frames.append(
            images.select("image_id", "wnid").with_columns(
                dataset=pl.lit(dataset),
                image_sha256=pl.Series(shas, dtype=pl.String),
                encoder=pl.lit(model.encoder_id),
                error=pl.Series([e or None for e in errors], dtype=pl.String),
            )
        )
    out = pl.concat(frames).select(list(EMBEDDED_SCHEMA))
    elapsed = time.perf_counter() - started
    embedded = sum(c["embedded"] for c in counts.values())
    synset_vectors = model.encode_texts(imagenet_synsets["synset_text"].to_list())
    synsets = imagenet_synsets.select("wnid").with_columns(
        encoder=pl.lit(model.encoder_id),
        embedding=pl.Series(synset_vectors, dtype=pl.Array(pl.Float32, model.dim)),
    )
    common = {"encoder": model.encoder_id, "encoder_version": model.version}
    yield dg.Output(
        out,
        output_name="image_embeddings",
        metadata={
            **common,
            "device": model.device,
            "per_dataset": dg.MetadataValue.json(counts),
            "lancedb_table": f"image_embeddings__{model.encoder_id}",
            "seconds": round(elapsed, 2),
            "images_per_second": round(embedded / max(elapsed, 1e-9), 1),
            "versions": dg.MetadataValue.json(library_versions("torch", "open_clip_torch", "lancedb")),
        },
    )
    yield dg.Output(
        synsets, output_name="image_encoder_synset_embeddings", metadata={**common, "dim": model.dim}
    )


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

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: str) -> str:
        if v not in stats.INTERVALS:
            raise ValueError(f"unknown interval {v!r}; expected one of {stats.INTERVALS}")
        return v

    @field_validator("cap")
    @classmethod
    def _cap(cls, v: int) -> int:
        if v < 2:
            raise ValueError(f"cap must be at least 2 images per class, got {v}")
        return v


COMPARISON_SCHEMA = {"wnid": pl.String, "difference": pl.Float64, "verdict": pl.String}


@dg.multi_asset(
    group_name=GROUP,
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
    image_embeddings: pl.DataFrame,
):
    """Paper §3.2: per dataset and class, mean and sd of the distinct-pair cosine similarities of
    the class's (capped) images, with the 95% interval of both kinds (``interval`` column).  Per
    class LAIONet vs ImageNet val: difference, interval and verdict under the configured interval
    (``intra_class_laionet_vs_imagenet``) and paper Fig. 6."""
    cache = storage.embedding_cache("image")
    frames, vectors = [], {}
    present = image_embeddings["dataset"].unique(maintain_order=True).to_list()
    for dataset in [d for d in INTRA_CLASS_DATASETS if d in present]:
        x, labels = load_vectors(cache, image_embeddings, dataset)
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
                    *pooled, comparison, ("LAIONet", "ImageNet"), storage.report_path("fig6_intra_class.png")
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


@dg.asset(group_name=GROUP, kinds={"polars", "matplotlib"})
def v2_comparison(
    context: dg.AssetExecutionContext,
    config: IntraClassConfig,
    storage: LaionetStorage,
    intra_class_stats: pl.DataFrame,
    image_embeddings: pl.DataFrame,
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
        load_vectors(cache, image_embeddings, "imagenetv2_b"),
        load_vectors(cache, image_embeddings, "imagenetv2_c"),
    )
    pooled = (
        stats.pooled_pair_similarities(b[0], b[1], c[0], c[1], config.cap, config.seed)
        if b[0].shape[0] and c[0].shape[0]
        else (np.zeros(0), np.zeros(0))
    )
    fig = selection_frequency_figure(table, storage.report_path("fig8_selection_frequency.png"), pooled)
    context.add_output_metadata(
        {
            "interval": config.interval,
            "versions_compared": table["version"].n_unique(),
            "table": markdown_table(table),
            "fig8_selection_frequency": figure(fig),
        }
    )
    return table


class ImageSynsetConfig(dg.Config):
    seed: int = Field(default=0, description="seed of the per-class resampling of LAIONet in Fig. 17(a)")


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "image_synset_similarity": dg.AssetOut(
            kinds={"numpy", "matplotlib"},
            description=(
                "Per class, LAIONet's and ImageNet's mean image-to-synset "
                "similarity and their difference (Appendix D)"
            ),
        ),
        "image_synset_similarity_images": dg.AssetOut(
            kinds={"polars"},
            description=("Per image of LAIONet and ImageNet val: its similarity to its synset text"),
        ),
    },
)
def image_synset_similarity(
    context: dg.AssetExecutionContext,
    config: ImageSynsetConfig,
    storage: LaionetStorage,
    image_embeddings: pl.DataFrame,
    image_encoder_synset_embeddings: pl.DataFrame,
):
    """Paper Appendix D: per class, the mean CLIP similarity of LAIONet's and ImageNet val's images
    to their synset text (the image encoder's own text tower, from ``image_embeddings``), LAIONet
    minus ImageNet with its 95% interval and verdict, and Fig. 17; per-image values in
    ``image_synset_similarity_images``."""
    cache = storage.embedding_cache("image")
    synsets, wnids = synset_matrix(image_encoder_synset_embeddings)
    encoder = (
        image_encoder_synset_embeddings["encoder"][0] if image_encoder_synset_embeddings.height else None
    )
    values, per_class, images = {}, {}, []
    for dataset in ("laionet", "imagenet_val"):
        x, labels = load_vectors(cache, image_embeddings, dataset)
        values[dataset] = (image_synset.image_synset_similarity(x, labels, synsets, wnids), labels)
        per_class[dataset] = image_synset.per_class_means(*values[dataset])
        images.append(
            pl.DataFrame(
                {
                    "dataset": dataset,
                    "wnid": pl.Series(labels, dtype=pl.String),
                    "similarity": pl.Series(values[dataset][0], dtype=pl.Float64),
                }
            )
        )
    comparison = stats.compare_classes(per_class["laionet"], per_class["imagenet_val"])
    out = (
        comparison.join(per_class["laionet"].select("wnid", "n", "mean"), on="wnid")
        .join(per_class["imagenet_val"].select("wnid", imagenet_n="n", imagenet_mean="mean"), on="wnid")
        .select(
            "wnid",
            laionet_n="n",
            laionet_mean="mean",
            imagenet_n="imagenet_n",
            imagenet_mean="imagenet_mean",
            difference="difference",
            se="se",
            ci_low="ci_low",
            ci_high="ci_high",
            verdict="verdict",
        )
    )
    groups = {
        d: {w: v[i] for w, i in stats.capped_class_indices(lab, None).items()}
        for d, (v, lab) in values.items()
    }
    pooled = stats.matched_resample(groups["laionet"], groups["imagenet_val"], config.seed)
    fig = intra_class_figure(
        *pooled,
        out,
        ("LAIONet", "ImageNet"),
        storage.report_path("fig17_image_to_synset.png"),
        quantity="image-to-synset similarity",
        unit="images",
        title=f"Image-to-synset similarity ({encoder})",
    )
    yield dg.Output(
        out,
        output_name="image_synset_similarity",
        metadata={
            "encoder": encoder,
            **stats.comparison_summary(out),
            "pooled_mean_laionet": float(pooled[0].mean()) if pooled[0].size else None,
            "pooled_mean_imagenet": float(pooled[1].mean()) if pooled[1].size else None,
            "fig17_image_to_synset": figure(fig),
            "comparison": markdown_table(out.sort("difference"), 20),
        },
    )
    yield dg.Output(
        pl.concat(images), output_name="image_synset_similarity_images", metadata={"encoder": encoder}
    )
