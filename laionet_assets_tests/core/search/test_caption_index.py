import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laionet_assets.core.search.caption_index import CaptionIndex, match_nearest, recall_at_1


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n, dim=32, clusters=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    return unit(centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, dim)))


def test_exact_search_is_the_brute_force_argmax(tmp_path):
    vectors = clustered(600)
    index = CaptionIndex(str(tmp_path), "enc")
    assert index.add_part("p0", [f"a{i}" for i in range(300)], vectors[:300]) == 300
    assert index.add_part("p1", [f"a{i}" for i in range(300, 600)], vectors[300:]) == 300
    assert index.add_part("p1", [f"a{i}" for i in range(300, 600)], vectors[300:]) == 300  # idempotent
    assert index.count() == 600 and index.build(ann_min_rows=10_000) == "exact"
    queries = clustered(50, seed=1)
    got = index.nearest(queries, exact=True, chunk=16)
    sims = queries @ vectors.T
    assert got["query"].to_list() == list(range(50))
    assert got["sample_id"].to_list() == [f"a{j}" for j in sims.argmax(axis=1)]
    np.testing.assert_allclose(got["similarity"].to_numpy(), sims.max(axis=1), atol=1e-5)


def test_ivf_pq_index_has_high_recall_on_clustered_data(tmp_path):
    vectors = clustered(5000, seed=2)
    index = CaptionIndex(str(tmp_path), "enc")
    index.add_part("p0", [str(i) for i in range(5000)], vectors)
    assert index.build(ann_min_rows=1000) == "ivf_pq"
    # queries with a close caption in the table (what a 0.7 threshold keeps), as in the paper's use
    rng = np.random.default_rng(3)
    queries = unit(vectors[rng.choice(5000, 300, replace=False)] + 0.05 * rng.normal(size=(300, 32)))
    assert recall_at_1(index, queries, sample=200, nprobes=20, refine_factor=10) >= 0.95


def test_match_nearest_threshold_and_duplicates():
    captions = pl.DataFrame(
        {
            "filename": ["f0", "f1", "f2", "f3", "f4"],
            "wnid": ["w0", "w1", "w1", "w2", "w3"],
            "text": ["t"] * 5,
        }
    )
    nearest = pl.DataFrame(
        {
            "query": [0, 1, 2, 3, 4],
            "sample_id": ["s0", "s1", "s1", "s3", "s4"],
            "similarity": [0.9, 0.75, 0.8, 0.7, 0.3],
        },
        schema_overrides={"similarity": pl.Float32},
    )
    out, counts = match_nearest(captions, nearest, threshold=0.7)
    # s1 is matched twice and kept once, by its closer text f2; f3 is at, not above, the threshold
    assert out.select("sample_id", "wnid", "imagenet_filename", "selected").rows() == [
        ("s0", "w0", "f0", True),
        ("s1", "w1", "f2", True),
        ("s3", "w2", "f3", False),
        ("s4", "w3", "f4", False),
    ]
    assert (
        counts["above_threshold"],
        counts["duplicate_laion_matches"],
        counts["rows"],
        counts["classes"],
    ) == (3, 1, 2, 2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 3), st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.70001, 0.9])),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.8]),
)
def test_one_table_answers_every_threshold(rows, threshold):
    """Thresholding the all-matches table equals the paper's order: keep matches above t, then
    one per LAION row (its most similar text; ties to the earlier text)."""
    captions = pl.DataFrame(
        {
            "filename": [f"f{i}" for i in range(len(rows))],
            "wnid": [f"w{c}" for _, c, _ in rows],
            "text": ["t"] * len(rows),
        }
    )
    nearest = pl.DataFrame(
        {
            "query": list(range(len(rows))),
            "sample_id": [f"s{s}" for s, _, _ in rows],
            "similarity": [v for _, _, v in rows],
        },
        schema_overrides={"similarity": pl.Float32},
    )
    out, counts = match_nearest(captions, nearest, threshold)
    expected = {}
    for i, (s, c, v) in enumerate(rows):
        v32 = float(np.float32(v))
        if v32 > np.float32(threshold) and (f"s{s}" not in expected or v32 > expected[f"s{s}"][1]):
            expected[f"s{s}"] = (f"w{c}", v32)
    got = {r["sample_id"]: (r["wnid"], r["similarity"]) for r in out.filter("selected").iter_rows(named=True)}
    assert got.keys() == expected.keys()
    assert all(got[k][0] == expected[k][0] and got[k][1] == pytest.approx(expected[k][1]) for k in got)
    assert counts["rows"] == len(expected) and out.height == len({s for s, _, _ in rows})


def test_faiss_engine_over_the_stored_vectors(tmp_path):
    vectors = clustered(5000, seed=2)
    index = CaptionIndex(str(tmp_path), "enc")
    index.add_part("p0", [str(i) for i in range(2500)], vectors[:2500])
    index.add_part("p1", [str(i) for i in range(2500, 5000)], vectors[2500:])
    rng = np.random.default_rng(3)
    queries = unit(vectors[rng.choice(5000, 300, replace=False)] + 0.05 * rng.normal(size=(300, 32)))
    assert recall_at_1(index, queries, sample=300, engine="faiss") >= 0.95
    got = index.nearest(queries, engine="faiss")
    exact = index.nearest(queries, engine="exact")
    same = got["sample_id"] == exact["sample_id"]
    # re-ranked on the shards' float16 copies of the vectors
    np.testing.assert_allclose(got["similarity"].filter(same), exact["similarity"].filter(same), atol=2e-3)


def test_recall_from_answers_already_found_equals_searching_again(tmp_path):
    vectors = clustered(3000, seed=5)
    index = CaptionIndex(str(tmp_path), "enc")
    index.add_part("p0", [str(i) for i in range(3000)], vectors)
    queries = clustered(400, seed=6)
    found = index.nearest(queries, engine="faiss")
    assert recall_at_1(index, queries, sample=150, found=found) == recall_at_1(
        index, queries, sample=150, engine="faiss"
    )
