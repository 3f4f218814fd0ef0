"""Intra-class similarity: image_embeddings → intra_class_stats → v2_comparison (paper §3.2, §4.1)."""

import os
import time

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field, field_validator

from laionet_assets.assets.creation import _table
from laionet_assets.assets.evaluation import evaluation_sets, folder_set
from laionet_assets.assets.images import V2_SELECTION_FREQUENCY
from laionet_assets.core import image_synset, stats
from laionet_assets.core.figures import intra_class_figure, selection_frequency_figure
from laionet_assets.core.image_embeddings import embed_images, file_sha256
from laionet_assets.core.progress import Progress, library_versions
from laionet_assets.executors import GPU_STEP_TAGS
from laionet_assets.core.atomic import write_parquet_atomic
from laionet_assets.resources import ImageEncoder, LaionetStorage

GROUP = "laionet_similarity"
STATS_SCHEMA = {"dataset": pl.String, "interval": pl.String, "wnid": pl.String, "n": pl.Int64, "pairs": pl.Int64,
                "mean": pl.Float64, "sd": pl.Float64, "se": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64}
EMBEDDED_SCHEMA = {"dataset": pl.String, "image_id": pl.String, "wnid": pl.String, "image_sha256": pl.String,
                   "encoder": pl.String, "error": pl.String}


@dg.asset(group_name=GROUP, pool="gpu", op_tags=GPU_STEP_TAGS, kinds={"pytorch", "lancedb"})
def image_embeddings(context: dg.AssetExecutionContext, storage: LaionetStorage, image_encoder: ImageEncoder,
                     laionet_final: pl.DataFrame, imagenet_val: pl.DataFrame, imagenetv2_a: pl.DataFrame,
                     imagenetv2_b: pl.DataFrame, imagenetv2_c: pl.DataFrame) -> pl.DataFrame:
    """CLIP image embeddings of every dataset's images, stored in LanceDB (one table per encoder,
    keyed by the image's sha256, so no image is embedded twice); this table says which image of
    which dataset has which key."""
    model = image_encoder.load()
    cache = storage.embedding_cache("image")
    sets = evaluation_sets(storage, laionet_final, imagenet_val)
    sets.update({name: folder_set(frame) for name, frame in
                 (("imagenetv2_a", imagenetv2_a), ("imagenetv2_b", imagenetv2_b), ("imagenetv2_c", imagenetv2_c))})
    frames, counts = [], {}
    started = time.perf_counter()
    for dataset, images in sets.items():
        paths = images["path"].to_list()
        # downloaded images are named by their hash already; folder images are hashed here
        shas = [s or (file_sha256(p) if os.path.exists(p) else f"missing:{p}")
                for s, p in zip(images["image_sha256"].to_list(), paths)]
        progress = Progress(len(paths), f"{dataset} image embeddings", context.log.info)
        _, errors, counts[dataset] = embed_images(model, paths, shas, cache, image_encoder.decode_workers, progress.update)
        frames.append(images.select("image_id", "wnid").with_columns(
            dataset=pl.lit(dataset), image_sha256=pl.Series(shas, dtype=pl.String), encoder=pl.lit(model.encoder_id),
            error=pl.Series([e or None for e in errors], dtype=pl.String)))
    out = pl.concat(frames).select(list(EMBEDDED_SCHEMA))
    elapsed = time.perf_counter() - started
    embedded = sum(c["embedded"] for c in counts.values())
    context.add_output_metadata({
        "encoder": model.encoder_id, "encoder_version": model.version, "device": model.device,
        "per_dataset": dg.MetadataValue.json(counts),
        "lancedb_table": f"image_embeddings__{model.encoder_id}",
        "seconds": round(elapsed, 2), "images_per_second": round(embedded / max(elapsed, 1e-9), 1),
        "versions": dg.MetadataValue.json(library_versions("torch", "open_clip_torch", "lancedb")),
    })
    return out


class IntraClassConfig(dg.Config):
    cap: int = Field(default=100, description="images per class, a seeded random sample where a class has more (paper: 100)")
    seed: int = Field(default=0, description="seed of the per-class sample and of the pooled pair sampling")
    interval: str = Field(default="jackknife", description="'jackknife' (over images; default, correct) or 'pairs' (the paper's)")

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


