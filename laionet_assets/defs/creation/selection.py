"""LAIONet of a release selected from its parts' text_sims: laionet_clean, laionet_top50, the
coverage curve and the class frequencies (paper §2, Figs. 3 and 4)."""

import time

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field, field_validator

from laionet_assets.core.io.progress import peak_memory_gib
from laionet_assets.core.report.figures import class_frequency_figure, coverage_figure
from laionet_assets.core.text import selection as core_laionet
from laionet_assets.core.text.candidates import (
    CandidateSummary,
    PartTables,
    drop_repeated_urls,
    parts_of,
    select_rows,
    summarize,
)
from laionet_assets.defs.lib import figure, headline, markdown_table
from laionet_assets.defs.partitions import RELEASE_LEVEL, of_release_parts
from laionet_assets.resources import LaionetStorage, TextEncoderResource

GROUP = "laionet_creation"


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


def _parts_without_safety_signal(storage: LaionetStorage, keys: list[str]) -> list[str]:
    registered = storage.registry.load()
    return [k for k in keys if registered.get(k, {}).get("safety") == "none"]


def selection_inputs(
    config: LaionetSelectionConfig,
    storage: LaionetStorage,
    text_encoder: TextEncoderResource,
    lemma_matches: dict[str, pl.LazyFrame],
    text_sims: dict[str, pl.LazyFrame],
) -> tuple[float, dict[str, PartTables], CandidateSummary, list[str]]:
    """LAIONet's threshold, its parts (read lazily, one at a time), the summary of their
    candidates (the single-label rows with their similarity) and the parts without a safety
    signal; an error when the parts were scored by different encoders, or when a policy would
    silently drop a part with no safety signal."""
    threshold = text_encoder.threshold if config.threshold is None else config.threshold
    unsignalled = _parts_without_safety_signal(storage, sorted(text_sims))
    if unsignalled and config.nsfw_policy != "none":
        raise dg.Failure(
            f"part(s) {', '.join(unsignalled)} come from a release with no safety signal (no NSFW tag, no "
            f"unsafe score); the '{config.nsfw_policy}' policy would drop every row. Accept them unfiltered "
            "explicitly with --nsfw-policy none (and --nsfw-policy-required none for the check)"
        )
    parts = parts_of(lemma_matches, text_sims)
    summary = summarize(parts, threshold, config.nsfw_policy, config.max_unsafe_score)
    if len(summary.encoders) > 1:
        raise ValueError(
            "text_sims partitions were computed with different "
            f"encoders {summary.encoders}; re-materialise them with one encoder"
        )
    return threshold, parts, summary, unsignalled


def release_rows(
    context: dg.AssetExecutionContext,
    storage: LaionetStorage,
    parts: dict[str, PartTables],
    threshold: float,
    config: LaionetSelectionConfig,
) -> tuple[pl.DataFrame, dict]:
    """The step's release's selected rows (``select_rows``), each URL once where the release is a
    union of several folders, and what the metadata says of the release: its name, folders,
    layouts (parts per layout) and the rows dropped as repeated URLs."""
    release = context.partition_key
    rows = select_rows(parts, threshold, config.nsfw_policy, config.max_unsafe_score)
    entries = storage.registry.load()
    folders = storage.registry.folders(release, entries)
    dropped = 0
    if len(folders) > 1:
        rows, dropped = drop_repeated_urls(rows)
    layouts: dict[str, int] = {}
    for key in parts:
        layout = entries.get(key, {}).get("layout", "unknown")
        layouts[layout] = layouts.get(layout, 0) + 1
    facts = {
        "release": release,
        "release_folders": dg.MetadataValue.json(folders),
        "release_layouts": dg.MetadataValue.json(layouts),
        "dropped_duplicate_url": dropped,
    }
    return rows, facts


@dg.multi_asset(
    group_name=GROUP,
    **RELEASE_LEVEL,
    outs={
        "laionet_clean": dg.AssetOut(
            description="LAIONet: single-label captions above the similarity threshold that pass the NSFW "
            "policy",
            kinds={"polars"},
            metadata=headline("LAIONet", rows_required=True),
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
    ins={
        "lemma_matches": of_release_parts(),
        "text_sims": of_release_parts(),
        "imagenet_synsets": dg.AssetIn(),
    },
)
def laionet(
    context: dg.AssetExecutionContext,
    config: LaionetConfig,
    storage: LaionetStorage,
    text_encoder: TextEncoderResource,
    lemma_matches: dict[str, pl.LazyFrame],
    text_sims: dict[str, pl.LazyFrame],
    imagenet_synsets: pl.DataFrame,
):
    """Paper §2, for one release: the union over its parts of the selected captions
    (``laionet_clean``), its top rows per class (Appendix B), the coverage-vs-threshold curve
    (Fig. 3) and class frequencies (Fig. 4), each a table with its PNG figure.  A union release
    (several folders under one name) keeps each URL once."""
    started = time.perf_counter()
    threshold, parts, summary, unsignalled = selection_inputs(
        config, storage, text_encoder, lemma_matches, text_sims
    )
    clean, release = release_rows(context, storage, parts, threshold, config)
    counts = core_laionet.laionet_counts(summary.counts, clean)
    top = core_laionet.top_per_class(clean, config.top_k)
    curve = core_laionet.coverage_from(summary.similarities, summary.class_max)
    frequencies = core_laionet.class_frequencies(clean, imagenet_synsets)
    encoder_name = summary.encoders[0] if summary.encoders else text_encoder.kind
    fig3 = coverage_figure(
        summary.similarities,
        curve,
        threshold,
        encoder_name,
        storage.figure_path("coverage_vs_threshold", context.partition_key),
    )
    fig4 = class_frequency_figure(
        frequencies, storage.figure_path("class_frequencies", context.partition_key)
    )
    present = set(clean["wnid"].unique().to_list())
    missing = [w for w in imagenet_synsets["wnid"].to_list() if w not in present]
    common = {
        **release,
        "threshold": threshold,
        "text_embedding_source": dg.MetadataValue.json(summary.sources),
        "nsfw_policy": config.nsfw_policy,
        "max_unsafe_score": config.max_unsafe_score,
        "parts_without_safety_signal": dg.MetadataValue.json(unsignalled),
        "encoder": encoder_name,
        "release_parts": dg.MetadataValue.json(sorted(parts)),
        "seconds": round(time.perf_counter() - started, 2),
        "peak_memory_gib": peak_memory_gib(),
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
