"""LAIONet creation, per part: imagenet_synsets → lemma_matches[part] → text_sims[part] (paper §2)."""

import time

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field, field_validator

from laionet_assets.core.io.progress import Progress, library_versions
from laionet_assets.core.releases import shipped
from laionet_assets.core.releases.layouts import CANONICAL_SCHEMA
from laionet_assets.core.releases.read import DEFAULT_MAX_CAPTION_BYTES, read_part
from laionet_assets.core.text.embedding_cache import encode_with_cache
from laionet_assets.core.text.matching import (
    MODES,
    always_multilabel_classes,
    check_mode,
    lemma_table,
    match_captions,
    matchable_classes,
)
from laionet_assets.core.text.similarity import rowwise_cosine
from laionet_assets.core.text.vocabularies import label_space, load_vocabulary
from laionet_assets.core.vectors import unit_rows
from laionet_assets.defs.lib import gpu_asset, lancedb_tables, markdown_table
from laionet_assets.defs.partitions import TEXT_PART
from laionet_assets.resources import LaionetStorage, TextEncoderResource

GROUP = "laionet_creation"
ROWS_KEPT = "text_sims_rows_kept"


@dg.asset(group_name=GROUP, kinds={"polars", "wordnet"})
def imagenet_synsets(context: dg.AssetExecutionContext, storage: LaionetStorage) -> pl.DataFrame:
    """The target vocabulary's classes in class-index order (setting ``vocabulary``; by default
    the 1000 ILSVRC-2012 synsets from WordNet 3.0): wnid (the class id), class_index, name,
    lemmas, definition, the paper's synset text ``"<name> which is <definition>"`` and the
    dataset's own class name."""
    started = time.perf_counter()
    synsets = load_vocabulary(storage.vocabulary)
    facts = {
        "vocabulary": storage.vocabulary,
        "label_space": label_space(synsets) or "its own (ImageNet classifiers are skipped)",
        "outputs": dg.MetadataValue.path(str(storage.root)),
        "seconds": round(time.perf_counter() - started, 2),
        "wordnet_version": "3.0",
        "versions": dg.MetadataValue.json(library_versions("nltk", "timm", "polars")),
    }
    for mode in MODES:
        table = lemma_table(synsets, mode)
        unique = table.filter(pl.col("n_synsets") == 1)
        facts[f"{mode}_unique_lemmas"] = unique.height
        facts[f"{mode}_usable_lemmas"] = int(table["usable"].sum())
        facts[f"{mode}_matchable_classes"] = matchable_classes(synsets, mode)
        facts[f"{mode}_always_multilabel_classes"] = len(always_multilabel_classes(synsets, mode))
    context.add_output_metadata(
        {"classes": synsets.height, **facts, "preview": markdown_table(synsets.drop("lemmas"), 10)}
    )
    return synsets


class LemmaMatchConfig(dg.Config):
    mode: str = Field(
        default="paper",
        description="'paper' (the paper's exact rule) or 'longest' (normalised, longest lemma wins)",
    )
    max_caption_bytes: int = Field(
        default=DEFAULT_MAX_CAPTION_BYTES, description="captions longer than this are dropped and counted"
    )
    language: str | None = Field(
        default=None,
        description="keep only rows whose language column says this (e.g. en for LAION-2B-multi); "
        "default: every row",
    )

    _mode = field_validator("mode")(classmethod(lambda cls, v: check_mode(v)))


