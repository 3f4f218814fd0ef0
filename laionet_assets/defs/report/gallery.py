"""What people see: laionet_gallery (thumbnail strips per class, one HTML page) and
rating_study_pairs (a CSV of seeded trials for a "which pair looks more varied" study), from the
images the intra-class similarity embedded (``core.report.gallery``)."""

import os
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import polars as pl
from pydantic import Field

from laionet_assets.core.io.exports import write_csv_export
from laionet_assets.core.io.progress import Progress
from laionet_assets.core.models.image_embeddings import embedded_rows
from laionet_assets.core.report import gallery
from laionet_assets.core.report.catalogue import GALLERY_PAGE, REPORT_PAGE
from laionet_assets.defs.evaluation.assets import downloaded_path
from laionet_assets.defs.lib import all_parts, input_caveats, markdown_table
from laionet_assets.defs.partitions import RELEASE_LEVEL, of_release_parts
from laionet_assets.defs.similarity.embeddings import embedded_images
from laionet_assets.resources import LaionetStorage

GROUP = "laionet_gallery"
COMPARISON = "imagenet_val"
LABELS = {gallery.LAIONET: "LAIONet", COMPARISON: "ImageNet val"}
RATING_CSV = "rating_study_pairs.csv"
THUMBNAILS = "gallery"  # folder of the thumbnails, beside the page under <home>/reports/


class GalleryConfig(dg.Config):
    images_per_class: int = Field(default=8, ge=2, description="images per class and dataset in the gallery")
    trials_per_class: int = Field(default=4, ge=0, description="rating-study trials per class")
    thumbnail_size: int = Field(default=128, ge=16, description="longer side of a thumbnail, pixels")
    seed: int = Field(default=0, description="seed of the images shown, the trials and their order")


def _gallery_images(storage: LaionetStorage, embedded: pl.DataFrame, laionet_final, imagenet_val):
    """LAIONet's and ImageNet val's embedded images with their files (LAIONet rows whose vector
    was shipped and whose image was never downloaded have none) and their unit vectors."""
    cache = storage.embedding_cache("image")
    files = {
        gallery.LAIONET: all_parts(laionet_final, {"sample_id": pl.String, "image_path": pl.String})
        .filter(pl.col("image_path").is_not_null())
        .select(image_id=pl.col("sample_id"), path=downloaded_path(storage))
        .unique("image_id"),
        COMPARISON: imagenet_val.select("image_id", "path"),
    }
    frames, vectors = [], {}
    for dataset, paths in files.items():
        vectors[dataset], rows = embedded_rows(cache, embedded, dataset)
        frames.append(
            rows.select("image_id", "wnid", dataset=pl.lit(dataset))
            .with_row_index("row")
            .join(paths, on="image_id", how="inner")
        )
    return pl.concat(frames), vectors


def _class_facts(strips, synsets, intra_class_stats, comparison) -> pl.DataFrame:
    """Per class shown: its name, each dataset's mean intra-class similarity and LAIONet's
    difference with its verdict; the classes whose LAIONet images are most varied first."""
    means = (
        intra_class_stats.filter(pl.col("dataset").is_in(list(LABELS)))
        .unique(["dataset", "wnid"], keep="first", maintain_order=True)
        .pivot(on="dataset", index="wnid", values="mean")
    )
    means = means.rename({d: f"intra_class_{d}" for d in LABELS if d in means.columns})
    return (
        strips.select("wnid")
        .unique()
        .join(synsets.select("wnid", "name"), on="wnid", how="left")
        .join(means, on="wnid", how="left")
        .join(comparison.select("wnid", "difference", "verdict"), on="wnid", how="left")
        .sort("difference", "wnid", nulls_last=True)
    )


