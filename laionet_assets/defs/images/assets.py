"""The image side's inputs: laionet_clean → laionet_images → laionet_final, and the external
labelled folders (ImageNet val, ImageNetV2 a/b/c)."""

import time
from collections import Counter
from collections.abc import Callable

import dagster as dg
import polars as pl

from laionet_assets.core.images.download import STATUS_SCHEMA, download_images
from laionet_assets.core.images.folders import DATASET_SCHEMA, load_image_folder
from laionet_assets.core.images.ocr import flag_from_text, ocr_version, recognise_texts
from laionet_assets.core.io.atomic import write_parquet_atomic
from laionet_assets.core.io.progress import Progress, library_versions
from laionet_assets.core.text.vocabularies import folder_classes
from laionet_assets.defs.lib import (
    headline,
    markdown_table,
    part_rows,
    parts_output,
    previous_output,
    run_parts,
)
from laionet_assets.defs.partitions import IMAGE_PART, of_part_release
from laionet_assets.resources import ImageDownloader, ImageFolders, LaionetStorage, OcrFilter, QualityGates

GROUP = "laionet_images"
V2_SELECTION_FREQUENCY = {"imagenetv2_b": 0.73, "imagenetv2_a": 0.85, "imagenetv2_c": 0.93}


def _ocr(
    context,
    table: pl.DataFrame,
    previous: pl.DataFrame | None,
    storage: LaionetStorage,
    ocr: OcrFilter,
    checkpoint: Callable[[pl.DataFrame], None] | None = None,
    checkpoint_rows: int = 1000,
):
    """OCR text and flag per downloaded image; text is reused from the previous run by image hash.
    Every ``checkpoint_rows`` images read, ``checkpoint`` receives the table with the texts so far."""
    if not ocr.enabled:
        return table.with_columns(
            pl.lit(None, pl.String).alias("image_text"),
            pl.lit(None, pl.Boolean).alias("synset_name_in_image_text"),
        ), 0
    known = {}
    if previous is not None and "image_text" in previous.columns:
        known = dict(
            previous.filter(pl.col("image_text").is_not_null() & pl.col("image_sha256").is_not_null())
            .select("image_sha256", "image_text")
            .iter_rows()
        )

    def with_texts() -> pl.DataFrame:
        text = table["image_sha256"].replace_strict(known, default=None, return_dtype=pl.String)
        flags = [flag_from_text(n, t) for n, t in zip(table["name"], text)]
        return table.with_columns(
            image_text=text, synset_name_in_image_text=pl.Series(flags, dtype=pl.Boolean)
        )

    todo = table.filter((pl.col("status") == "ok") & ~pl.col("image_sha256").is_in(list(known)))
    progress = Progress(todo.height, "OCR", context.log.info)
    engine = ocr.load() if todo.height else None
    for chunk in todo.iter_slices(checkpoint_rows):
        paths = [str(storage.images / p) for p in chunk["image_path"]]
        known.update(zip(chunk["image_sha256"], recognise_texts(paths, engine, progress.update)))
        if checkpoint is not None and chunk.height == checkpoint_rows:
            checkpoint(with_texts().drop("name"))
    return with_texts(), todo.height


def newest_rows(*tables: pl.DataFrame | None) -> pl.DataFrame | None:
    """One row per (sample_id, url) of ``tables`` (a finished run's table, an unfinished run's
    checkpoint): the one fetched last, and of those one that holds its OCR text."""
    frames = [t for t in tables if t is not None and not t.is_empty()]
    if not frames:
        return None
    table = pl.concat(frames, how="diagonal_relaxed")
    for column, dtype in (("fetched_at", STATUS_SCHEMA["fetched_at"]), ("image_text", pl.String)):
        if column not in table.columns:
            table = table.with_columns(pl.lit(None, dtype).alias(column))
    return table.sort(
        pl.col("fetched_at"), pl.col("image_text").is_not_null(), descending=True, nulls_last=True
    ).unique(["sample_id", "url"], keep="first", maintain_order=True)


LAIONET_IMAGES_SCHEMA = {
    **STATUS_SCHEMA,
    "wnid": pl.String,
    "image_text": pl.String,
    "synset_name_in_image_text": pl.Boolean,
}
# laionet_final's rule: the image downloaded and passed the checks, and OCR did not find the
# synset's name in it (unreadable images are kept)
KEPT_IN_FINAL = (pl.col("status") == "ok") & pl.col("synset_name_in_image_text").fill_null(False).not_()


