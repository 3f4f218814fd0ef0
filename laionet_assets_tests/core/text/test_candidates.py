"""LAIONet gathered part by part from lazy scans equals the eager join of every part's whole tables
(``testing.eager``): rows, order, counts, Fig. 3's curve and similarities, on crafted parts with
nulls, repeated sample ids within and across parts, old text_sims without ``part_row`` or
``source``, and every safety policy."""

import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from laionet_assets.core.io.storage import scan_parquet
from laionet_assets.core.text.candidates import PartTables, parts_of, select_rows, summarize
from laionet_assets.core.text.selection import NSFW_POLICIES, coverage_from, laionet_counts
from laionet_assets.testing import eager

TAGS = st.sampled_from(["UNLIKELY", "UNSURE", "NSFW", None])
SCORES = st.one_of(st.none(), st.sampled_from([0.0, 0.1, 0.5, 0.51, 1.0]))
# few distinct values: ties in similarity, and rows exactly at the thresholds
SIMILARITIES = st.sampled_from([0.1, 0.3, 0.5, 0.82, 0.8200001, 0.9, 0.9])

LEMMA_SCHEMA = {
    **{c: pl.String for c in ("sample_id", "url", "text", "nsfw_tag")},
    "unsafe_score": pl.Float32,
    "language": pl.String,
    "width": pl.Int32,
    "height": pl.Int32,
    "part_row": pl.Int64,
}
SIMS_SCHEMA = {
    "sample_id": pl.String,
    "part_row": pl.Int64,
    "wnid": pl.String,
    "text_similarity": pl.Float32,
    "encoder": pl.String,
    "source": pl.String,
}


@st.composite
def part(draw, key: str):
    """One part's lemma_matches and text_sims (a single-label subset of its rows)."""
    n = draw(st.integers(0, 12))
    ids = [f"s{draw(st.integers(0, 6))}" for _ in range(n)]  # repeats within and across parts
    lemma = pl.DataFrame(
        {
            "sample_id": ids,
            "url": [draw(st.one_of(st.none(), st.just(f"http://x/{key}/{i}"))) for i in range(n)],
            "text": [draw(st.one_of(st.none(), st.just(f"a {key} caption {i}"))) for i in range(n)],
            "nsfw_tag": [draw(TAGS) for _ in range(n)],
            "unsafe_score": [draw(SCORES) for _ in range(n)],
            "language": ["en"] * n,
            "width": [draw(st.one_of(st.none(), st.integers(1, 9))) for _ in range(n)],
            "height": [draw(st.one_of(st.none(), st.integers(1, 9))) for _ in range(n)],
            "part_row": list(range(n)),
        },
        schema=LEMMA_SCHEMA,
    )
    single = [i for i in range(n) if draw(st.booleans())]
    sims = pl.DataFrame(
        {
            "sample_id": [ids[i] for i in single],
            "part_row": single,
            "wnid": [draw(st.sampled_from(["n1", "n2", "n3"])) for _ in single],
            "text_similarity": [draw(SIMILARITIES) for _ in single],
            "encoder": ["clip"] * len(single),
            "source": [draw(st.sampled_from(["encode", "shipped"])) for _ in single],
        },
        schema=SIMS_SCHEMA,
    )
    if draw(st.booleans()):  # text_sims written before they carried the row handle
        sims = sims.drop("part_row")
        if sims["sample_id"].is_duplicated().any() or lemma["sample_id"].is_duplicated().any():
            sims = sims.unique("sample_id", keep="first", maintain_order=True)
    if draw(st.booleans()):  # or the source of their vectors
        sims = sims.drop("source")
    return lemma, sims


@st.composite
def release(draw):
    keys = [f"p{i}" for i in range(draw(st.integers(0, 3)))]
    tables = {key: draw(part(key)) for key in keys}
    return {k: t[0] for k, t in tables.items()}, {k: t[1] for k, t in tables.items()}