def load_vectors(storage: LaionetStorage, embedded: pl.DataFrame, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Unit embeddings and wnids of one dataset's images that embedded."""
    rows = embedded.filter((pl.col("dataset") == dataset) & pl.col("error").is_null())
    if rows.is_empty():
        return np.zeros((0, 1)), np.zeros(0, dtype=object)
    encoder = rows["encoder"][0]
    found = storage.embedding_cache("image").lookup(encoder, rows["image_sha256"].to_list())
    keep = [i for i, s in enumerate(rows["image_sha256"]) if s in found]
    vectors = np.stack([found[rows["image_sha256"][i]] for i in keep]) if keep else np.zeros((0, 1))
    return vectors, rows["wnid"].to_numpy()[keep]


def check_same_encoder(embedded: pl.DataFrame, encoder_id: str) -> None:
    """Vectors of two image encoders are not comparable: refuse to mix them."""
    encoders = embedded["encoder"].unique().to_list()
    if encoders and encoders != [encoder_id]:
        raise ValueError(f"image_embeddings was computed with {encoders}, the image encoder is {encoder_id}: "
                         "re-materialise image_embeddings with this encoder")


def comparison_summary(comparison: pl.DataFrame) -> dict:
    n = comparison.height
    lower = int((comparison["verdict"] == "significantly lower").sum())
    higher = int((comparison["verdict"] == "significantly higher").sum())
    return {"classes": n, "significantly_lower": lower, "significantly_higher": higher,
            "fraction_significantly_lower": lower / n if n else float("nan"),
            "fraction_significantly_higher": higher / n if n else float("nan")}


@dg.asset(group_name=GROUP, kinds={"numpy", "matplotlib"})
def intra_class_stats(context: dg.AssetExecutionContext, config: IntraClassConfig, storage: LaionetStorage,
                      image_embeddings: pl.DataFrame) -> pl.DataFrame:
    """Per dataset and class: mean and sd of the distinct-pair cosine similarities of the class's
    (capped) images, with the 95% interval of both kinds (``interval`` column).  Per class LAIONet
    vs ImageNet val: difference, interval and verdict under the configured interval
    (``reports/intra_class_laionet_vs_imagenet.parquet``) and paper Fig. 6."""
    frames, vectors = [], {}
    for dataset in image_embeddings["dataset"].unique(maintain_order=True).to_list():
        x, labels = load_vectors(storage, image_embeddings, dataset)
        vectors[dataset] = (x, labels)
        if x.shape[0] == 0:
            continue
        for interval in stats.INTERVALS:
            frames.append(stats.per_class_intra_similarity(x, labels, config.cap, config.seed, interval).with_columns(
                dataset=pl.lit(dataset), interval=pl.lit(interval)).filter(pl.col("n") >= 2))  # one image: no pairs
    columns = ["dataset", "interval", "wnid", "n", "pairs", "mean", "sd", "se", "ci_low", "ci_high"]
    out = pl.concat(frames).select(columns) if frames else pl.DataFrame(schema=STATS_SCHEMA)
    meta = {"cap": config.cap, "seed": config.seed, "interval": config.interval}
    if frames:
        meta["classes_per_dataset"] = dg.MetadataValue.json(
            dict(out.filter(pl.col("interval") == config.interval).group_by("dataset").agg(pl.len()).iter_rows()))
        pick = lambda d, i: out.filter((pl.col("dataset") == d) & (pl.col("interval") == i))  # noqa: E731
        for interval in stats.INTERVALS:
            comparison = stats.compare_classes(pick("laionet", interval), pick("imagenet_val", interval))
            meta[f"laionet_vs_imagenet_{interval}"] = dg.MetadataValue.json(comparison_summary(comparison))
            if interval == config.interval:
                path = storage.reports / "intra_class_laionet_vs_imagenet.parquet"
                write_parquet_atomic(comparison, path)
                a, b = vectors.get("laionet"), vectors.get("imagenet_val")
                pooled = (stats.pooled_pair_similarities(a[0], a[1], b[0], b[1], config.cap, config.seed)
                          if a is not None and b is not None and a[0].shape[0] and b[0].shape[0] else (np.zeros(0), np.zeros(0)))
                fig = intra_class_figure(*pooled, comparison, ("LAIONet", "ImageNet"), storage.reports / "fig6_intra_class.png")
                meta.update({"fig6_intra_class": dg.MetadataValue.path(str(fig)),
                             "fraction_significantly_lower": comparison_summary(comparison)["fraction_significantly_lower"],
                             "pooled_mean_laionet": float(pooled[0].mean()) if pooled[0].size else None,
                             "pooled_mean_imagenet": float(pooled[1].mean()) if pooled[1].size else None,
                             "comparison": _table(comparison.sort("difference"), 20)})
    context.add_output_metadata(meta)
    return out


@dg.asset(group_name=GROUP, kinds={"polars", "matplotlib"})
def v2_comparison(context: dg.AssetExecutionContext, config: IntraClassConfig, storage: LaionetStorage,
                  intra_class_stats: pl.DataFrame, image_embeddings: pl.DataFrame) -> pl.DataFrame:
    """Paper Fig. 8: (a) pooled intra-class similarities of ImageNetV2 b and c; (b, c) for ImageNetV2 b, a, c (MTurk selection frequency 0.73, 0.85, 0.93), the share of
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
                summary = comparison_summary(stats.compare_classes(chosen.filter(pl.col("dataset") == other), v2))
                rows.append({"version": version.removeprefix("imagenetv2_"), "selection_frequency": frequency, "other": other,
                             "classes": summary["classes"], "other_lower": summary["fraction_significantly_lower"],
                             "v2_lower": summary["fraction_significantly_higher"]})
    schema = {"version": pl.String, "selection_frequency": pl.Float64, "other": pl.String, "classes": pl.Int64,
              "other_lower": pl.Float64, "v2_lower": pl.Float64}
    table = pl.DataFrame(rows, schema=schema)
    b, c = load_vectors(storage, image_embeddings, "imagenetv2_b"), load_vectors(storage, image_embeddings, "imagenetv2_c")
    pooled = (stats.pooled_pair_similarities(b[0], b[1], c[0], c[1], config.cap, config.seed)
              if b[0].shape[0] and c[0].shape[0] else (np.zeros(0), np.zeros(0)))
    fig = selection_frequency_figure(table, storage.reports / "fig8_selection_frequency.png", pooled)
    context.add_output_metadata({"interval": config.interval, "versions_compared": table["version"].n_unique(),
                                 "table": _table(table), "fig8_selection_frequency": dg.MetadataValue.path(str(fig))})
    return table


class ImageSynsetConfig(dg.Config):
    seed: int = Field(default=0, description="seed of the per-class resampling of LAIONet in Fig. 17(a)")


@dg.asset(group_name=GROUP, pool="gpu", op_tags=GPU_STEP_TAGS, kinds={"pytorch", "matplotlib"})
def image_synset_similarity(context: dg.AssetExecutionContext, config: ImageSynsetConfig, storage: LaionetStorage,
                            image_encoder: ImageEncoder, image_embeddings: pl.DataFrame,
                            imagenet_synsets: pl.DataFrame) -> pl.DataFrame:
    """Paper Appendix D: per class, the mean CLIP similarity of LAIONet's and ImageNet val's images
    to their synset text (the image encoder's own text tower), LAIONet minus ImageNet with its 95%
    interval and verdict, and Fig. 17 (``reports/fig17_image_to_synset.png``).  Per-image values:
    ``reports/image_synset_similarity_images.parquet``."""
    model = image_encoder.load()
    check_same_encoder(image_embeddings, model.encoder_id)
    wnids = imagenet_synsets["wnid"].to_list()
    synsets = model.encode_texts(imagenet_synsets["synset_text"].to_list()).float().cpu().numpy()
    values, per_class, images = {}, {}, []
    for dataset in ("laionet", "imagenet_val"):
        x, labels = load_vectors(storage, image_embeddings, dataset)
        values[dataset] = (image_synset.image_synset_similarity(x, labels, synsets, wnids), labels)
        per_class[dataset] = image_synset.per_class_means(*values[dataset])
        images.append(pl.DataFrame({"dataset": dataset, "wnid": pl.Series(labels, dtype=pl.String),
                                    "similarity": values[dataset][0]}))
    write_parquet_atomic(pl.concat(images), storage.reports / "image_synset_similarity_images.parquet")
    comparison = stats.compare_classes(per_class["laionet"], per_class["imagenet_val"])
    out = comparison.join(per_class["laionet"].select("wnid", "n", "mean"), on="wnid").join(
        per_class["imagenet_val"].select("wnid", imagenet_n="n", imagenet_mean="mean"), on="wnid").select(
        "wnid", laionet_n="n", laionet_mean="mean", imagenet_n="imagenet_n", imagenet_mean="imagenet_mean",
        difference="difference", se="se", ci_low="ci_low", ci_high="ci_high", verdict="verdict")
    groups = {d: {w: v[i] for w, i in stats.capped_class_indices(lab, None).items()} for d, (v, lab) in values.items()}
    pooled = stats.matched_resample(groups["laionet"], groups["imagenet_val"], config.seed)
    fig = intra_class_figure(*pooled, out, ("LAIONet", "ImageNet"), storage.reports / "fig17_image_to_synset.png",
                             quantity="image-to-synset similarity", unit="images",
                             title=f"Image-to-synset similarity ({model.encoder_id})")
    context.add_output_metadata({
        "encoder": model.encoder_id, **comparison_summary(out),
        "pooled_mean_laionet": float(pooled[0].mean()) if pooled[0].size else None,
        "pooled_mean_imagenet": float(pooled[1].mean()) if pooled[1].size else None,
        "fig17_image_to_synset": dg.MetadataValue.path(str(fig)), "comparison": _table(out.sort("difference"), 20),
    })
    return out
