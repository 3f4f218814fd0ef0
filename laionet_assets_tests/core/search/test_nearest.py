"""Exact streaming search against numpy's brute-force argmax."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from laionet_assets.core.search.faiss_shards import FaissShards
from laionet_assets.core.search.nearest import FLOAT32_TIE, exact_nearest


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 300),
    q=st.integers(1, 40),
    chunk=st.integers(1, 128),
    block=st.integers(1, 16),
    seed=st.integers(0, 10_000),
)
def test_exact_nearest_is_the_argmax(n, q, chunk, block, seed):
    rng = np.random.default_rng(seed)
    stored, queries = unit(rng.normal(size=(n, 16))), unit(rng.normal(size=(q, 16)))
    copies = sorted({n // 2, n - 1} - {0})
    stored[copies] = stored[0]  # duplicates (as of a repeated caption): ties go to the earliest
    queries[: q // 2] = unit(stored[0] + 0.01 * rng.normal(size=(q // 2, 16)))  # …and they win
    index, sims = exact_nearest(
        queries, (stored[i : i + chunk] for i in range(0, n, chunk)), "cpu", query_block=block
    )
    brute = queries.astype(np.float64) @ stored.astype(np.float64).T
    best = brute.max(axis=1)
    tie = 2 * FLOAT32_TIE + 1e-6  # the documented bound, and float32 rounding
    assert (sims >= best - tie).all() and (sims <= best + 1e-6).all()
    np.testing.assert_allclose(sims, brute[np.arange(q), index], atol=1e-6)
    assert not set(copies) & set(index.tolist())  # whatever the chunking
    # the argmax itself wherever no other vector is within a tie of the best
    runner_up = np.sort(brute, axis=1)[:, -2] if n > 1 else best - 1
    clear = runner_up < best - 2 * tie
    assert (index[clear] == brute.argmax(axis=1)[clear]).all()
    # one chunk, one query block: the same answers
    whole, _ = exact_nearest(queries, [stored], "cpu")
    assert whole[clear].tolist() == index[clear].tolist() and not set(copies) & set(whole.tolist())


def test_nothing_stored_and_reduced_precision():
    index, sims = exact_nearest(np.eye(3, dtype=np.float32), iter([]), "cpu")
    assert index.tolist() == [-1, -1, -1] and np.isneginf(sims).all()
    rng = np.random.default_rng(0)
    stored, queries = unit(rng.normal(size=(500, 64))), unit(rng.normal(size=(20, 64)))
    index, sims = exact_nearest(queries, [stored], "cpu", precision="bf16")
    brute = queries @ stored.T
    np.testing.assert_allclose(sims, brute[np.arange(20), index], atol=2e-2)  # bf16: 8 bits of mantissa
    assert (brute.max(axis=1) - brute[np.arange(20), index] < 2e-2).all()
    half = stored.astype(np.float16)  # stored vectors as float16 files hold them
    index, sims = exact_nearest(queries, [half[:300], half[300:]], "cpu")
    expected = queries @ half.astype(np.float32).T
    assert index.tolist() == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose(sims, expected.max(axis=1), atol=1e-5)


def clustered(n, dim=32, seed=4):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, dim))
    stored = unit(centres[rng.integers(0, 50, n)] + 0.35 * rng.normal(size=(n, dim)))
    picks = rng.choice(n, min(n, 500), replace=False)
    queries = unit(stored[picks] + 0.05 * rng.normal(size=(len(picks), dim)))
    return stored, queries


def write_parts(shards, stored, size):
    """Parts of ``size`` rows, each added in chunks of 1,000; sample ids are the global rows."""
    for start in range(0, len(stored), size):
        writer = shards.writer(f"p{start // size}", len(stored))
        for at in range(start, min(start + size, len(stored)), 1_000):
            block = stored[at : min(at + 1_000, start + size)]
            writer.add([str(i) for i in range(at, at + len(block))], block)
        writer.close()


def test_faiss_shards_recall_against_exact_search(tmp_path):
    stored, queries = clustered(25_000)
    shards = FaissShards(tmp_path / "shards", 32, train_rows=10_000)
    write_parts(shards, stored, 10_000)  # three parts, the index trained on the first's rows
    assert shards.parts() == {"p0": 10_000, "p1": 10_000, "p2": 5_000}
    found, sims, ids = shards.search(queries)
    exact, exact_sims = exact_nearest(queries, [stored], "cpu")
    got = np.array([int(ids[i]) for i in found])
    assert (got == exact).mean() >= 0.95
    hits = got == exact
    np.testing.assert_allclose(sims[hits], exact_sims[hits], atol=2e-3)  # re-ranked on float16 vectors
    # one part only, and the same answers again after a part is rewritten: re-runs are idempotent
    only, _, only_ids = shards.search(queries, parts=["p1"])
    assert {int(only_ids[i]) for i in only} <= set(range(10_000, 20_000))
    write_parts(shards, stored[:10_000], 10_000)
    again, again_sims, again_ids = shards.search(queries)
    assert [again_ids[i] for i in again] == [ids[i] for i in found]
    np.testing.assert_array_equal(again_sims, sims)


def test_faiss_shards_small_unfinished_and_empty(tmp_path):
    stored, queries = clustered(300)
    assert FaissShards(tmp_path / "none", 32).search(queries[:2])[0].tolist() == [-1, -1]
    shards = FaissShards(tmp_path / "small", 32)  # fewer vectors than a training sample: trained on them
    write_parts(shards, stored, 300)
    found, _, ids = shards.search(stored[:20])
    assert np.mean([ids[i] == str(k) for k, i in enumerate(found)]) >= 0.9
    dying = shards.writer("p9", 300)  # a run that dies before close publishes nothing
    dying.add(["x"], stored[:1])
    assert set(shards.parts()) == {"p0"}
    other = FaissShards(tmp_path / "small", 16)  # another dimension: the part is not current for it
    assert other.parts() == {}
    bigger, _ = clustered(700, seed=5)  # a part with more training vectors retrains: p0 is stale
    writer = shards.writer("p1", 1000)
    writer.add([f"b{i}" for i in range(700)], bigger)
    writer.close()
    assert shards.parts() == {"p1": 700} and shards.trained_rows() == 700
