"""LAIONet's candidates gathered from every release part, in memory that does not grow with the
release (paper §2 over LAION-400M's 32 parts, LAION-2B-en's 128, …).

A candidate is a single-label caption of one part: its ``text_sims`` row (the caption's
similarity to its synset text) joined with its ``lemma_matches`` row (safety signal, size, URL,
caption).  The steps that gather every part read each part's two tables lazily
(``pl.LazyFrame`` scans), one part at a time:

- :func:`summarize` reads the join keys, class, similarity and safety signal only, and keeps of
  each part its counts by outcome, the similarities the safety policy keeps (4 bytes a
  candidate: Fig. 3's histogram, the sweep's quantiles) and each class's highest similarity
  (Fig. 3's class coverage).
- :func:`select_rows` filters by threshold and policy first, and fetches ``url`` and ``text``
  only for the rows kept.

Their results equal the eager join of every part's whole tables (``testing.eager``), which needs
a full copy of every part in memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import polars as pl

from laionet_assets.core.text.selection import (
    DEFAULT_MAX_UNSAFE_SCORE,
    LAIONET_SCHEMA,
    check_threshold,
    finish_selection,
    safety_ok,
    selection_counts,
)

SAFETY = ["nsfw_tag", "unsafe_score"]
STREAMING = "streaming"  # polars' engine for scans: morsel by morsel where it can


@dataclass(frozen=True)
class PartTables:
    """One release part's two tables, as lazy frames (or frames, made lazy)."""

    lemma_matches: pl.LazyFrame
    text_sims: pl.LazyFrame

    @property
    def keys(self) -> list[str]:
        """The join keys: the row handle makes the join one-to-one even where a sample id repeats
        (text_sims written before it carried ``part_row`` join on the id alone)."""
        return ["sample_id", "part_row"] if "part_row" in self.text_sims.collect_schema() else ["sample_id"]

    def scored(self, *columns: str) -> pl.LazyFrame:
        """The part's candidates: class, similarity, ``part_row`` and the ``lemma_matches``
        columns asked for."""
        on = self.keys
        handle = [] if "part_row" in on else ["part_row"]
        return (
            self.text_sims.select(*on, "wnid", "text_similarity")
            .join(self.lemma_matches.select(*on, *handle, *columns), on=on, how="inner")
            .with_columns(pl.col("part_row").cast(pl.Int64))
        )


def parts_of(lemma_matches: dict, text_sims: dict) -> dict[str, PartTables]:
    """Every part with both tables, by key in sorted order; eager frames are made lazy."""
    return {
        key: PartTables(lemma_matches[key].lazy(), sims.lazy())
        for key, sims in sorted(text_sims.items())
        if key in lemma_matches
    }


@dataclass(frozen=True)
class CandidateSummary:
    """What LAIONet's figures and checks need of every candidate, a few bytes a candidate."""

    counts: dict[str, int]  # core.text.selection.selection_counts, summed over the parts
    similarities: np.ndarray  # float32, ascending: the similarity of every candidate the policy keeps
    class_max: pl.DataFrame  # wnid, text_similarity: each class's highest of those
    encoders: list[str]  # the text encoders that scored the parts
    sources: dict[str, int]  # rows by the source of their caption vectors


def summarize(
    parts: dict[str, PartTables],
    threshold: float,
    nsfw_policy: str = "auto",
    max_unsafe_score: float = DEFAULT_MAX_UNSAFE_SCORE,
) -> CandidateSummary:
    """One pass over each part's keys, classes, similarities and safety signals."""
    check_threshold(threshold)
    ok = safety_ok(nsfw_policy, max_unsafe_score)
    counts: Counter = Counter()
    sources: Counter = Counter()
    similarities, maxima, encoders = [], [], set()
    for part in parts.values():
        scored = part.scored(*SAFETY)
        kept = scored.filter(ok)
        # text_sims from before sources were recorded were encoded
        source = "source" if "source" in part.text_sims.collect_schema() else pl.lit("encode").alias("source")
        totals, sims, best, used, by_source = pl.collect_all(
            [
                scored.select(**selection_counts(threshold, nsfw_policy, max_unsafe_score)),
                kept.select(pl.col("text_similarity").cast(pl.Float32)),
                kept.group_by("wnid").agg(pl.col("text_similarity").max()),
                part.text_sims.select(pl.col("encoder").unique()),
                part.text_sims.group_by(source).agg(pl.len()),
            ],
            engine=STREAMING,
        )
        counts.update({k: int(v or 0) for k, v in totals.row(0, named=True).items()})
        similarities.append(sims.to_series().to_numpy())
        maxima.append(best)
        encoders.update(used["encoder"].drop_nulls().to_list())
        sources.update({source: n for source, n in by_source.iter_rows() if n})
    class_max = (
        pl.concat(maxima).group_by("wnid").agg(pl.col("text_similarity").max())
        if maxima
        else pl.DataFrame(schema={"wnid": pl.String, "text_similarity": pl.Float32})
    )
    zero = dict.fromkeys(selection_counts(threshold), 0)
    return CandidateSummary(
        counts={**zero, **counts},
        similarities=_sorted(similarities),
        class_max=class_max,
        encoders=sorted(encoders),
        sources=dict(sources),
    )