@dg.asset(
    group_name=GROUP,
    **TEXT_PART,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    kinds={"polars"},
)
def lemma_matches(
    context: dg.AssetExecutionContext,
    config: LemmaMatchConfig,
    storage: LaionetStorage,
    imagenet_synsets: pl.DataFrame,
) -> pl.DataFrame:
    """Captions of one release part that contain at least one usable lemma, in the canonical
    part schema (any release layout): sample_id, url, text, nsfw_tag, unsafe_score, language,
    width, height, part_row (the row in the part's file and its shipped embeddings), lemmas,
    wnids (sorted unique).  A caption with two or more wnids is multi-label."""
    key = context.partition_key
    part = storage.registry.part(key)
    started = time.perf_counter()
    frame, counts = read_part(part, config.max_caption_bytes, config.language)
    matches = match_captions(frame["text"], imagenet_synsets, config.mode)
    elapsed = time.perf_counter() - started
    out = (
        frame.with_row_index("position")
        .join(matches, left_on="position", right_on="row", how="inner")
        .select(*CANONICAL_SCHEMA, "part_row", "lemmas", "wnids")
    )
    n_labels = out["wnids"].list.len()
    context.log.info(
        f"{key}: {counts['part_rows']:,} rows matched in {elapsed:.2f} "
        f"s ({counts['part_rows'] / max(elapsed, 1e-9):,.0f} rows/s)"
    )
    dropped = {k: v for k, v in counts.items() if k.startswith("dropped_") and v}
    if dropped:
        context.log.warning(f"{part['path']}: dropped rows by reason {dropped}")
    context.add_output_metadata(
        {
            "part_file": dg.MetadataValue.path(part["path"]),
            "file_name": part.get("file", part["path"]),
            "layout": part["layout"],
            "column_mapping": dg.MetadataValue.json(part["columns"]),
            "safety_signal": part["safety"],
            "shipped_embeddings": dg.MetadataValue.json(
                [
                    {k: e[k] for k in ("kind", "model", "dim", "path", "key")}
                    for e in part.get("embeddings", [])
                ]
            ),
            "mode": config.mode,
            **{k: dg.MetadataValue.json(v) if isinstance(v, list) else v for k, v in counts.items()},
            "matched_rows": out.height,
            "single_label_rows": int((n_labels == 1).sum()),
            "multi_label_rows": int((n_labels > 1).sum()),
            "classes_matched": out.filter(n_labels == 1)["wnids"].list.first().n_unique(),
            "matchable_classes_paper": matchable_classes(imagenet_synsets, "paper"),
            "matchable_classes_longest": matchable_classes(imagenet_synsets, "longest"),
            "rows_per_second": round(counts["part_rows"] / max(elapsed, 1e-9), 1),
            "seconds": round(elapsed, 3),
            "versions": dg.MetadataValue.json(library_versions("polars")),
        }
    )
    return out


TEXT_SIMS_PARTS_PER_RUN = 8


def _similarities(
    single: pl.DataFrame,
    captions: np.ndarray,
    synset_vectors: np.ndarray,
    imagenet_synsets: pl.DataFrame,
    encoder,
) -> pl.DataFrame:
    class_row = single.join(imagenet_synsets.select("wnid", "class_index"), on="wnid", how="left")[
        "class_index"
    ].to_numpy()
    sims = rowwise_cosine(captions, synset_vectors[class_row]) if single.height else np.zeros(0, np.float32)
    handle = ["part_row"] if "part_row" in single.columns else []  # the row in the part's file
    return single.select("sample_id", *handle, "wnid").with_columns(
        text_similarity=pl.Series(sims, dtype=pl.Float32), encoder=pl.lit(encoder.encoder_id)
    )


def _score_part(
    single: pl.DataFrame,
    encoder,
    cache,
    synset_vectors: np.ndarray,
    imagenet_synsets: pl.DataFrame,
    progress: Progress,
) -> tuple[pl.DataFrame, dict]:
    captions, stats = encode_with_cache(encoder, single["text"].to_list(), cache, progress.update)
    return _similarities(single, captions, synset_vectors, imagenet_synsets, encoder), stats


def _score_shipped(
    single: pl.DataFrame, handle: dict, encoder, synset_vectors: np.ndarray, imagenet_synsets: pl.DataFrame
) -> tuple[pl.DataFrame, dict, dict]:
    """Similarities from the caption vectors the release ships (rows ``part_row``); rows whose
    vector is NaN or zero are dropped and counted; a seeded sample is encoded for the parity check,
    and a failed check fails the part."""
    vectors = shipped.read_rows(handle, single["part_row"].to_numpy())
    unusable = shipped.unusable_rows(vectors)
    single, vectors = single.filter(pl.Series(~unusable)), unit_rows(vectors[~unusable])
    sample = shipped.parity_sample(single.height)
    check = shipped.parity(vectors[sample], encoder.encode(single["text"].gather(sample).to_list()))
    where = shipped.array_name(handle)
    if not check["passed"]:
        raise dg.Failure(
            f"{where}: parity check failed: shipped caption vectors are not the configured encoder's "
            f"({encoder.encoder_id}): {check}",
            metadata={"parity_check": dg.MetadataValue.json(check)},
        )
    stats = {
        "captions": single.height + int(unusable.sum()),
        "from_release": single.height,
        "encoded": 0,
        "dropped_unusable_vector": int(unusable.sum()),
        "parity_encoded": int(sample.size),
    }
    return (
        _similarities(single, vectors, synset_vectors, imagenet_synsets, encoder),
        stats,
        {**check, "file": where},
    )


