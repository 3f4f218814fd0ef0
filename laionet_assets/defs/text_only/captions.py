"""Paper §4.2–4.3: ImageNet-Captions vs the synsets, and its nearest LAION captions
(imagenet_captions → caption_synset_similarity; laion_caption_index[part] → captions_nearest_laion)."""

import time

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field, field_validator

from laionet_assets.core.analysis.captions import (
    CAPTIONS_SCHEMA,
    binned_proportions,
    load_imagenet_captions,
    synset_rank_stats,
)
from laionet_assets.core.choices import check_choice
from laionet_assets.core.io.progress import Progress, library_versions
from laionet_assets.core.models.loading import resolve_device
from laionet_assets.core.releases import shipped
from laionet_assets.core.releases.read import DEFAULT_MAX_CAPTION_BYTES, read_part
from laionet_assets.core.report.figures import text_synset_figure
from laionet_assets.core.search.caption_index import (
    ANN_MIN_ROWS,
    CAPTION_SCOPES,
    SEARCH_ENGINES,
    CaptionIndex,
    match_nearest,
    recall_at_1,
)
from laionet_assets.core.search.faiss_shards import DEFAULT_NPROBE, DEFAULT_REFINE
from laionet_assets.core.text.embedding_cache import encode_with_cache
from laionet_assets.core.text.selection import check_threshold
from laionet_assets.core.text.similarity import text_hash
from laionet_assets.core.vectors import unit_rows
from laionet_assets.defs.lib import (
    figure,
    gpu_multi_asset,
    headline,
    lancedb_tables,
    markdown_table,
)
from laionet_assets.defs.partitions import TEXT_PART
from laionet_assets.resources import ImageFolders, LaionetStorage, TextEncoderResource, positive

GROUP = "laionet_text_only"


@dg.asset(group_name=GROUP, kinds={"polars"})
def imagenet_captions(
    context: dg.AssetExecutionContext, image_folders: ImageFolders, imagenet_synsets: pl.DataFrame
) -> pl.DataFrame:
    """ImageNet-Captions (Fang et al. 2022): ``filename``, ``wnid``, ``text`` = title, tags and
    description joined by spaces; duplicates by filename and bad entries dropped and counted.
    Source: the ``image_folders`` resource's ``imagenet_captions`` (path or fsspec URL)."""
    source = image_folders.imagenet_captions
    if not source:
        context.add_output_metadata({"configured": False, "rows": 0})
        return pl.DataFrame(schema=CAPTIONS_SCHEMA)
    frame, counts = load_imagenet_captions(source, imagenet_synsets["wnid"].to_list())
    context.add_output_metadata(
        {"configured": True, "source": source, **counts, "preview": markdown_table(frame, 10)}
    )
    return frame


class CaptionSynsetConfig(dg.Config):
    bin_width: float = Field(default=0.05, description="width of the intended-similarity bins of Fig. 9(b)")