def _sorted(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays as one, sorted in place: no second copy."""
    joined = np.concatenate(arrays) if arrays else np.zeros(0, np.float32)
    joined.sort()
    return joined


KEYS_SCHEMA = {
    "sample_id": pl.String,
    "wnid": pl.String,
    "text_similarity": pl.Float32,
    "release_part": pl.String,
    "part_row": pl.Int64,
}


def policy_kept(
    part: PartTables,
    key: str,
    nsfw_policy: str = "auto",
    max_unsafe_score: float = DEFAULT_MAX_UNSAFE_SCORE,
) -> pl.DataFrame:
    """One part's candidates that the safety policy keeps, at any similarity: their keys, class
    and similarity (``KEYS_SCHEMA``), no caption or URL."""
    return (
        part.scored(*SAFETY)
        .filter(safety_ok(nsfw_policy, max_unsafe_score))
        .with_columns(release_part=pl.lit(key))
        .select(list(KEYS_SCHEMA))
        .cast(KEYS_SCHEMA)
        .collect(engine=STREAMING)
    )


def with_captions(parts: dict[str, PartTables], rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (``release_part``, ``sample_id``, ``part_row``) with their ``url`` and ``text``,
    read part by part for those rows only."""
    frames = []
    for (key,), chosen in rows.group_by(["release_part"], maintain_order=True):
        frames.append(
            parts[key]
            .lemma_matches.select("sample_id", pl.col("part_row").cast(pl.Int64), "url", "text")
            .filter(pl.col("part_row").is_in(chosen["part_row"].unique().implode()))
            .with_columns(release_part=pl.lit(key))
            .collect(engine=STREAMING)
        )
    found = (
        pl.concat(frames)
        if frames
        else pl.DataFrame(
            schema={
                "sample_id": pl.String,
                "part_row": pl.Int64,
                "url": pl.String,
                "text": pl.String,
                "release_part": pl.String,
            }
        )
    )
    return rows.join(
        found.unique(["release_part", "sample_id", "part_row"]),
        on=["release_part", "sample_id", "part_row"],
        how="left",
        maintain_order="left",
    )


def select_rows(
    parts: dict[str, PartTables],
    threshold: float,
    nsfw_policy: str = "auto",
    max_unsafe_score: float = DEFAULT_MAX_UNSAFE_SCORE,
) -> pl.DataFrame:
    """The candidates above ``threshold`` that the policy keeps, every column of
    ``LAIONET_SCHEMA`` and ``nsfw_missing``, in LAIONet's order: each part's threshold and policy
    are applied before its captions and URLs are read, which are then read for the kept rows only."""
    check_threshold(threshold)
    keep = safety_ok(nsfw_policy, max_unsafe_score) & (pl.col("text_similarity") > threshold)
    frames = []
    for key, part in parts.items():
        kept = part.scored(*SAFETY, "width", "height").filter(keep).collect(engine=STREAMING)
        text = (
            part.lemma_matches.select("sample_id", pl.col("part_row").cast(pl.Int64), "url", "text")
            .filter(pl.col("part_row").is_in(kept["part_row"].implode()))
            .collect(engine=STREAMING)
        )
        frames.append(
            kept.join(text, on=["sample_id", "part_row"], how="left")
            .with_columns(release_part=pl.lit(key))
            .select(list(LAIONET_SCHEMA))
            .cast(LAIONET_SCHEMA)
        )
    rows = pl.concat(frames) if frames else pl.DataFrame(schema=LAIONET_SCHEMA)
    return finish_selection(rows)


def drop_repeated_urls(laionet: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """A union release's LAIONet with each URL once (its folders overlap: LAION-5B's three
    subsets, a release and its re-release): the row most similar to its synset text kept (ties
    by LAIONet's order), rows without a URL all kept; and how many rows were dropped."""
    ranked = laionet.with_row_index("_order").sort(
        ["text_similarity", "_order"], descending=[True, False], nulls_last=True
    )
    kept = pl.concat(
        [
            ranked.filter(pl.col("url").is_null()),
            ranked.filter(pl.col("url").is_not_null()).unique("url", keep="first"),
        ]
    )
    kept = kept.sort("_order").drop("_order")
    return kept, laionet.height - kept.height
