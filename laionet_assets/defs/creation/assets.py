"""LAIONet creation: imagenet_synsets → lemma_matches[part] → text_sims[part] → laionet_clean."""

import time

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field, field_validator

from laionet_assets.core.io.progress import Progress, library_versions
from laionet_assets.core.releases import shipped
from laionet_assets.core.releases.layouts import CANONICAL_SCHEMA
from laionet_assets.core.releases.read import DEFAULT_MAX_CAPTION_BYTES, read_part
from laionet_assets.core.report.figures import class_frequency_figure, coverage_figure
from laionet_assets.core.text import selection as core_laionet
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
from laionet_assets.defs.lib import figure, headline, markdown_table
from laionet_assets.defs.partitions import TEXT_PART
from laionet_assets.executors import GPU_STEP_TAGS
from laionet_assets.resources import LaionetStorage, TextEncoderResource

GROUP = "laionet_creation"


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
    return single.select("sample_id", "wnid").with_columns(
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


@dg.asset(
    group_name=GROUP,
    **TEXT_PART,
    # Batched: a backfill runs up to 8 parts per run, so the encoder loads once for all of them.
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=TEXT_SIMS_PARTS_PER_RUN),
    pool="gpu",
    op_tags=GPU_STEP_TAGS,
    kinds={"pytorch", "lancedb"},
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
    context.add_output_metadata(
        {
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
    )
    return outputs[keys[0]] if len(keys) == 1 else outputs


class LaionetSelectionConfig(dg.Config):
    """How LAIONet selects rows: shared by laionet and laionet_sweep_images."""

    threshold: float | None = Field(
        default=None, description="keep text_similarity > threshold; default: the text encoder's"
    )
    nsfw_policy: str = Field(
        default="auto",
        description="safety policy: auto (a row's NSFW tag must be UNLIKELY, as in the paper, else its "
        "unsafe score at most max_unsafe_score), require_unlikely, allow_missing, max_unsafe_score, or none "
        "(required for releases without any safety signal)",
    )
    max_unsafe_score: float = Field(
        default=core_laionet.DEFAULT_MAX_UNSAFE_SCORE,
        description="highest unsafe score kept (LAION's own cut 0.5; a stricter research choice 0.1)",
    )

    _threshold = field_validator("threshold")(classmethod(lambda cls, v: core_laionet.check_threshold(v)))
    _policy = field_validator("nsfw_policy")(classmethod(lambda cls, v: core_laionet.check_nsfw_policy(v)))
    _score = field_validator("max_unsafe_score")(
        classmethod(lambda cls, v: core_laionet.check_unsafe_score(v))
    )


class LaionetConfig(LaionetSelectionConfig):
    top_k: int = Field(default=50, description="rows per class in laionet_top50")


def _candidates(lemma_matches: dict[str, pl.DataFrame], text_sims: dict[str, pl.DataFrame]) -> pl.DataFrame:
    frames = []
    for part, sims in sorted(text_sims.items()):
        if part not in lemma_matches:
            continue
        meta = lemma_matches[part].select(
            "sample_id", "url", "text", "nsfw_tag", "unsafe_score", "width", "height", "part_row"
        )
        frames.append(
            sims.join(meta, on="sample_id", how="inner").with_columns(
                release_part=pl.lit(part), part_row=pl.col("part_row").cast(pl.Int64)
            )
        )
    if not frames:
        return pl.DataFrame(schema=core_laionet.LAIONET_SCHEMA)
    return pl.concat(frames, how="vertical_relaxed").select(core_laionet.LAIONET_COLUMNS)


def _caption_vector_sources(text_sims: dict[str, pl.DataFrame]) -> dict[str, int]:
    """Rows by the source of their caption vectors (text_sims from before sources were recorded
    were encoded)."""
    counts: dict[str, int] = {}
    for frame in text_sims.values():
        column = frame["source"] if "source" in frame.columns else pl.Series(["encode"] * frame.height)
        for source, n in column.value_counts().iter_rows():
            counts[source] = counts.get(source, 0) + n
    return counts


def _parts_without_safety_signal(storage: LaionetStorage, keys: list[str]) -> list[str]:
    registered = storage.registry.load()
    return [k for k in keys if registered.get(k, {}).get("safety") == "none"]


def selection_inputs(
    config: LaionetSelectionConfig,
    storage: LaionetStorage,
    text_encoder: TextEncoderResource,
    lemma_matches: dict,
    text_sims: dict,
) -> tuple[float, pl.DataFrame, list[str], list[str]]:
    """LAIONet's threshold, its candidates (the single-label rows of every part with their
    similarity), the text encoder that scored them and the parts without a safety signal; an
    error when the parts were scored by different encoders, or when a policy would silently drop
    a part with no safety signal."""
    threshold = text_encoder.threshold if config.threshold is None else config.threshold
    candidates = _candidates(lemma_matches, text_sims)
    encoders = sorted({e for f in text_sims.values() for e in f["encoder"].unique().to_list()})
    if len(encoders) > 1:
        raise ValueError(
            "text_sims partitions were computed with different "
            f"encoders {encoders}; re-materialise them with one encoder"
        )
    unsignalled = _parts_without_safety_signal(storage, sorted(text_sims))
    if unsignalled and config.nsfw_policy != "none":
        raise dg.Failure(
            f"part(s) {', '.join(unsignalled)} come from a release with no safety signal (no NSFW tag, no "
            f"unsafe score); the '{config.nsfw_policy}' policy would drop every row. Accept them unfiltered "
            "explicitly with --nsfw-policy none (and --nsfw-policy-required none for the check)"
        )
    return threshold, candidates, encoders, unsignalled


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "laionet_clean": dg.AssetOut(
            description="LAIONet: single-label captions above the similarity threshold that pass the NSFW "
            "policy",
            kinds={"polars"},
            metadata=headline("LAIONet"),
        ),
        "laionet_top50": dg.AssetOut(
            description="The top_k (default 50) most similar LAIONet rows per class (paper Appendix B)",
            kinds={"polars"},
        ),
        "coverage_vs_threshold": dg.AssetOut(
            description="Classes covered and rows kept per similarity threshold (paper Fig. 3)",
            kinds={"polars", "matplotlib"},
        ),
        "class_frequencies": dg.AssetOut(
            description="Rows per ImageNet class in LAIONet (paper Fig. 4)", kinds={"polars", "matplotlib"}
        ),
    },
    ins={"lemma_matches": dg.AssetIn(), "text_sims": dg.AssetIn(), "imagenet_synsets": dg.AssetIn()},
)
def laionet(
    context: dg.AssetExecutionContext,
    config: LaionetConfig,
    storage: LaionetStorage,
    text_encoder: TextEncoderResource,
    lemma_matches: dict,
    text_sims: dict,
    imagenet_synsets: pl.DataFrame,
):
    """Paper §2: the union over LAION parts of the selected captions (``laionet_clean``), its top
    rows per class (Appendix B), the coverage-vs-threshold curve (Fig. 3) and class frequencies
    (Fig. 4), each a table with its PNG figure."""
    started = time.perf_counter()
    threshold, candidates, encoders, unsignalled = selection_inputs(
        config, storage, text_encoder, lemma_matches, text_sims
    )
    clean, counts = core_laionet.select_laionet(
        candidates, threshold, config.nsfw_policy, config.max_unsafe_score
    )
    top = core_laionet.top_per_class(clean, config.top_k)
    policy_ok = candidates.filter(core_laionet.safety_ok(config.nsfw_policy, config.max_unsafe_score))
    curve = core_laionet.coverage_curve(policy_ok)
    frequencies = core_laionet.class_frequencies(clean, imagenet_synsets)
    encoder_name = encoders[0] if encoders else text_encoder.kind
    fig3 = coverage_figure(
        policy_ok["text_similarity"].to_numpy(),
        curve,
        threshold,
        encoder_name,
        storage.figure_path("coverage_vs_threshold"),
    )
    fig4 = class_frequency_figure(frequencies, storage.figure_path("class_frequencies"))
    present = set(clean["wnid"].unique().to_list())
    missing = [w for w in imagenet_synsets["wnid"].to_list() if w not in present]
    common = {
        "threshold": threshold,
        "text_embedding_source": dg.MetadataValue.json(_caption_vector_sources(text_sims)),
        "nsfw_policy": config.nsfw_policy,
        "max_unsafe_score": config.max_unsafe_score,
        "parts_without_safety_signal": dg.MetadataValue.json(unsignalled),
        "encoder": encoder_name,
        "release_parts": dg.MetadataValue.json(sorted(text_sims)),
        "seconds": round(time.perf_counter() - started, 2),
    }
    yield dg.Output(
        clean,
        output_name="laionet_clean",
        metadata={
            **common,
            **counts,
            "missing_classes": len(missing),
            "coverage_vs_threshold": markdown_table(
                curve.filter(pl.col("threshold").is_in(np.round(np.arange(0, 1.01, 0.05), 2).tolist())), 25
            ),
            "fig3_coverage": figure(fig3),
            "class_frequencies": markdown_table(frequencies.filter(pl.col("count") > 0), 30),
            "fig4_class_frequencies": figure(fig4),
        },
    )
    yield dg.Output(
        top,
        output_name="laionet_top50",
        metadata={**common, "rows": top.height, "classes": top["wnid"].n_unique(), "top_k": config.top_k},
    )
    yield dg.Output(
        curve, output_name="coverage_vs_threshold", metadata={**common, "fig3_coverage": figure(fig3)}
    )
    yield dg.Output(
        frequencies,
        output_name="class_frequencies",
        metadata={**common, "fig4_class_frequencies": figure(fig4)},
    )
