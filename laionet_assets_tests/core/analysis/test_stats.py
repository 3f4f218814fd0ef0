"""Closed-form intra-class statistics against the obvious double loop over pairs."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from laionet_assets.core.analysis.stats import (
    Z95,
    compare_means,
    intra_class_similarity,
    leave_one_out_means,
    pair_mean,
    pair_sd,
)
from laionet_assets.core.vectors import unit_rows


def pair_sims(x):
    return np.array([x[i] @ x[j] for i, j in itertools.combinations(range(len(x)), 2)])


embeddings = arrays(
    np.float64, st.tuples(st.integers(3, 12), st.integers(2, 6)), elements=st.floats(-1, 1, allow_nan=False)
).filter(lambda a: np.all(np.linalg.norm(a, axis=1) > 1e-3))


@settings(max_examples=80, deadline=None)
@given(x=embeddings)
def test_mean_and_sd_equal_the_double_loop(x):
    x = unit_rows(x, np.float64)
    sims = pair_sims(x)
    assert pair_mean(x) == pytest.approx(sims.mean(), abs=1e-9)
    assert pair_sd(x) == pytest.approx(sims.std(), abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(x=embeddings)
def test_leave_one_out_means_equal_recomputation(x):
    x = unit_rows(x, np.float64)
    expected = [pair_sims(np.delete(x, i, axis=0)).mean() for i in range(len(x))]
    np.testing.assert_allclose(leave_one_out_means(x), expected, atol=1e-9)


def test_intervals():
    rng = np.random.default_rng(0)
    x = unit_rows(rng.normal(size=(40, 8)) + 1.0, np.float64)
    sims = pair_sims(x)
    paper = intra_class_similarity(x, "pairs")
    assert paper["pairs"] == 780 and paper["se"] == pytest.approx(sims.std() / np.sqrt(780))
    jack = intra_class_similarity(x, "jackknife")
    loo = np.array([pair_sims(np.delete(x, i, axis=0)).mean() for i in range(40)])
    assert jack["se"] == pytest.approx(np.sqrt(39 / 40 * np.sum((loo - loo.mean()) ** 2)))
    assert jack["ci_low"] == pytest.approx(jack["mean"] - Z95 * jack["se"])
    assert jack["se"] > paper["se"]  # pairs sharing an image are not independent


def test_verdicts():
    low = {"mean": 0.5, "se": 0.01}
    high = {"mean": 0.6, "se": 0.01}
    assert compare_means(low, high)["verdict"] == "significantly lower"
    assert compare_means(high, low)["verdict"] == "significantly higher"
    assert compare_means(low, {"mean": 0.51, "se": 0.01})["verdict"] == "neither"
    assert compare_means(low, {"mean": 0.6, "se": float("nan")})["verdict"] == "neither"


def test_bad_input():
    with pytest.raises(ValueError, match="all zeros"):
        unit_rows(np.zeros((3, 4)), np.float64)
    with pytest.raises(ValueError, match="unknown interval"):
        intra_class_similarity(np.eye(3), "bootstrap-ish")
    assert np.isnan(intra_class_similarity(np.eye(2, 4))["se"])


def test_per_class_stats_and_comparison():
    from laionet_assets.core.analysis.stats import compare_classes, per_class_intra_similarity

    rng = np.random.default_rng(1)
    centre = rng.normal(size=16)
    tight = unit_rows(centre + 0.2 * rng.normal(size=(60, 16)), np.float64)
    loose = unit_rows(centre + 2.0 * rng.normal(size=(60, 16)), np.float64)
    x = np.vstack([tight, loose, tight[:5]])
    labels = ["a"] * 60 + ["b"] * 60 + ["c"] * 5
    stats = per_class_intra_similarity(x, labels, cap=50, seed=3)
    assert stats["wnid"].to_list() == ["a", "b", "c"] and stats["n"].to_list() == [50, 50, 5]
    # A capped class is a sample of its rows: the same for one seed, and over seeds its mean
    # averages to the whole class's pair mean (the double loop's) within four standard errors.
    again = per_class_intra_similarity(x, labels, cap=50, seed=3)
    assert again["mean"].to_list() == stats["mean"].to_list()
    means = np.array(
        [per_class_intra_similarity(loose, ["b"] * 60, cap=50, seed=s)["mean"][0] for s in range(200)]
    )
    assert means.std() > 0 and abs(means.mean() - pair_sims(loose).mean()) < 4 * means.std() / np.sqrt(200)
    assert stats["mean"][2] == pytest.approx(pair_sims(tight[:5]).mean())  # under the cap: every row
    swapped = per_class_intra_similarity(np.vstack([loose, tight]), ["a"] * 60 + ["b"] * 60, cap=50, seed=3)
    verdicts = dict(compare_classes(swapped, stats).select("wnid", "verdict").iter_rows())
    assert verdicts == {"a": "significantly lower", "b": "significantly higher"}


def test_pair_similarities_against_double_loop():
    from laionet_assets.core.analysis.stats import pair_similarities
    from laionet_assets.core.vectors import unit_rows

    x = unit_rows(np.random.default_rng(3).normal(size=(37, 8)), np.float64)
    expected = [float(x[i] @ x[j]) for i in range(37) for j in range(i + 1, 37)]
    got = pair_similarities(x, chunk=5)  # several chunks, rows and columns offset
    assert sorted(got) == pytest.approx(sorted(expected), abs=1e-12) and got.size == 37 * 36 // 2


def test_pooled_pairs_match_the_second_dataset_in_number():
    from laionet_assets.core.analysis.stats import pooled_pair_similarities

    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(60, 6)), rng.normal(size=(25, 6))
    a_labels = np.array(["x"] * 40 + ["y"] * 20)
    b_labels = np.array(["x"] * 10 + ["y"] * 5 + ["z"] * 10)  # z only in b: not pooled
    pooled_a, pooled_b = pooled_pair_similarities(a, a_labels, b, b_labels, cap=30, seed=1)
    assert pooled_a.size == pooled_b.size == 45 + 10
    again = pooled_pair_similarities(a, a_labels, b, b_labels, cap=30, seed=1)
    np.testing.assert_array_equal(again[0], pooled_a)  # seeded