def download_and_read(
    context,
    label: str,
    rows: pl.DataFrame,
    previous: pl.DataFrame | None,
    storage: LaionetStorage,
    downloader: ImageDownloader,
    ocr: OcrFilter,
    imagenet_synsets: pl.DataFrame,
    checkpoint: Callable[[pl.DataFrame], None] | None = None,
):
    """The status table of ``rows`` (``sample_id``, ``url``, ``wnid``; ``width``/``height`` when
    known), downloaded then OCRed, reusing ``previous``'s settled downloads and OCR text, and its
    counts.  ``checkpoint`` receives the table so far every ``checkpoint_rows`` samples fetched
    and images read."""
    progress = Progress(rows.height, f"{label} image downloads", context.log.info)
    table, counts = download_images(
        rows.select("sample_id", "url", *(c for c in ("width", "height") if c in rows.columns)),
        storage.images,
        downloader.settings(),
        previous,
        progress.update,
        checkpoint,
    )
    table = table.join(rows.select("sample_id", "wnid"), on="sample_id", how="left").join(
        imagenet_synsets.select("wnid", "name"), on="wnid", how="left"
    )
    if checkpoint is not None:
        checkpoint(table.drop("name"))
    table, counts["ocr_images_read"] = _ocr(
        context, table, previous, storage, ocr, checkpoint, downloader.checkpoint_rows
    )
    return table.drop("name"), counts


def _download_part(context, part, rows, storage, downloader, ocr, imagenet_synsets):
    """One part's status table (downloads, then OCR) and its counts.  The part's table is
    checkpointed as it grows, so a run that is killed resumes where it stopped."""
    # the part's last table (before partitioning, one table held every part) and the checkpoint
    # of a run that did not finish
    previous = previous_output(storage.asset_path("laionet_images", part))
    if previous is None:
        previous = previous_output(storage.asset_path("laionet_images"))
    checkpoint = storage.checkpoint_path("laionet_images", part)
    unfinished = previous_output(checkpoint)
    if unfinished is not None:
        context.log.info(f"{part}: resuming from {unfinished.height} rows of an unfinished run")
    table, counts = download_and_read(
        context,
        part,
        rows,
        newest_rows(previous, unfinished),
        storage,
        downloader,
        ocr,
        imagenet_synsets,
        lambda table: write_parquet_atomic(table, checkpoint),
    )
    counts["resumed_rows"] = 0 if unfinished is None else unfinished.height
    checkpoint.unlink(missing_ok=True)
    return table, counts


DOWNLOADS_OK = "laionet_images_downloaded"


def downloads_check(table: pl.DataFrame, gates: QualityGates) -> dg.AssetCheckResult:
    """The share of the run's samples whose image downloaded and passed: at least
    ``min_download_ok_warn`` passes; below it warns, below ``min_download_ok_error`` fails (and
    blocks what reads the images)."""
    n = table.height
    ok = int((table["status"] == "ok").sum())
    share = ok / n if n else 1.0
    breakdown = dict(table.group_by("status").len().sort("len", descending=True).iter_rows())
    error = share < gates.min_download_ok_error
    return dg.AssetCheckResult(
        check_name=DOWNLOADS_OK,
        passed=share >= gates.min_download_ok_warn,
        severity=dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN,
        metadata={
            "samples": n,
            "ok": ok,
            "ok_share": round(share, 4),
            "min_download_ok_warn": gates.min_download_ok_warn,
            "min_download_ok_error": gates.min_download_ok_error,
            "status_breakdown": dg.MetadataValue.json(breakdown),
        },
    )