def scanned(lemma: dict, sims: dict, folder: Path) -> dict[str, PartTables]:
    """The parts as the IO manager hands them to the step: lazy scans of Parquet files."""
    for name, frames in (("lemma_matches", lemma), ("text_sims", sims)):
        for key, frame in frames.items():
            frame.write_parquet(folder / f"{name}-{key}.parquet")
    return parts_of(
        {k: scan_parquet(folder / f"lemma_matches-{k}.parquet") for k in lemma},
        {k: scan_parquet(folder / f"text_sims-{k}.parquet") for k in sims},
    )


@settings(max_examples=80, deadline=None)
@given(
    release(),
    st.sampled_from([0.0, 0.3, 0.82, 0.9]),
    st.sampled_from(NSFW_POLICIES),
    st.sampled_from([0.1, 0.5]),
)
def test_the_lazy_gather_equals_the_eager_join(tables, threshold, policy, max_score):
    lemma, sims = tables
    expected = eager.laionet(lemma, sims, threshold, policy, max_score)
    with tempfile.TemporaryDirectory() as folder:
        parts = scanned(lemma, sims, Path(folder))
        summary = summarize(parts, threshold, policy, max_score)
        rows = select_rows(parts, threshold, policy, max_score)
    assert_frame_equal(rows, expected["laionet"], check_row_order=True)
    assert laionet_counts(summary.counts, rows) == expected["counts"]
    assert_frame_equal(coverage_from(summary.similarities, summary.class_max), expected["coverage"])
    np.testing.assert_array_equal(np.sort(summary.similarities), expected["similarities"])
    assert summary.encoders == expected["encoders"]
    assert summary.sources == expected["sources"]


def test_the_summary_reads_no_caption_or_url(tmp_path):
    """The pass over every candidate reads keys, class, similarity and safety signal only (4 of
    the 8 lemma_matches columns here); captions and URLs are read for the kept rows alone."""
    lemma = pl.DataFrame(
        {
            "sample_id": ["a", "b"],
            "nsfw_tag": ["UNLIKELY", "NSFW"],
            "unsafe_score": pl.Series([None, None], dtype=pl.Float32),
            "width": pl.Series([1, 2], dtype=pl.Int32),
            "height": pl.Series([1, 2], dtype=pl.Int32),
            "part_row": [0, 1],
            "url": ["http://x/a", "http://x/b"],
            "text": ["a cat", "b cat"],
        }
    )
    sims = pl.DataFrame(
        {"sample_id": ["a", "b"], "part_row": [0, 1], "wnid": ["n1", "n1"], "text_similarity": [0.9, 0.95]},
        schema_overrides={"text_similarity": pl.Float32},
    ).with_columns(encoder=pl.lit("clip"))
    parts = scanned({"p": lemma}, {"p": sims}, tmp_path)
    plan = parts["p"].scored("nsfw_tag", "unsafe_score").explain()
    assert plan.split("RIGHT PLAN")[1].count("PROJECT 4/8 COLUMNS") == 1, plan
    # with the caption and URL columns gone, the summary still runs: it never asks for them
    captionless = {"p": PartTables(lemma.drop("url", "text").lazy(), sims.lazy())}
    assert summarize(captionless, 0.8, "require_unlikely").counts["dropped_nsfw_policy"] == 1
    rows = select_rows(parts, 0.8, "require_unlikely")
    assert rows.select("sample_id", "url", "text").rows() == [("a", "http://x/a", "a cat")]


def test_no_parts_give_an_empty_laionet_with_its_schema():
    summary = summarize({}, 0.5)
    assert summary.counts["candidates"] == 0 and summary.similarities.size == 0
    rows = select_rows({}, 0.5)
    assert rows.height == 0 and "nsfw_missing" in rows.columns


def test_a_threshold_outside_the_cosine_range_is_refused():
    with pytest.raises(ValueError, match="outside"):
        select_rows({}, 1.5)
