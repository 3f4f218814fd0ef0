"""The image embeddings every similarity is computed from (paper §3.2): LAIONet's images per part
(or the vectors the release ships), and the reference datasets' images, cached in LanceDB."""

import os
import time

import dagster as dg
import numpy as np
import polars as pl

from laionet_assets.core.io.progress import Progress, library_versions
from laionet_assets.core.io.storage import read_parquet
from laionet_assets.core.models.image_embeddings import embed_images, file_sha256
from laionet_assets.core.models.runner import chosen_decoder
from laionet_assets.core.releases import shipped
from laionet_assets.defs.evaluation.assets import downloaded_path, downloaded_set, folder_set
from laionet_assets.defs.lib import (
    all_parts,
    gpu_asset,
    gpu_multi_asset,
    lancedb_tables,
    part_rows,
    parts_output,
    run_parts,
)
from laionet_assets.defs.partitions import IMAGE_PART, of_part_release
from laionet_assets.resources import ImageEncoder, LaionetStorage

GROUP = "laionet_similarity"
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


def embed_dataset(
    context, model, cache, label: str, dataset: str, images: pl.DataFrame, workers: int, source: str
):
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


@gpu_asset(
    group_name=GROUP,
    # laionet_final is read only when it was materialised (see _laionet_rows): with shipped image
    # vectors, intra-class similarity needs no download at all
    deps=["laionet_final"],
    ins={"laionet_clean": of_part_release()},
    kinds={"pytorch", "lancedb"},
    metadata=lancedb_tables("image_embeddings"),
    **IMAGE_PART,
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
        outputs[part], counts[part] = embed_dataset(
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


@gpu_multi_asset(
    group_name=GROUP,
    outs={
        "reference_image_embeddings": dg.AssetOut(
            kinds={"pytorch", "lancedb"},
            metadata=lancedb_tables("image_embeddings"),
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
        frame, counts[dataset] = embed_dataset(
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
