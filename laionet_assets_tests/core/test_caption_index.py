import numpy as np
import polars as pl
import pytest

from laionet_assets.core.caption_index import CaptionIndex, keep_nearest, recall_at_1


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


def test_keep_nearest_threshold_and_duplicates():
    captions = pl.DataFrame({"filename": ["f0", "f1", "f2", "f3"], "wnid": ["w0", "w1", "w1", "w2"], "text": ["t"] * 4})
    nearest = pl.DataFrame({"query": [0, 1, 2, 3], "sample_id": ["s0", "s1", "s1", "s3"],
                            "similarity": [0.9, 0.75, 0.8, 0.7]}, schema_overrides={"similarity": pl.Float32})
    kept, counts = keep_nearest(captions, nearest, threshold=0.7)
    # f3 is at, not above, the threshold; s1 is matched twice and kept once, by its closer text f2
    assert kept.select("sample_id", "wnid", "imagenet_filename").rows() == [("s0", "w0", "f0"), ("s1", "w1", "f2")]
    assert (counts["above_threshold"], counts["duplicate_laion_matches"], counts["rows"]) == (3, 1, 2)