@gpu_multi_asset(
    group_name=GROUP,
    outs={
        "caption_synset_similarity": dg.AssetOut(
            kinds={"pytorch", "numpy"},
            description=(
                "Per ImageNet-Captions text: similarity to its synset "
                "and how many other synsets are closer (Fig. 9)"
            ),
        ),
        "caption_synset_bins": dg.AssetOut(
            kinds={"polars", "matplotlib"},
            description=(
                "Binned share of other synsets more similar than "
                "the intended one, with 95% intervals (Fig. 9b)"
            ),
        ),
    },
)
def caption_synset_similarity(
    context: dg.AssetExecutionContext,
    config: CaptionSynsetConfig,
    storage: LaionetStorage,
    text_encoder: TextEncoderResource,
    imagenet_captions: pl.DataFrame,
    imagenet_synsets: pl.DataFrame,
):
    """Paper §4.2.  Per ImageNet-Captions text: similarity to its own synset text, how many of the other 999
    synset texts are more similar, and that as a proportion; the binned proportions with 95%
    intervals (``caption_synset_bins``) and paper Fig. 9."""
    encoder = text_encoder.load()
    cache = storage.embedding_cache()
    started = time.perf_counter()
    progress = Progress(imagenet_captions.height, "ImageNet-Captions embeddings", context.log.info)
    texts, stats = encode_with_cache(encoder, imagenet_captions["text"].to_list(), cache, progress.update)
    synsets, _ = encode_with_cache(encoder, imagenet_synsets["synset_text"].to_list(), cache)
    intended = imagenet_captions.join(imagenet_synsets.select("wnid", "class_index"), on="wnid", how="left")[
        "class_index"
    ].to_numpy()
    own, more = (
        synset_rank_stats(texts, synsets, intended)
        if imagenet_captions.height
        else (np.zeros(0), np.zeros(0, np.int64))
    )
    others = imagenet_synsets.height - 1
    out = imagenet_captions.select("filename", "wnid").with_columns(
        intended_similarity=pl.Series(own, dtype=pl.Float32),
        unintended_more_similar=pl.Series(more, dtype=pl.Int64),
        proportion_more_similar=pl.Series(more / others, dtype=pl.Float64),
        encoder=pl.lit(encoder.encoder_id),
    )
    edges = np.round(np.arange(-1.0, 1.0 + config.bin_width / 2, config.bin_width), 6)
    bins = binned_proportions(own, more / others, edges).filter(pl.col("n") > 0)
    fig = text_synset_figure(own, bins, encoder.encoder_id, storage.figure_path("text_vs_synsets"))
    yield dg.Output(
        out,
        output_name="caption_synset_similarity",
        metadata={
            "encoder": encoder.encoder_id,
            "rows": out.height,
            **{f"embedding_{k}": v for k, v in stats.items()},
            "median_intended_similarity": float(np.median(own)) if own.size else None,
            "mean_proportion_more_similar": float((more / others).mean()) if more.size else None,
            "bins": markdown_table(bins),
            "fig9_text_vs_synsets": figure(fig),
            "seconds": round(time.perf_counter() - started, 2),
            "versions": dg.MetadataValue.json(
                library_versions("torch", "open_clip_torch", "sentence-transformers")
            ),
        },
    )
    yield dg.Output(
        bins,
        output_name="caption_synset_bins",
        metadata={"encoder": encoder.encoder_id, "fig9_text_vs_synsets": figure(fig)},
    )


class CaptionIndexConfig(dg.Config):
    captions: str = Field(
        default="auto",
        description="which captions of the part the index holds: all (every caption, as the paper "
        "searched all of LAION-400M), matched (the single-label lemma matches text_sims scored), or auto "
        "(all when the part ships caption vectors of the configured encoder, else matched)",
    )

    _captions = field_validator("captions")(
        classmethod(lambda cls, v: check_choice(v, CAPTION_SCOPES, "caption index scope"))
    )


INDEX_CHUNK = 262_144


def _index_all(
    context, index, part, handle, encoder, max_caption_bytes: int, parts: int
) -> tuple[int, dict, pl.DataFrame]:
    """Every caption of the part: shipped vectors when ``handle``, else encoded (an explicit choice,
    whose expected cost is logged first), chunk by chunk, into the table and the part's FAISS
    shard; NaN/zero vectors dropped and counted.  ``parts``: the release's, to size the index."""
    frame, _ = read_part(part, max_caption_bytes)
    facts = {"part_captions": frame.height, "dropped_unusable_vector": 0, "encoded": 0}
    if handle is None:
        sample = frame["text"].head(64).to_list()
        started = time.perf_counter()
        encoder.encode(sample)
        rate = len(sample) / max(time.perf_counter() - started, 1e-9)
        context.log.warning(
            f"{part['key']}: encoding all {frame.height:,} captions (no shipped vectors of "
            f"{encoder.encoder_id}): about {frame.height / rate / 3600:,.1f} hours at the measured "
            f"{rate:,.0f} captions/s"
        )
    progress = Progress(frame.height, f"{part['key']} caption index", context.log.info)
    stored, kept, shard = 0, [], None
    for start in range(0, frame.height, INDEX_CHUNK):
        chunk = frame.slice(start, INDEX_CHUNK)
        if handle is not None:
            vectors = shipped.read_rows(handle, chunk["part_row"].to_numpy())
            bad = shipped.unusable_rows(vectors)
            chunk, vectors = chunk.filter(pl.Series(~bad)), unit_rows(vectors[~bad])
            facts["dropped_unusable_vector"] += int(bad.sum())
        else:
            vectors = encoder.encode(chunk["text"].to_list())
            facts["encoded"] += chunk.height
        stored = index.add_part(
            part["key"],
            chunk["sample_id"].to_list(),
            vectors,
            chunk["text"].to_list(),
            chunk["url"].to_list(),
        )
        shard = shard or index.shard_writer(part["key"], vectors.shape[1], frame.height * parts)
        shard.add(chunk["sample_id"].to_list(), vectors)
        kept.append(chunk.select("sample_id"))
        progress.update(chunk.height)
    if shard is not None:
        shard.close()
    return stored, facts, pl.concat(kept) if kept else pl.DataFrame(schema={"sample_id": pl.String})


