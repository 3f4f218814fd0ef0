"""Paper §4.2: ImageNet-Captions texts vs the synsets (imagenet_captions → caption_synset_similarity)."""

import time

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from laionet_assets.assets.creation import _table
from laionet_assets.core.captions import CAPTIONS_SCHEMA, binned_proportions, load_imagenet_captions, synset_rank_stats
from laionet_assets.core.embedding_cache import encode_with_cache
from laionet_assets.core.figures import text_synset_figure
from laionet_assets.core.progress import Progress, library_versions
from laionet_assets.executors import GPU_STEP_TAGS
from laionet_assets.resources import ImageFolders, LaionetStorage, TextEncoderResource, write_parquet_atomic

GROUP = "laionet_text_only"


@dg.asset(group_name=GROUP, kinds={"polars"})
def imagenet_captions(context: dg.AssetExecutionContext, image_folders: ImageFolders,
                      imagenet_synsets: pl.DataFrame) -> pl.DataFrame:
    """ImageNet-Captions (Fang et al. 2022): ``filename``, ``wnid``, ``text`` = title, tags and
    description joined by spaces; duplicates by filename and bad entries dropped and counted.
    Source: the ``image_folders`` resource's ``imagenet_captions`` (path or fsspec URL)."""
    source = image_folders.imagenet_captions
    if not source:
        context.add_output_metadata({"configured": False, "rows": 0})
        return pl.DataFrame(schema=CAPTIONS_SCHEMA)
    frame, counts = load_imagenet_captions(source, imagenet_synsets["wnid"].to_list())
    context.add_output_metadata({"configured": True, "source": source, **counts, "preview": _table(frame, 10)})
    return frame


class CaptionSynsetConfig(dg.Config):
    bin_width: float = Field(default=0.05, description="width of the intended-similarity bins of Fig. 9(b)")


@dg.asset(group_name=GROUP, pool="gpu", op_tags=GPU_STEP_TAGS, kinds={"pytorch", "numpy"})
def caption_synset_similarity(context: dg.AssetExecutionContext, config: CaptionSynsetConfig, storage: LaionetStorage,
                              text_encoder: TextEncoderResource, imagenet_captions: pl.DataFrame,
                              imagenet_synsets: pl.DataFrame) -> pl.DataFrame:
    """Per ImageNet-Captions text: similarity to its own synset text, how many of the other 999
    synset texts are more similar, and that as a proportion; the binned proportions with 95%
    intervals (``reports/caption_synset_bins.parquet``) and paper Fig. 9."""
    encoder = text_encoder.get()
    cache = storage.embedding_cache()
    started = time.perf_counter()
    progress = Progress(imagenet_captions.height, "ImageNet-Captions embeddings", context.log.info)
    texts, stats = encode_with_cache(encoder, imagenet_captions["text"].to_list(), cache, progress.update)
    synsets, _ = encode_with_cache(encoder, imagenet_synsets["synset_text"].to_list(), cache)
    intended = imagenet_captions.join(imagenet_synsets.select("wnid", "class_index"), on="wnid", how="left")["class_index"].to_numpy()
    own, more = synset_rank_stats(texts, synsets, intended) if imagenet_captions.height else (np.zeros(0), np.zeros(0, np.int64))
    others = imagenet_synsets.height - 1
    out = imagenet_captions.select("filename", "wnid").with_columns(
        intended_similarity=pl.Series(own, dtype=pl.Float32), unintended_more_similar=pl.Series(more, dtype=pl.Int64),
        proportion_more_similar=pl.Series(more / others, dtype=pl.Float64), encoder=pl.lit(encoder.encoder_id))
    edges = np.round(np.arange(-1.0, 1.0 + config.bin_width / 2, config.bin_width), 6)
    bins = binned_proportions(own, more / others, edges).filter(pl.col("n") > 0)
    write_parquet_atomic(bins, storage.reports / "caption_synset_bins.parquet")
    fig = text_synset_figure(own, bins, encoder.encoder_id, storage.reports / "fig9_text_vs_synsets.png")
    context.add_output_metadata({
        "encoder": encoder.encoder_id, "rows": out.height, **{f"embedding_{k}": v for k, v in stats.items()},
        "median_intended_similarity": float(np.median(own)) if own.size else None,
        "mean_proportion_more_similar": float((more / others).mean()) if more.size else None,
        "bins": _table(bins), "fig9_text_vs_synsets": dg.MetadataValue.path(str(fig)),
        "seconds": round(time.perf_counter() - started, 2),
        "versions": dg.MetadataValue.json(library_versions("torch", "open_clip_torch", "sentence-transformers")),
    })
    return out
