"""Intra-class similarity: image_embeddings → intra_class_stats → v2_comparison (paper §3.2, §4.1),
and image-to-synset similarity (Appendix D)."""

import os
import time

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field, field_validator

from laionet_assets.assets.evaluation import downloaded_path, downloaded_set, folder_set
from laionet_assets.assets.images import IMAGE_PARTS, V2_SELECTION_FREQUENCY
from laionet_assets.assets.lib import all_parts, figure, markdown_table, part_rows, parts_output, run_parts
from laionet_assets.core.analysis import image_synset, stats
from laionet_assets.core.analysis.image_synset import synset_matrix
from laionet_assets.core.io.progress import Progress, library_versions
from laionet_assets.core.io.storage import read_parquet
from laionet_assets.core.models.image_embeddings import embed_images, file_sha256, load_vectors
from laionet_assets.core.models.runner import chosen_decoder
from laionet_assets.core.releases import shipped
from laionet_assets.core.report.figures import intra_class_figure, selection_frequency_figure
from laionet_assets.executors import GPU_STEP_TAGS
from laionet_assets.resources import ImageEncoder, LaionetStorage

GROUP = "laionet_similarity"
STATS_SCHEMA = {"dataset": pl.String, "interval": pl.String, **stats.CLASS_STATS_SCHEMA}
EMBEDDED_SCHEMA = {
    "dataset": pl.String,
    "image_id": pl.String,
    "wnid": pl.String,
    # the vector's key in LanceDB: the image file's sha256, or release:<file digest>:<row> for a
    # vector a release shipped
    "vector_key": pl.String,
    "encoder": pl.String,
    "source": pl.String,  # encode, or release: <model> (shipped with the part)
    "error": pl.String,
}


# The datasets of paper §3.2 and §4.1 compared class by class; image_embeddings also embeds the
# text-matched LAION rows of §4.3 (dataset "text_matched"), compared in text_matched_intra_class.
INTRA_CLASS_DATASETS = ("laionet", "imagenet_val", "imagenetv2_a", "imagenetv2_b", "imagenetv2_c")


def text_matched_set(storage: LaionetStorage, text_matched_images: pl.DataFrame) -> pl.DataFrame:
    """The downloaded images of the text-matched LAION rows (paper §4.3)."""
    return downloaded_set(storage, text_matched_images.filter(pl.col("status") == "ok"))


def _laionet_rows(
    storage: LaionetStorage, laionet_clean: pl.DataFrame, part: str
) -> tuple[pl.DataFrame, str]:
    """One part's LAIONet rows for the image side: ``laionet_final`` (downloaded, OCR-filtered, as
    the paper evaluated it) when it has been materialised, else ``laionet_clean`` (no image
    downloaded: only shipped vectors can serve them, and the OCR filter cannot apply)."""
    final = storage.asset_path("laionet_final", part)
    if final.exists():
        return read_parquet(final), "laionet_final (downloaded images, OCR filter applied)"
    return part_rows(laionet_clean, part).with_columns(
        image_path=pl.lit(None, pl.String), image_sha256=pl.lit(None, pl.String)
    ), ("laionet_clean (no image downloaded: no OCR filter)")


def _shipped_laionet(
    model, cache, laionet: pl.DataFrame, handles: dict[str, dict], storage: LaionetStorage, why: str
) -> tuple[pl.DataFrame, dict, dict]:
    """LAIONet's rows with the image vectors their parts ship (cached under ``vector_key``), the
    counts, and the parity check: a seeded sample of the rows whose image was downloaded, encoded
    now and compared with the shipped vectors (median cosine, since a URL may serve other bytes
    today than when the release was embedded); skipped, with why, when none was downloaded."""
    kept, vectors, dropped = shipped.read_frame_rows(laionet, handles)
    if vectors.shape[0] and vectors.shape[1] != model.dim:
        raise dg.Failure(
            f"shipped image vectors are {vectors.shape[1]}-d, the configured image encoder "
            f"{model.encoder_id} gives {model.dim}-d: not the same model"
        )
    inserted = cache.add(model.encoder_id, kept["vector_key"].to_list(), vectors) if kept.height else 0
    downloaded = kept.filter(pl.col("image_sha256").is_not_null())
    check: dict = {"skipped": "no LAIONet image downloaded (laionet_final not materialised)"}
    if downloaded.height:
        sample = shipped.parity_sample(downloaded.height)
        rows = downloaded[sample]
        encoded, errors = model.run(rows.select(downloaded_path(storage)).to_series().to_list(), workers=0)
        ok = np.array([not e for e in errors])
        index = {k: i for i, k in enumerate(kept["vector_key"].to_list())}
        ours = vectors[[index[k] for k in rows["vector_key"].to_list()]]
        check = shipped.parity(ours[ok], encoded[ok], IMAGE_PARITY_MIN_MEDIAN, statistic="median")
        if not check["passed"]:
            raise dg.Failure(
                f"parity check failed: the shipped image vectors are not the configured encoder's "
                f"({model.encoder_id}): {check}",
                metadata={"parity_check": dg.MetadataValue.json(check)},
            )
    frame = kept.select(
        image_id=pl.col("sample_id"),
        wnid=pl.col("wnid"),
        dataset=pl.lit("laionet"),
        vector_key=pl.col("vector_key"),
        encoder=pl.lit(model.encoder_id),
        source=pl.lit(why),
        error=pl.lit(None, pl.String),
    )
    counts = {
        "images": laionet.height,
        "from_release": kept.height,
        "embedded": 0,
        "dropped_unusable_vector": dropped,
        "inserted": inserted,
        "parity_encoded": int(check.get("rows", 0)),
    }
    return frame, counts, check


