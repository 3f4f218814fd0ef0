"""Image-to-synset similarity (paper Appendix D) against loops."""

import statistics

import numpy as np
import polars as pl
import pytest

from laionet_assets.core.analysis import stats
from laionet_assets.core.analysis.image_synset import image_synset_similarity, per_class_means


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_similarity_is_the_dot_product_with_the_own_synset():
    rng = np.random.default_rng(0)
    images, synsets = unit(rng.normal(size=(7, 8))), unit(rng.normal(size=(3, 8)))
    labels = ["s2", "s0", "s0", "s1", "s2", "s2", "s1"]
    got = image_synset_similarity(images, labels, synsets, ["s0", "s1", "s2"])
    np.testing.assert_allclose(
        got, [images[i] @ synsets[int(w[1])] for i, w in enumerate(labels)], atol=1e-12
    )
    with pytest.raises(ValueError, match="no synset text"):
        image_synset_similarity(images, labels[:-1] + ["s9"], synsets, ["s0", "s1", "s2"])


def test_per_class_means_and_comparison():
    values = np.array([0.1, 0.3, 0.2, 0.5, 0.25])
    labels = ["a", "a", "a", "b", "c"]
    got = per_class_means(values, labels)
    a = got.filter(pl.col("wnid") == "a").row(0, named=True)
    sd = statistics.stdev([0.1, 0.3, 0.2])
    assert (a["n"], a["mean"], a["sd"]) == (3, pytest.approx(0.2), pytest.approx(sd))
    assert a["ci_high"] - a["mean"] == pytest.approx(1.959964 * sd / np.sqrt(3), rel=1e-6)
    assert np.isnan(got.filter(pl.col("wnid") == "b")["se"].item())  # one image: no interval
    other = per_class_means(np.array([0.6, 0.7, 0.65, 0.5, 0.55]), ["a", "a", "a", "b", "b"])
    comparison = stats.compare_classes(got, other)
    assert dict(zip(comparison["wnid"], comparison["verdict"])) == {
        "a": "significantly lower",
        "b": "neither",
    }


def test_matched_resample_draws_each_class_to_the_second_datasets_number():
    a = {"x": np.array([1.0, 2.0]), "y": np.array([5.0]), "only_a": np.array([9.0])}
    b = {"x": np.array([0.0, 0.0, 0.0]), "y": np.array([0.0, 0.0]), "only_b": np.array([0.0])}
    pooled_a, pooled_b = stats.matched_resample(a, b, seed=3)
    assert pooled_a.size == pooled_b.size == 5
    assert set(pooled_a[:3]) <= {1.0, 2.0} and set(pooled_a[3:]) == {5.0}  # classes in sorted order
    np.testing.assert_array_equal(stats.matched_resample(a, b, seed=3)[0], pooled_a)
