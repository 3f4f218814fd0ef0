"""LAIONet's threshold trade-off: laionet_sweep_images → laionet_threshold_sweep (``core.analysis.sweep``).

The candidates above the lowest threshold are downloaded, OCRed and embedded once (reusing what
``laionet_images`` fetched and what the LanceDB cache holds); every higher threshold is a
filter of those rows."""

import time

import dagster as dg
import polars as pl
from pydantic import Field, field_validator

from laionet_assets.core.analysis import stats
from laionet_assets.core.analysis.sweep import (
    LAIONET_OWN,
    SWEEP_QUANTILES,
    accuracy_by_threshold,
    laionet_sweep,
    sweep_thresholds,
    with_accuracy,
)
from laionet_assets.core.images.download import STATUS_SCHEMA
from laionet_assets.core.io.atomic import write_parquet_atomic
from laionet_assets.core.models.image_embeddings import embedded_rows, load_vectors
from laionet_assets.core.report.figures import laionet_sweep_figure
from laionet_assets.core.text import selection as core_laionet
from laionet_assets.defs.creation.selection import LaionetSelectionConfig, release_rows, selection_inputs
from laionet_assets.defs.evaluation.assets import IMAGE_KEY, PREDICTIONS_SCHEMA, downloaded_set, predict
from laionet_assets.defs.images.assets import KEPT_IN_FINAL, download_and_read
from laionet_assets.defs.lib import figure, gpu_multi_asset, markdown_table, reusable_rows
from laionet_assets.defs.partitions import RELEASE_LEVEL, crossing_dep, of_release_parts
from laionet_assets.defs.similarity.embeddings import embed_dataset
from laionet_assets.defs.similarity.intra_class import IntraClassConfig
from laionet_assets.resources import (
    ImageDownloader,
    ImageEncoder,
    ImageModels,
    LaionetStorage,
    OcrFilter,
    TextEncoderResource,
)

GROUP = "laionet_sweep"
SWEEP_DATASET = "laionet_sweep"


class LaionetSweepConfig(LaionetSelectionConfig):
    thresholds: list[float] = Field(
        default=[],
        description="similarity thresholds swept; empty: 0.70, 0.74, 0.78, 0.82, 0.86, 0.90 for a CLIP text "
        "encoder, else the quantiles below of the candidates' similarities (LAIONet's threshold is always "
        "added)",
    )
    quantiles: list[float] = Field(
        default=list(SWEEP_QUANTILES),
        description="for a non-CLIP text encoder without thresholds: the quantiles of the candidates' "
        "similarities swept",
    )

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        return sorted({core_laionet.check_threshold(t) for t in v})


@dg.multi_asset(
    group_name=GROUP,
    **RELEASE_LEVEL,
    outs={
        "laionet_sweep_images": dg.AssetOut(
            description="LAIONet's candidates above the sweep's lowest threshold, with their downloaded "
            "images and OCR flags",
            kinds={"pillow", "rapidocr"},
        ),
        "laionet_sweep_thresholds": dg.AssetOut(
            description="The thresholds swept and how each was chosen", kinds={"polars"}
        ),
    },
    ins={
        "lemma_matches": of_release_parts(),
        "text_sims": of_release_parts(),
        "imagenet_synsets": dg.AssetIn(),
    },
    # laionet_images is read, not loaded: what it fetched is reused
    deps=[crossing_dep("laionet_images")],
)
def laionet_sweep_images(
    context: dg.AssetExecutionContext,
    config: LaionetSweepConfig,
    storage: LaionetStorage,
    text_encoder: TextEncoderResource,
    downloader: ImageDownloader,
    ocr: OcrFilter,
    lemma_matches: dict[str, pl.LazyFrame],
    text_sims: dict[str, pl.LazyFrame],
    imagenet_synsets: pl.DataFrame,
):
    """The candidates LAIONet's policy keeps (the same single-label rows, safety policy and
    encoder as ``laionet_clean``) with similarity above the sweep's lowest threshold, downloaded
    and OCRed as ``laionet_images`` does, into the same content-addressed store: an image that
    ``laionet_images`` or an earlier sweep fetched is not fetched again.  ``kept``: the image
    passes the filters of ``laionet_final``."""
    started = time.perf_counter()
    threshold, parts, summary, _ = selection_inputs(config, storage, text_encoder, lemma_matches, text_sims)
    clip_scale = text_encoder.kind == "open_clip" and bool(text_encoder.pretrained)
    chosen = sweep_thresholds(
        summary.similarities, clip_scale, threshold, config.thresholds, config.quantiles
    )
    thresholds = chosen["threshold"].to_list()
    rows, release = release_rows(context, storage, parts, thresholds[0], config)
    rows = rows.drop("nsfw_missing")
    previous = reusable_rows(
        storage,
        "laionet_sweep_images",
        "laionet_images",
        [*STATUS_SCHEMA, "image_text"],
        ["sample_id", "url"],
    )
    table, counts = download_and_read(
        context, "sweep", rows, previous, storage, downloader, ocr, imagenet_synsets
    )
    out = rows.join(table.drop("url", "wnid", "width", "height"), on="sample_id", how="left").with_columns(
        kept=KEPT_IN_FINAL
    )
    context.add_output_metadata(
        {
            **counts,
            **release,
            "thresholds": dg.MetadataValue.json(thresholds),
            "lowest_threshold": thresholds[0],
            "laionet_threshold": threshold,
            "encoder": summary.encoders[0] if summary.encoders else text_encoder.kind,
            "kept": int(out["kept"].sum()),
            "seconds": round(time.perf_counter() - started, 2),
        },
        output_name="laionet_sweep_images",
    )
    yield dg.Output(out, output_name="laionet_sweep_images")
    yield dg.Output(
        chosen, output_name="laionet_sweep_thresholds", metadata={"thresholds": markdown_table(chosen)}
    )