# Images are compared by the median cosine: LAION embedded its own resized downloads, and a URL may
# serve other bytes today; another model is far below (see the README's embedding sources).
IMAGE_PARITY_MIN_MEDIAN = 0.95


def _embed(context, model, cache, label: str, dataset: str, images: pl.DataFrame, workers: int, source: str):
    """``EMBEDDED_SCHEMA`` rows of one set of images (encoded, or found in the cache) and counts."""
    paths = images["path"].to_list()
    # downloaded images are named by their hash already; folder images are hashed here
    shas = [
        s or (file_sha256(p) if os.path.exists(p) else f"missing:{p}")
        for s, p in zip(images["image_sha256"].to_list(), paths)
    ]
    progress = Progress(len(paths), f"{label} image embeddings", context.log.info)
    _, errors, counts = embed_images(model, paths, shas, cache, workers, progress.update)
    frame = images.select("image_id", "wnid").with_columns(
        dataset=pl.lit(dataset),
        vector_key=pl.Series(shas, dtype=pl.String),
        encoder=pl.lit(model.encoder_id),
        source=pl.lit(source),
        error=pl.Series([e or None for e in errors], dtype=pl.String),
    )
    return frame.select(list(EMBEDDED_SCHEMA)), counts


def _embedding_metadata(model, counts: dict, sources: dict, seconds: float) -> dict:
    embedded = sum(c["embedded"] for c in counts.values())
    return {
        "encoder": model.encoder_id,
        "encoder_version": model.version,
        "device": model.device,
        "decoder": chosen_decoder(model),
        "precision": model.precision,
        "image_source": dg.MetadataValue.json(sources),
        "per_set": dg.MetadataValue.json(counts),
        "lancedb_table": f"image_embeddings__{model.encoder_id}",
        "seconds": round(seconds, 2),
        "images_per_second": round(embedded / max(seconds, 1e-9), 1),
        "versions": dg.MetadataValue.json(library_versions("torch", "open_clip_torch", "lancedb")),
    }


@dg.asset(
    group_name=GROUP,
    pool="gpu",
    op_tags=GPU_STEP_TAGS,
    # laionet_final is read only when it was materialised (see _laionet_rows): with shipped image
    # vectors, intra-class similarity needs no download at all
    deps=["laionet_final"],
    kinds={"pytorch", "lancedb"},
    **IMAGE_PARTS,
)
def image_embeddings(
    context: dg.AssetExecutionContext,
    storage: LaionetStorage,
    image_encoder: ImageEncoder,
    laionet_clean: pl.DataFrame,
):
    """Which LAIONet image of a LAION part has which CLIP embedding, and from which source: its
    downloaded image (LanceDB, keyed by the image's sha256, so no image is embedded twice), or,
    with ``--image-embeddings release`` (or ``auto`` where every part of LAIONet ships them), the
    vector its release ships (keyed by the shipped file's row), checked by parity."""
    model = image_encoder.load()
    cache = storage.embedding_cache("image")
    registered = storage.registry.load()
    try:  # one decision for LAIONet as a whole, whichever parts this run covers
        handles, why = shipped.choose_for_parts(
            image_encoder.embeddings,
            {p: registered.get(p) for p in laionet_clean["release_part"].unique().sort().to_list()},
            "image",
            image_encoder.release_tag(),
        )
    except shipped.ShippedEmbeddingError as exc:
        raise dg.Failure(str(exc)) from None
    outputs, counts, sources, parity, rows_from = {}, {}, {}, {}, {}
    started = time.perf_counter()
    for part in run_parts(context):
        laionet, rows_from[part] = _laionet_rows(storage, laionet_clean, part)
        if handles is not None:
            outputs[part], counts[part], parity[part] = _shipped_laionet(
                model, cache, laionet, {part: handles[part]} if part in handles else {}, storage, why
            )
            sources[part] = why
            continue
        if rows_from[part].startswith("laionet_clean") and laionet.height:
            raise dg.Failure(
                f"LAIONet's image vectors of {part} are to be encoded ({why}), but no image was downloaded: "
                "materialise laionet_final first, or use --image-embeddings release with a release that "
                "ships the configured model's image vectors"
            )
        sources[part] = f"encode ({why})"
        outputs[part], counts[part] = _embed(
            context,
            model,
            cache,
            part,
            "laionet",
            downloaded_set(storage, laionet),
            image_encoder.decode_workers,
            sources[part],
        )
    context.add_output_metadata(
        {
            **_embedding_metadata(model, counts, sources, time.perf_counter() - started),
            "laionet_rows_from": dg.MetadataValue.json(rows_from),
            "parity_check": dg.MetadataValue.json(parity or {"skipped": "LAIONet's images were encoded"}),
            "parts_in_run": len(outputs),
        }
    )
    return parts_output(context, outputs)


