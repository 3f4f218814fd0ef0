"""The eager reference of LAIONet's gather: every part's whole ``lemma_matches`` and ``text_sims``
loaded, joined into one frame of candidates and selected from it.  Obviously right and memory-
hungry (a full copy of every part's captions and URLs, ~0.9 GiB per million candidates): the
tests compare ``core.text.candidates`` with it, and ``benchmarks/bench_fanin.py`` measures both."""

from __future__ import annotations

import numpy as np
import polars as pl

from laionet_assets.core.text.selection import (
    LAIONET_SCHEMA,
    coverage_curve,
    safety_ok,
    select_laionet,
)


def candidates(lemma_matches: dict[str, pl.DataFrame], text_sims: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Every part's single-label candidates with every ``LAIONET_SCHEMA`` column, parts in key order."""
    frames = []
    for part, sims in sorted(text_sims.items()):
        if part not in lemma_matches:
            continue
        meta = lemma_matches[part].select(
            "sample_id", "url", "text", "nsfw_tag", "unsafe_score", "width", "height", "part_row"
        )
        on = ["sample_id", "part_row"] if "part_row" in sims.columns else ["sample_id"]
        frames.append(
            sims.select(*on, "wnid", "text_similarity")
            .join(meta, on=on, how="inner")
            .with_columns(release_part=pl.lit(part), part_row=pl.col("part_row").cast(pl.Int64))
            .select(list(LAIONET_SCHEMA))
        )
    if not frames:
        return pl.DataFrame(schema=LAIONET_SCHEMA)
    return pl.concat(frames, how="vertical_relaxed").cast(LAIONET_SCHEMA)


def laionet(
    lemma_matches: dict[str, pl.DataFrame],
    text_sims: dict[str, pl.DataFrame],
    threshold: float,
    nsfw_policy: str = "auto",
    max_unsafe_score: float = 0.5,
) -> dict:
    """What the ``laionet`` step computes from its candidates: ``laionet`` (rows and counts),
    ``coverage`` (Fig. 3's curve), ``similarities`` (the policy-kept candidates', sorted) and
    ``encoders``/``sources`` of the caption vectors."""
    every = candidates(lemma_matches, text_sims)
    kept, counts = select_laionet(every, threshold, nsfw_policy, max_unsafe_score)
    policy_ok = every.filter(safety_ok(nsfw_policy, max_unsafe_score))
    sources: dict[str, int] = {}
    for frame in text_sims.values():
        column = frame["source"] if "source" in frame.columns else pl.Series(["encode"] * frame.height)
        for source, n in column.value_counts().iter_rows():
            sources[source] = sources.get(source, 0) + n
    return {
        "laionet": kept,
        "counts": counts,
        "coverage": coverage_curve(policy_ok),
        "similarities": np.sort(policy_ok["text_similarity"].to_numpy()),
        "encoders": sorted(
            {e for f in text_sims.values() for e in f["encoder"].drop_nulls().unique().to_list()}
        ),
        "sources": sources,
    }