@gpu_multi_asset(
    group_name=GROUP,
    **RELEASE_LEVEL,
    outs={
        "laionet_threshold_sweep": dg.AssetOut(
            description="Per threshold: LAIONet's size, coverage, intra-class similarity vs ImageNet and "
            "accuracy",
            kinds={"polars", "matplotlib"},
        ),
        "laionet_sweep_predictions": dg.AssetOut(
            description="Top-5 wnids of the sweep's images per model (reused by the next sweep)",
            kinds={"pytorch"},
        ),
    },
    # model_predictions is read, not loaded: the sweep runs without it, and reuses what it holds
    deps=[crossing_dep("model_predictions")],
)
def laionet_threshold_sweep(
    context: dg.AssetExecutionContext,
    config: IntraClassConfig,
    storage: LaionetStorage,
    image_encoder: ImageEncoder,
    image_models: ImageModels,
    laionet_sweep_images: pl.DataFrame,
    laionet_sweep_thresholds: pl.DataFrame,
    reference_image_embeddings: pl.DataFrame,
    imagenet_synsets: pl.DataFrame,
):
    """Per threshold: LAIONet's rows and classes covered, its images (downloaded, passing the
    filters), per-class and pooled intra-class similarity, the share of classes significantly
    lower than ImageNet val (same cap, seed and interval as ``intra_class_stats``) and each
    model's equal-weight top-1 accuracy.  The images are embedded once (LanceDB cache: LAIONet's
    own are found there) and predicted once (``model_predictions``' rows are reused); every
    threshold filters them."""
    started = time.perf_counter()
    thresholds = laionet_sweep_thresholds["threshold"].to_list()
    kept = laionet_sweep_images.filter(pl.col("kept"))
    images = downloaded_set(storage, kept)
    model = image_encoder.load()
    cache = storage.embedding_cache("image")
    embedded, embed_counts = embed_dataset(
        context, model, cache, "sweep", SWEEP_DATASET, images, image_encoder.decode_workers, "encode"
    )
    vectors, rows = embedded_rows(cache, embedded, SWEEP_DATASET)
    rows = rows.join(  # row i is vectors[i]
        kept.select(image_id="sample_id", text_similarity="text_similarity"),
        on="image_id",
        how="left",
        maintain_order="left",
    )
    encoders = set(reference_image_embeddings["encoder"].unique().to_list()) - {model.encoder_id}
    if encoders:
        raise dg.Failure(
            f"reference_image_embeddings were computed with {sorted(encoders)}, the sweep with "
            f"{model.encoder_id}: re-materialise reference_image_embeddings with one image encoder"
        )
    imagenet, imagenet_labels = load_vectors(cache, reference_image_embeddings, "imagenet_val")
    reference = stats.per_class_intra_similarity(
        imagenet, imagenet_labels, config.cap, config.seed, config.interval
    ).filter(pl.col("n") >= 2)
    table, comparisons = laionet_sweep(
        laionet_sweep_images, rows, vectors, reference, thresholds, config.cap, config.seed, config.interval
    )
    previous = reusable_rows(
        storage,
        "laionet_sweep_predictions",
        "model_predictions",
        list(PREDICTIONS_SCHEMA),
        ["model", "model_version", *IMAGE_KEY],
    )
    predictions, predict_meta = predict(
        context,
        image_models,
        imagenet_synsets,
        {SWEEP_DATASET: ("laionet", images)},
        {SWEEP_DATASET: previous},
    )
    predictions = predictions[SWEEP_DATASET]
    accuracy = accuracy_by_threshold(
        predictions.filter(pl.col("top5").is_not_null()).rename({"image_id": "sample_id"}),
        kept.select("sample_id", "text_similarity"),
        thresholds,
    )
    table = with_accuracy(table, accuracy)
    laionet_threshold = laionet_sweep_thresholds.filter(pl.col("chosen_as") == LAIONET_OWN)
    fig = laionet_sweep_figure(
        table,
        laionet_threshold["threshold"][0] if laionet_threshold.height else None,
        storage.figure_path("laionet_threshold_sweep", context.partition_key),
    )
    write_parquet_atomic(table, storage.report_path("laionet_threshold_sweep.parquet", context.partition_key))
    sweep_meta = {
        "sweep": markdown_table(table),
        "accuracy": markdown_table(accuracy, 60),
        "per_class": markdown_table(comparisons, 40),
        "fig_laionet_threshold_sweep": figure(fig),
        "cap": config.cap,
        "seed": config.seed,
        "interval": config.interval,
        "encoder": model.encoder_id,
        "images_embedded": dg.MetadataValue.json(embed_counts),
        "seconds": round(time.perf_counter() - started, 2),
    }
    yield dg.Output(table, output_name="laionet_threshold_sweep", metadata=sweep_meta)
    yield dg.Output(predictions, output_name="laionet_sweep_predictions", metadata=predict_meta)