@dg.multi_asset(
    group_name=GROUP,
    pool="gpu",
    op_tags=GPU_STEP_TAGS,
    outs={
        "reference_image_embeddings": dg.AssetOut(
            kinds={"pytorch", "lancedb"},
            description=(
                "Which image of ImageNet val, ImageNetV2 a/b/c and the text-matched LAION rows has which "
                "CLIP embedding (LanceDB, keyed by the image's sha256)"
            ),
        ),
        "image_encoder_synset_embeddings": dg.AssetOut(
            kinds={"pytorch"},
            description=("The 1000 synset texts under the same CLIP model's text tower (paper Appendix D)"),
        ),
    },
)
def reference_image_embeddings(
    context: dg.AssetExecutionContext,
    storage: LaionetStorage,
    image_encoder: ImageEncoder,
    imagenet_val: pl.DataFrame,
    imagenet_synsets: pl.DataFrame,
    imagenetv2_a: pl.DataFrame,
    imagenetv2_b: pl.DataFrame,
    imagenetv2_c: pl.DataFrame,
    text_matched_images: pl.DataFrame,
):
    """CLIP image embeddings of the images LAIONet is compared with (ImageNet val, ImageNetV2
    a/b/c, the text-matched LAION rows of §4.3), stored in LanceDB beside LAIONet's, and the
    synset-text embeddings of the same model.  Every comparison downstream reads these tables and
    ``image_embeddings`` and refuses a mix of encoders, so lineage guarantees one encoder."""
    model = image_encoder.load()
    cache = storage.embedding_cache("image")
    sets = {
        "imagenet_val": folder_set(imagenet_val),
        "imagenetv2_a": folder_set(imagenetv2_a),
        "imagenetv2_b": folder_set(imagenetv2_b),
        "imagenetv2_c": folder_set(imagenetv2_c),
        "text_matched": text_matched_set(storage, text_matched_images),
    }
    frames, counts = [], {}
    started = time.perf_counter()
    for dataset, images in sets.items():
        frame, counts[dataset] = _embed(
            context, model, cache, dataset, dataset, images, image_encoder.decode_workers, "encode"
        )
        frames.append(frame)
    metadata = _embedding_metadata(
        model, counts, dict.fromkeys(sets, "encode"), time.perf_counter() - started
    )
    yield dg.Output(pl.concat(frames), output_name="reference_image_embeddings", metadata=metadata)
    synset_vectors = model.encode_texts(imagenet_synsets["synset_text"].to_list())
    synsets = imagenet_synsets.select("wnid").with_columns(
        encoder=pl.lit(model.encoder_id),
        embedding=pl.Series(synset_vectors, dtype=pl.Array(pl.Float32, model.dim)),
    )
    yield dg.Output(
        synsets,
        output_name="image_encoder_synset_embeddings",
        metadata={"encoder": model.encoder_id, "encoder_version": model.version, "dim": model.dim},
    )


def embedded_images(image_embeddings, reference_image_embeddings: pl.DataFrame) -> pl.DataFrame:
    """LAIONet's embedded images (every part) and the reference datasets', as one table; vectors
    of two encoders (parts embedded before and after the encoder changed) are an error."""
    table = pl.concat(
        [all_parts(image_embeddings, EMBEDDED_SCHEMA), reference_image_embeddings], how="diagonal_relaxed"
    ).select(list(EMBEDDED_SCHEMA))
    encoders = table["encoder"].unique().sort().to_list()
    if len(encoders) > 1:
        raise dg.Failure(
            f"image embeddings of different encoders {encoders}: re-materialise image_embeddings (every "
            "part) and reference_image_embeddings with one image encoder"
        )
    return table


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
    image_embeddings: dict,
    reference_image_embeddings: pl.DataFrame,
    image_encoder_synset_embeddings: pl.DataFrame,
):
    """Paper Appendix D: per class, the mean CLIP similarity of LAIONet's and ImageNet val's images
    to their synset text (the image encoder's own text tower, from ``reference_image_embeddings``), LAIONet
    minus ImageNet with its 95% interval and verdict, and Fig. 17; per-image values in
    ``image_synset_similarity_images``."""
    cache = storage.embedding_cache("image")
    embedded = embedded_images(image_embeddings, reference_image_embeddings)
    synsets, wnids = synset_matrix(image_encoder_synset_embeddings)
    encoder = (
        image_encoder_synset_embeddings["encoder"][0] if image_encoder_synset_embeddings.height else None
    )
    values, per_class, images = {}, {}, []
    for dataset in ("laionet", "imagenet_val"):
        x, labels = load_vectors(cache, embedded, dataset)
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