@dg.asset(
    group_name=GROUP,
    kinds={"pillow", "rapidocr"},
    check_specs=[
        dg.AssetCheckSpec(
            DOWNLOADS_OK,
            asset="laionet_images",
            blocking=True,
            description="Share of the samples whose image downloaded and passed, against the "
            "min_download_ok_warn and min_download_ok_error thresholds; the status breakdown in metadata",
        )
    ],
    ins={"laionet_clean": of_part_release()},
    **IMAGE_PART,
)
def laionet_images(
    context: dg.AssetExecutionContext,
    storage: LaionetStorage,
    downloader: ImageDownloader,
    ocr: OcrFilter,
    quality_gates: QualityGates,
    laionet_clean: pl.DataFrame,
    imagenet_synsets: pl.DataFrame,
):
    """LAIONet images by URL, per LAION part (the part's rows of ``laionet_clean``): a status per
    sample (ok, http_error, timeout, not_image, too_small, …), files content-addressed under
    ``<home>/images/``, and the OCR flag ``synset_name_in_image_text``.  Resumable: a re-run of a
    part fetches only what is new, missing or failed with a retryable status, and OCRs only images
    it has not read before."""
    started = time.perf_counter()
    outputs, counts = {}, Counter()  # counts summed over the run's parts
    for part in run_parts(context):
        outputs[part], part_counts = _download_part(
            context, part, part_rows(laionet_clean, part), storage, downloader, ocr, imagenet_synsets
        )
        counts.update(part_counts)
    download_s = time.perf_counter() - started
    table = pl.concat(list(outputs.values()))
    metadata = {
        **counts,
        "parts_in_run": len(outputs),
        "download_seconds": round(download_s, 2),
        "images_per_second": round(counts["fetched"] / max(download_s, 1e-9), 1),
        "ocr": ocr_version() if ocr.enabled else "disabled",
        "synset_name_in_image_text": int(table["synset_name_in_image_text"].sum() or 0),
        "images_dir": dg.MetadataValue.path(str(storage.images)),
        "status_counts": markdown_table(
            table.group_by("status").agg(samples=pl.len()).sort("samples", descending=True)
        ),
        "versions": dg.MetadataValue.json(library_versions("pillow", "rapidocr-onnxruntime", "onnxruntime")),
    }
    yield dg.Output(parts_output(context, outputs), metadata=metadata)
    yield downloads_check(table, quality_gates)


@dg.asset(
    group_name=GROUP,
    kinds={"polars"},
    metadata=headline("LAIONet with images, after the OCR filter", rows_required=True),
    ins={"laionet_clean": of_part_release()},
    **IMAGE_PART,
)
def laionet_final(context: dg.AssetExecutionContext, laionet_clean: pl.DataFrame, laionet_images):
    """LAIONet as evaluated, per LAION part: ``laionet_clean`` rows whose image downloaded and
    passed the filters and whose recognised text does not contain the synset name (paper §2)."""
    outputs, counts = {}, Counter()  # counts summed over the run's parts
    for part, images in run_parts(context, laionet_images).items():
        joined = part_rows(laionet_clean, part).join(
            images.select("sample_id", "status", "image_path", "image_sha256", "synset_name_in_image_text"),
            on="sample_id",
            how="left",
        )
        with_image = joined.filter(pl.col("status") == "ok")
        outputs[part] = with_image.filter(KEPT_IN_FINAL).drop("status")
        counts.update(
            {
                "rows": outputs[part].height,
                "dropped_without_image": joined.height - with_image.height,
                "dropped_synset_name_in_image_text": with_image.height - outputs[part].height,
                "ocr_unreadable_kept": int(with_image["synset_name_in_image_text"].is_null().sum()),
            }
        )
    classes = pl.concat([o.select("wnid") for o in outputs.values()])["wnid"].n_unique()
    context.add_output_metadata({**counts, "classes": classes})
    return parts_output(context, outputs)


FOLDER_ASSETS = ("imagenet_val", *V2_SELECTION_FREQUENCY)


@dg.multi_asset(
    group_name=GROUP,
    outs={
        name: dg.AssetOut(
            kinds={"polars"}, description=f"Images and wnids of the {name} folder (resource image_folders)"
        )
        for name in FOLDER_ASSETS
    },
)
def image_folders(
    context: dg.AssetExecutionContext, image_folders: ImageFolders, imagenet_synsets: pl.DataFrame
):
    """Index the external labelled image folders; one not configured gives an empty table."""
    wnids, folder_names = imagenet_synsets["wnid"].to_list(), folder_classes(imagenet_synsets)
    for name in FOLDER_ASSETS:
        root = getattr(image_folders, name)
        if not root:
            yield dg.Output(
                pl.DataFrame(schema=DATASET_SCHEMA),
                output_name=name,
                metadata={"configured": False, "images": 0},
            )
            continue
        layout = image_folders.imagenet_val_layout if name == "imagenet_val" else "auto"
        labels = image_folders.imagenet_val_labels if name == "imagenet_val" else ""
        frame, counts = load_image_folder(root, wnids, layout, labels or None, folder_names)
        meta = {"configured": True, "folder": dg.MetadataValue.path(root), **counts}
        if name in V2_SELECTION_FREQUENCY:
            meta["mturk_selection_frequency"] = V2_SELECTION_FREQUENCY[name]
        context.log.info(f"{name}: {counts['images']} images over {counts['classes']} classes from {root}")
        yield dg.Output(frame, output_name=name, metadata=meta)
