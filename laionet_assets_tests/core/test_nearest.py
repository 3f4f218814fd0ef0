"""Exact streaming search against numpy's brute-force argmax."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from laionet_assets.core.nearest import exact_nearest


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
    stored[n // 2] = stored[0]  # a duplicate: the tie goes to the earlier vector
    index, sims = exact_nearest(
        queries, (stored[i : i + chunk] for i in range(0, n, chunk)), "cpu", query_block=block
    )
    brute = queries @ stored.T
    assert index.tolist() == brute.argmax(axis=1).tolist()
    np.testing.assert_allclose(sims, brute.max(axis=1), atol=1e-5)


def test_nothing_stored_and_reduced_precision():
    index, sims = exact_nearest(np.eye(3, dtype=np.float32), iter([]), "cpu")
    assert index.tolist() == [-1, -1, -1] and np.isneginf(sims).all()
    rng = np.random.default_rng(0)
    stored, queries = unit(rng.normal(size=(500, 64))), unit(rng.normal(size=(20, 64)))
    index, sims = exact_nearest(queries, [stored], "cpu", precision="bf16")
    brute = queries @ stored.T
    np.testing.assert_allclose(sims, brute[np.arange(20), index], atol=2e-2)  # bf16: 8 bits of mantissa
    assert (brute.max(axis=1) - brute[np.arange(20), index] < 2e-2).all()


def test_faiss_ivf_pq_recall_against_exact_search():
    from laionet_assets.core.nearest import FaissIvfPq

    rng = np.random.default_rng(4)
    centres = rng.normal(size=(50, 32))
    stored = unit(centres[rng.integers(0, 50, 20_000)] + 0.35 * rng.normal(size=(20_000, 32)))
    queries = unit(stored[rng.choice(20_000, 500, replace=False)] + 0.05 * rng.normal(size=(500, 32)))
    index = FaissIvfPq(32, len(stored), train_rows=10_000)
    for start in range(0, len(stored), 3_000):  # added part by part
        index.add(stored[start : start + 3_000])
    found, sims = index.search(queries)
    exact, exact_sims = exact_nearest(queries, [stored], "cpu")
    assert (found == exact).mean() >= 0.95
    hits = found == exact
    np.testing.assert_allclose(sims[hits], exact_sims[hits], atol=1e-5)  # re-ranked exactly
    small = FaissIvfPq(32, 300)  # fewer vectors than a training sample: trained on what came
    small.add(stored[:300])
    assert (small.search(stored[:20])[0] == np.arange(20)).mean() >= 0.9
    empty, _ = FaissIvfPq(32, 10).search(queries[:2])
    assert empty.tolist() == [-1, -1]