@dg.asset(
    group_name=GROUP,
    **TEXT_PART,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    kinds={"lancedb"},
    metadata=lancedb_tables("laion_caption_index"),
)
def laion_caption_index(
    context: dg.AssetExecutionContext,
    config: CaptionIndexConfig,
    storage: LaionetStorage,
    text_encoder: TextEncoderResource,
    lemma_matches: pl.DataFrame,
    text_sims: pl.DataFrame,
) -> pl.DataFrame:
    """Adds one part's captions to the LanceDB caption index (``laion_caption_index__<encoder>``,
    with text and URL) and writes the part's FAISS shard beside it (``<home>/faiss/``): ``all``
    of them (from the vectors the release ships, read by row; or
    encoded, when chosen explicitly) or the ``matched`` ones, reusing the vectors ``text_sims``
    cached (no caption is embedded again).  Returns what it indexed."""
    key = context.partition_key
    encoders = text_sims["encoder"].unique().to_list()
    encoder_id = encoders[0] if encoders else text_encoder.load().encoder_id
    index = CaptionIndex(str(storage.root / "lancedb"), encoder_id)
    registered = storage.registry.load()
    part = registered.get(key)
    parts = max(1, sum(p.get("release") == (part or {}).get("release") for p in registered.values()))
    handle, why = shipped.choose_source("auto", part, "text", text_encoder.release_tag())
    scope = config.captions if config.captions != "auto" else ("all" if handle is not None else "matched")
    if scope == "all" and part is not None:
        stored, facts, indexed = _index_all(
            context,
            index,
            {**part, "key": key},
            handle,
            text_encoder.load(),
            DEFAULT_MAX_CAPTION_BYTES,
            parts,
        )
        source = why if handle is not None else "encode: all captions, chosen explicitly"
        missing = 0
    else:
        rows = text_sims.select("sample_id").join(
            lemma_matches.select("sample_id", "url", "text"), on="sample_id", how="inner"
        )
        hashes = text_hash(rows["text"].to_list()).tolist()
        found = storage.embedding_cache().lookup(encoder_id, hashes)
        present = [i for i, h in enumerate(hashes) if h in found]
        vectors = np.stack([found[hashes[i]] for i in present]) if present else np.zeros((0, 1), np.float32)
        indexed = rows[present]
        stored = index.add_part(
            key, indexed["sample_id"].to_list(), vectors, indexed["text"].to_list(), indexed["url"].to_list()
        )
        if present:
            shard = index.shard_writer(key, vectors.shape[1], len(present) * parts)
            shard.add(indexed["sample_id"].to_list(), vectors)
            shard.close()
        facts, source, missing = {}, "the text_sims cache (matched captions)", rows.height - len(present)
    context.add_output_metadata(
        {
            "encoder": encoder_id,
            "captions": scope,
            "vector_source": source,
            "indexed": stored,
            "missing_from_cache": missing,
            **facts,
            "table": f"laion_caption_index__{encoder_id}",
            "faiss_shard": str(index.shards_folder),
        }
    )
    return indexed.select("sample_id").with_columns(
        release_part=pl.lit(key), encoder=pl.lit(encoder_id), captions=pl.lit(scope)
    )


class NearestConfig(dg.Config):
    threshold: float = Field(
        default=0.7, description="keep a LAION caption when its similarity exceeds this (paper: 0.7)"
    )
    ann_min_rows: int = Field(
        default=ANN_MIN_ROWS, description="IVF-PQ index from this many indexed captions; exact search below"
    )
    recall_sample: int = Field(
        default=1000, description="queries whose approximate match is checked against exact search"
    )
    nprobe: int = Field(default=DEFAULT_NPROBE, description="faiss: IVF lists searched per query")
    refine: int = Field(
        default=DEFAULT_REFINE, description="faiss: candidates per query re-ranked exactly (float16 vectors)"
    )
    engine: str = Field(
        default="auto",
        description="exact (chunked matrix products, one pass over the stored vectors), faiss (IVF-PQ "
        "with exact re-ranking, CPU), ivf_pq (LanceDB's index), or auto: exact on a GPU or below "
        "ann_min_rows, else faiss",
    )

    _engine = field_validator("engine")(
        classmethod(lambda cls, v: check_choice(v, SEARCH_ENGINES, "search engine"))
    )

    _threshold = field_validator("threshold")(classmethod(lambda cls, v: check_threshold(v)))

    _nprobe = positive("nprobe")
    _refine = positive("refine")


