"""Paper §4.3, Fig. 10 and Appendix E, Fig. 18: ImageNet recreated from LAION by caption search
alone looks unlike ImageNet (captions_nearest_laion → text_matched_images →
text_matched_intra_class)."""

import time

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field, field_validator

from laionet_assets.core.analysis import stats
from laionet_assets.core.analysis.text_matched import SWEEP, above, sweep_summary, threshold_sweep
from laionet_assets.core.images.download import STATUS_SCHEMA, download_images
from laionet_assets.core.io.progress import Progress
from laionet_assets.core.models.image_embeddings import embedded_rows, load_vectors
from laionet_assets.core.report.figures import intra_class_figure, threshold_sweep_figure
from laionet_assets.core.text.selection import check_threshold
from laionet_assets.defs.lib import figure, markdown_table, reusable_rows
from laionet_assets.defs.similarity.intra_class import IntraClassConfig
from laionet_assets.defs.text_only.captions import GROUP
from laionet_assets.resources import ImageDownloader, LaionetStorage


class TextMatchedImagesConfig(dg.Config):
    download_above: float = Field(
        default=min(SWEEP),
        description=(
            "fetch the images of text matches with similarity above this: the lowest threshold of the "
            "Appendix E sweep (text_matched_intra_class compares no lower threshold)"
        ),
    )

    _threshold = field_validator("download_above")(classmethod(lambda cls, v: check_threshold(v)))


# laionet_images is read, not loaded: what it already fetched is reused
@dg.asset(group_name=GROUP, kinds={"pillow"}, deps=["laionet_images"])
def text_matched_images(
    context: dg.AssetExecutionContext,
    config: TextMatchedImagesConfig,
    storage: LaionetStorage,
    downloader: ImageDownloader,
    captions_nearest_laion: pl.DataFrame,
) -> pl.DataFrame:
    """Images of the text-matched LAION rows (``captions_nearest_laion`` above ``download_above``),
    fetched by LAIONet's downloader into the same content-addressed store.  A row that
    ``laionet_images`` already fetched is reused, not fetched again; a re-run fetches only what is
    new, missing or failed with a retryable status."""
    started = time.perf_counter()
    wanted = captions_nearest_laion.filter(above(captions_nearest_laion["similarity"], config.download_above))
    no_url = int(wanted["url"].null_count())
    wanted = wanted.filter(pl.col("url").is_not_null())
    previous = reusable_rows(
        storage, "text_matched_images", "laionet_images", list(STATUS_SCHEMA), ["sample_id", "url"]
    )
    progress = Progress(wanted.height, "text-matched image downloads", context.log.info)
    table, counts = download_images(
        wanted.select("sample_id", "url"), storage.images, downloader.settings(), previous, progress.update
    )
    out = table.join(
        wanted.select("sample_id", "wnid", "similarity", "selected", "threshold"), on="sample_id", how="left"
    )
    elapsed = time.perf_counter() - started
    context.add_output_metadata(
        {
            **counts,
            "download_above": config.download_above,
            "dropped_without_url": no_url,
            "selected_with_image": int(out.filter(pl.col("selected") & (pl.col("status") == "ok")).height),
            "seconds": round(elapsed, 2),
            "images_per_second": round(counts["fetched"] / max(elapsed, 1e-9), 1),
            "status_counts": markdown_table(
                out.group_by("status").agg(samples=pl.len()).sort("samples", descending=True)
            ),
        }
    )
    return out.with_columns(downloaded_above=pl.lit(config.download_above))