@gpu_asset(
    group_name=GROUP,
    **TEXT_PART,
    # Batched: a backfill runs up to 8 parts per run, so the encoder loads once for all of them.
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=TEXT_SIMS_PARTS_PER_RUN),
    kinds={"pytorch", "lancedb"},
    metadata=lancedb_tables("caption_embeddings"),
    check_specs=[
        dg.AssetCheckSpec(
            ROWS_KEPT,
            asset="text_sims",
            description="Every single-label candidate scored: warns when rows were dropped (unusable "
            "shipped vectors), fails when candidates existed and none was scored",
        )
    ],
)
def text_sims(
    context: dg.AssetExecutionContext,
    storage: LaionetStorage,
    text_encoder: TextEncoderResource,
    lemma_matches,
    imagenet_synsets: pl.DataFrame,
):
    """Cosine similarity of each single-label caption and its synset text under the configured
    encoder: sample_id, wnid, text_similarity, encoder, and the caption vectors' source (encoded,
    or shipped with the part).  Caption embeddings come from the LanceDB
    cache when seen before; multi-label captions are excluded and counted.  A run may score a
    range of parts (backfills batch up to 8); each part is written to its own file."""
    keys = context.partition_keys
    frames = lemma_matches if isinstance(lemma_matches, dict) else {keys[0]: lemma_matches}
    missing = [k for k in keys if k not in frames]
    if missing:
        raise FileNotFoundError(f"lemma_matches has no output for {missing}: materialise those parts first")
    encoder = text_encoder.load()
    cache = storage.embedding_cache()
    started = time.perf_counter()
    synset_vectors, _ = encode_with_cache(encoder, imagenet_synsets["synset_text"].to_list(), cache)
    outputs, totals, dropped, sources, parity = {}, {}, 0, {}, {}
    registered = storage.registry.load()
    for key in keys:
        single = (
            frames[key]
            .filter(pl.col("wnids").list.len() == 1)
            .with_columns(wnid=pl.col("wnids").list.first())
        )
        dropped += frames[key].height - single.height
        try:
            handle, sources[key] = shipped.choose_source(
                text_encoder.embeddings, registered.get(key), "text", text_encoder.release_tag()
            )
        except shipped.ShippedEmbeddingError as exc:
            raise dg.Failure(str(exc)) from None
        if handle is not None and "part_row" not in single.columns:
            raise dg.Failure(
                f"lemma_matches[{key}] predates part_row: re-materialise it to use shipped vectors"
            )
        if handle is not None:
            outputs[key], stats, parity[key] = _score_shipped(
                single, handle, encoder, synset_vectors, imagenet_synsets
            )
        else:
            progress = Progress(single.height, f"{key} caption embeddings", context.log.info)
            outputs[key], stats = _score_part(
                single, encoder, cache, synset_vectors, imagenet_synsets, progress
            )
        outputs[key] = outputs[key].with_columns(source=pl.lit(sources[key]))
        totals = {k: totals.get(k, 0) + v for k, v in stats.items()}
    elapsed = time.perf_counter() - started
    sims = (
        np.concatenate([o["text_similarity"].to_numpy() for o in outputs.values()])
        if outputs
        else np.zeros(0)
    )
    rows = int(sum(o.height for o in outputs.values()))
    unusable = totals.get("dropped_unusable_vector", 0)
    metadata = {
        "encoder": encoder.encoder_id,
        "encoder_version": encoder.version,
        "versions": dg.MetadataValue.json(
            library_versions("torch", "open_clip_torch", "sentence-transformers", "lancedb")
        ),
        "device": getattr(encoder, "device", "cpu"),
        "parts_in_run": len(keys),
        "embedding_source": dg.MetadataValue.json(sources),
        "parity_check": dg.MetadataValue.json(parity),
        "rows": int(sum(o.height for o in outputs.values())),
        "dropped_multi_label": dropped,
        **{f"embedding_{k}": v for k, v in totals.items()},
        "seconds": round(elapsed, 2),
        "captions_per_second": round(totals.get("encoded", 0) / max(elapsed, 1e-9), 1),
        "rows_per_second": round(sum(o.height for o in outputs.values()) / max(elapsed, 1e-9), 1),
        "mean_similarity": float(sims.mean()) if sims.size else None,
    }
    yield dg.Output(outputs[keys[0]] if len(keys) == 1 else outputs, metadata=metadata)
    candidates = rows + unusable
    yield dg.AssetCheckResult(
        check_name=ROWS_KEPT,
        passed=unusable == 0 and (rows > 0 or candidates == 0),
        severity=dg.AssetCheckSeverity.ERROR if candidates and not rows else dg.AssetCheckSeverity.WARN,
        metadata={"candidates": candidates, "rows": rows, "dropped_unusable_vector": unusable},
    )