def indexed_encoders(parts: dict[str, pl.LazyFrame]) -> list[str]:
    """The encoders of the indexed parts, one column of each part read."""
    if not parts:
        return []
    frames = pl.collect_all(
        [f.select(pl.col("encoder").unique()) for f in parts.values()], engine="streaming"
    )
    return sorted(set(pl.concat(frames)["encoder"].drop_nulls().to_list()))


@dg.asset(
    group_name=GROUP,
    ins={"laion_caption_index": dg.AssetIn()},
    # the captions are searched in the LanceDB/FAISS index; lemma_matches only for lineage
    deps=["lemma_matches"],
    kinds={"lancedb", "polars"},
    metadata=headline(
        "LAION found by caption search alone (nearest to an ImageNet-Captions text, similarity > {threshold})"
    ),
)
def captions_nearest_laion(
    context: dg.AssetExecutionContext,
    config: NearestConfig,
    storage: LaionetStorage,
    text_encoder: TextEncoderResource,
    imagenet_captions: pl.DataFrame,
    laion_caption_index: dict[str, pl.LazyFrame],
) -> pl.DataFrame:
    """Paper §4.3: for each ImageNet-Captions text the most similar indexed LAION caption.  One row
    per LAION caption that is some text's nearest (a LAION row matched by several texts is kept
    once, with the class of its most similar text), its ``similarity``, and ``selected`` where that
    exceeds the threshold: the selected rows are the text-matched dataset; all rows answer the
    threshold sweep of Appendix E.  Reports recall@1 of the IVF-PQ index against exact search on
    a sample when the index is approximate."""
    encoder = text_encoder.load()
    encoders = indexed_encoders(laion_caption_index)
    if encoders and encoders != [encoder.encoder_id]:
        raise ValueError(
            f"the caption index holds {encoders}, the text encoder is {encoder.encoder_id}: use one encoder"
        )
    index = CaptionIndex(str(storage.root / "lancedb"), encoder.encoder_id)
    device = resolve_device(text_encoder.device)
    if config.engine == "auto":  # chosen by measurement: see the README's benchmarks
        small = index.count() < config.ann_min_rows
        search = "exact" if device.startswith("cuda") or small else "faiss"
    else:
        search = config.engine
    if search == "ivf_pq":
        index.build(0)
    progress = Progress(imagenet_captions.height, "ImageNet-Captions embeddings", context.log.info)
    queries, _ = encode_with_cache(
        encoder, imagenet_captions["text"].to_list(), storage.embedding_cache(), progress.update
    )
    started = time.perf_counter()
    nearest = (
        index.nearest_faiss(queries, config.nprobe, config.refine, context.log.info)
        if search == "faiss"
        else index.nearest(queries, device=device, engine=search)
    )
    query_s = time.perf_counter() - started
    matches, counts = match_nearest(imagenet_captions, nearest, config.threshold)
    meta = {
        "search": search,
        "search_device": device if search == "exact" else "cpu",
        "indexed_captions": index.count(),
        **counts,
        "queries_per_second": round(len(queries) / max(query_s, 1e-9), 1),
        "threshold": config.threshold,
    }
    if search == "faiss":
        meta.update(
            {"nprobe": config.nprobe, "refine": config.refine, "faiss_shards": str(index.shards_folder)}
        )
    if search != "exact" and len(queries):
        meta["recall_at_1_vs_exact"] = recall_at_1(index, queries, config.recall_sample, found=nearest)
    captions = index.captions(matches["sample_id"]).unique("sample_id")  # stored with their text and URL
    out = matches.join(captions, on="sample_id", how="left").with_columns(
        threshold=pl.lit(config.threshold, pl.Float64)
    )
    context.add_output_metadata({**meta, "preview": markdown_table(out.filter("selected"), 10)})
    return out