@dg.multi_asset(
    group_name=GROUP,
    **RELEASE_LEVEL,
    ins={"image_embeddings": of_release_parts(), "laionet_final": of_release_parts()},
    outs={
        "laionet_gallery": dg.AssetOut(
            kinds={"html", "pillow"},
            description="Per class, seeded thumbnail strips of LAIONet and ImageNet val: <home>/reports/"
            + GALLERY_PAGE,
        ),
        "rating_study_pairs": dg.AssetOut(
            kinds={"csv"},
            description="Seeded trials of a two-alternative 'which pair looks more varied' study, LAIONet "
            "vs ImageNet val, sides balanced, with thumbnails and CLIP's pair similarities: <home>/reports/"
            + RATING_CSV,
        ),
    },
)
def laionet_gallery(
    context: dg.AssetExecutionContext,
    config: GalleryConfig,
    storage: LaionetStorage,
    imagenet_synsets: pl.DataFrame,
    laionet_final: dict,
    imagenet_val: pl.DataFrame,
    image_embeddings: dict,
    reference_image_embeddings: pl.DataFrame,
    intra_class_stats: pl.DataFrame,
    intra_class_laionet_vs_imagenet: pl.DataFrame,
):
    """The gallery page (per class its name, both datasets' intra-class similarity, LAIONet's
    difference and verdict, and a strip of thumbnails per dataset; the classes with the most
    varied LAIONet images first) and the rating study's trials, also as a CSV whose thumbnail
    paths are relative to the reports folder.  Images are those ``intra_class_stats`` embedded."""
    started = time.perf_counter()
    embedded = embedded_images(image_embeddings, reference_image_embeddings)
    images, vectors = _gallery_images(storage, embedded, laionet_final, imagenet_val)
    strips = gallery.sample_strips(images, config.images_per_class, config.seed)
    names = [
        f"{THUMBNAILS}/{gallery.thumbnail_name(dataset, path, config.thumbnail_size)}"
        for dataset, path in strips.select("dataset", "path").iter_rows()
    ]
    strips = strips.with_columns(thumbnail=pl.Series(names, dtype=pl.String))
    progress = Progress(strips.height, "gallery thumbnails", context.log.info)

    def thumbnail(path: str, name: str) -> str:
        target = storage.report_path(name, context.partition_key)
        return "" if target.exists() else gallery.write_thumbnail(path, target, config.thumbnail_size)

    errors = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # PIL decodes without the GIL
        for error in pool.map(thumbnail, strips["path"], names):
            errors.append(error)
            progress.update(1)
    strips = strips.with_columns(error=pl.Series(errors, dtype=pl.String))
    failed = strips.filter(pl.col("error") != "")
    for row in failed.head(5).iter_rows(named=True):
        context.log.warning(f"{row['path']}: no thumbnail ({row['error']})")
    shown = strips.filter(pl.col("error") == "").drop("error")
    classes = _class_facts(shown, imagenet_synsets, intra_class_stats, intra_class_laionet_vs_imagenet)
    encoders = sorted(set(embedded["encoder"]))
    page = gallery.write_gallery(
        storage.report_path(GALLERY_PAGE, context.partition_key),
        "LAIONet vs ImageNet val, class by class",
        classes,
        shown,
        LABELS,
        input_caveats(context, storage, encoders),
        (REPORT_PAGE, "the report"),
    )
    trials = gallery.rating_trials(shown, vectors, config.trials_per_class, config.seed)
    trials = gallery.with_thumbnails(trials, shown).join(
        imagenet_synsets.select("wnid", class_name="name"), on="wnid", how="left", maintain_order="left"
    )
    csv = write_csv_export(trials, storage.report_path(RATING_CSV, context.partition_key))
    laionet_more_varied = (
        trials.select(
            pl.when(pl.col("laionet_side") == "left")
            .then(pl.col("left_similarity") < pl.col("right_similarity"))
            .otherwise(pl.col("right_similarity") < pl.col("left_similarity"))
        )
        .to_series()
        .mean()
    )
    yield dg.Output(
        shown,
        output_name="laionet_gallery",
        metadata={
            "gallery": dg.MetadataValue.path(str(page)),
            "gallery_url": dg.MetadataValue.url(page.as_uri()),
            "classes": classes.height,
            "images_per_dataset": dg.MetadataValue.json(dict(shown.group_by("dataset").len().iter_rows())),
            "dropped_unreadable_images": failed.height,
            "images_per_class": config.images_per_class,
            "seed": config.seed,
            "seconds": round(time.perf_counter() - started, 2),
            "classes_shown": markdown_table(classes, 20),
        },
    )
    yield dg.Output(
        trials,
        output_name="rating_study_pairs",
        metadata={
            "csv": dg.MetadataValue.path(str(csv)),
            "trials": trials.height,
            "classes": trials["wnid"].n_unique(),
            "laionet_left": int((trials["laionet_side"] == "left").sum()),
            # CLIP's answer to each trial, for comparison with the raters': the LAIONet pair is
            # the less similar one in this share of trials
            "clip_laionet_pair_more_varied": None
            if laionet_more_varied is None
            else float(laionet_more_varied),
            "seed": config.seed,
            "preview": markdown_table(trials, 10),
        },
    )