class TextMatchedConfig(IntraClassConfig):
    thresholds: list[float] = Field(
        default=list(SWEEP),
        description=(
            "text similarity thresholds of the Appendix E sweep (Fig. 18); the selection threshold of "
            "captions_nearest_laion is always added"
        ),
    )

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        return sorted({check_threshold(t) for t in v})


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "text_matched_intra_class": dg.AssetOut(
            kinds={"numpy", "matplotlib"},
            description=(
                "Per threshold and class: text-matched LAION minus ImageNet intra-class similarity (Fig. 10)"
            ),
        ),
        "text_matched_sweep": dg.AssetOut(
            kinds={"polars", "matplotlib"},
            description=(
                "Per threshold: classes covered and the share "
                "significantly lower on each side (Appendix E, Fig. 18)"
            ),
        ),
    },
)
def text_matched_intra_class(
    context: dg.AssetExecutionContext,
    config: TextMatchedConfig,
    storage: LaionetStorage,
    captions_nearest_laion: pl.DataFrame,
    text_matched_images: pl.DataFrame,
    reference_image_embeddings: pl.DataFrame,
):
    """Per similarity threshold and class: intra-class similarity of the text-matched LAION images
    (embedded by ``reference_image_embeddings``, dataset ``text_matched``) minus ImageNet val's, with its
    95% interval and verdict (same cap, seed and interval as ``intra_class_stats``).  At the
    selection threshold that is paper Fig. 10; over the thresholds, with the classes the text
    matches cover, Appendix E's Fig. 18 and ``text_matched_sweep``."""
    started = time.perf_counter()
    cache = storage.embedding_cache("image")
    imagenet, imagenet_labels = load_vectors(cache, reference_image_embeddings, "imagenet_val")
    vectors, embedded = embedded_rows(cache, reference_image_embeddings, "text_matched")
    embedded = embedded.join(
        text_matched_images.select(image_id="sample_id", similarity="similarity"),
        on="image_id",
        how="left",
        maintain_order="left",
    )
    selection = captions_nearest_laion["threshold"][0] if captions_nearest_laion.height else 0.7
    floor = text_matched_images["downloaded_above"][0] if text_matched_images.height else min(SWEEP)
    wanted = sorted(set(config.thresholds) | {selection})
    thresholds = [t for t in wanted if t >= floor]
    if len(thresholds) < len(wanted):
        context.log.warning(
            f"thresholds {[t for t in wanted if t < floor]} are below text_matched_images' "
            f"download_above ({floor}): not compared"
        )
    labels = embedded["wnid"].to_numpy()
    reference = stats.per_class_intra_similarity(
        imagenet, imagenet_labels, config.cap, config.seed, config.interval
    ).filter(pl.col("n") >= 2)
    comparisons = threshold_sweep(
        vectors,
        labels,
        embedded["similarity"],
        reference,
        thresholds,
        config.cap,
        config.seed,
        config.interval,
    )
    summary = sweep_summary(captions_nearest_laion, comparisons, thresholds)
    at_selection = comparisons.filter(pl.col("threshold") == selection)
    keep = above(embedded["similarity"], selection)
    pooled = (
        stats.pooled_pair_similarities(
            vectors[keep], labels[keep], imagenet, imagenet_labels, config.cap, config.seed
        )
        if keep.any() and imagenet.shape[0]
        else (np.zeros(0), np.zeros(0))
    )
    fig10 = intra_class_figure(
        *pooled,
        at_selection,
        ("text-matched LAION", "ImageNet"),
        storage.figure_path("text_matched_intra_class"),
        title=f"LAION rows whose caption is nearest an ImageNet-Captions text (similarity > {selection})",
    )
    fig18 = threshold_sweep_figure(summary, selection, "ImageNet", storage.figure_path("text_matched_sweep"))
    lower = int((at_selection["verdict"] == "significantly lower").sum())
    encoders = reference_image_embeddings["encoder"].unique().to_list()
    yield dg.Output(
        comparisons,
        output_name="text_matched_intra_class",
        metadata={
            "selection_threshold": selection,
            "interval": config.interval,
            "cap": config.cap,
            "seed": config.seed,
            "encoder": ", ".join(encoders),
            "images_embedded": embedded.height,
            "images_at_selection": int(keep.sum()),
            "classes_compared": at_selection.height,
            "fraction_significantly_lower": lower / at_selection.height if at_selection.height else None,
            "pooled_mean_text_matched": float(pooled[0].mean()) if pooled[0].size else None,
            "pooled_mean_imagenet": float(pooled[1].mean()) if pooled[1].size else None,
            "fig10_text_matched_intra_class": figure(fig10),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    yield dg.Output(
        summary,
        output_name="text_matched_sweep",
        metadata={
            "selection_threshold": selection,
            "sweep": markdown_table(summary),
            "fig18_threshold_sweep": figure(fig18),
        },
    )
