"""Per-class recall differences and their rank correlation, against loops and scipy."""

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laionet_assets.core.analysis.accuracy import Z95, per_class_recall, wilson_interval
from laionet_assets.core.analysis.per_class import correlations, recall_differences, spearman


def predictions(rng, models=("m1", "m2"), classes=8):
    rows = []
    for model in models:
        for dataset in ("laionet", "imagenet_val"):
            for c in range(classes + (dataset == "laionet")):  # LAIONet has one class ImageNet lacks
                wnid = f"n{c:08d}"
                for i in range(int(rng.integers(1, 12))):
                    top1 = wnid if rng.random() < (0.8 if dataset == "imagenet_val" else 0.5) else "n99999999"
                    rows.append((dataset, model, f"{dataset}-{c}-{i}", wnid, [top1]))
    return pl.DataFrame(rows, schema=["dataset", "model", "image_id", "wnid", "top5"], orient="row")


def test_recall_differences_against_loops():
    rng = np.random.default_rng(3)
    preds = predictions(rng)
    intra = pl.DataFrame({"wnid": [f"n{c:08d}" for c in range(5)], "difference": rng.normal(size=5)})
    got = recall_differences(per_class_recall(preds), intra)
    assert got.height == 2 * 8  # the class only LAIONet has is not compared
    for row in got.iter_rows(named=True):
        sides = []
        for dataset in ("laionet", "imagenet_val"):
            rows = preds.filter(
                (pl.col("dataset") == dataset)
                & (pl.col("model") == row["model"])
                & (pl.col("wnid") == row["wnid"])
            )
            hits = sum(t[0] == row["wnid"] for t in rows["top5"])
            low, high = wilson_interval(hits, rows.height)
            sides.append((hits / rows.height, (high - low) / (2 * Z95)))
        assert row["difference"] == pytest.approx(sides[0][0] - sides[1][0])
        assert row["se"] == pytest.approx(math.hypot(sides[0][1], sides[1][1]))
        assert row["ci_low"] == pytest.approx(row["difference"] - Z95 * row["se"])
        expected_intra = dict(zip(intra["wnid"], intra["difference"])).get(row["wnid"])
        assert row["intra_class_difference"] == (
            pytest.approx(expected_intra) if expected_intra is not None else None
        )
    for _, group in got.group_by("model"):  # rank 1 loses most
        ordered = group.sort("rank")
        assert ordered["rank"].to_list() == list(range(1, 9))
        assert ordered["difference"].is_sorted()
    rho = correlations(got)
    assert rho["n"].to_list() == [5, 5]


@settings(max_examples=60, deadline=None)
@given(
    x=st.lists(st.integers(-5, 5), min_size=4, max_size=40),
    seed=st.integers(0, 1000),
)
def test_spearman_against_scipy(x, seed):
    from scipy.stats import spearmanr

    y = np.random.default_rng(seed).integers(-3, 4, len(x))  # ties on both sides
    got = spearman(np.array(x, float), y.astype(float))
    if np.std(x) == 0 or np.std(y) == 0:
        assert math.isnan(got["rho"])
        return
    assert got["rho"] == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert got["low"] <= got["rho"] <= got["high"]


def test_spearman_interval_by_hand():
    """Ten ranks with four adjacent swaps: Σd² = 8, so ρ = 1 − 6·8/(10·99) = 0.951515; Fisher's
    z = atanh(ρ) = 1.84587, half-width 1.96·1.03/√7 = 0.763023, back-transformed: [0.794875, 0.989256]."""
    got = spearman(np.arange(1, 11, dtype=float), np.array([1, 3, 2, 5, 4, 7, 6, 9, 8, 10], float))
    assert got["n"] == 10 and got["rho"] == pytest.approx(0.951515, abs=1e-6)
    assert (got["low"], got["high"]) == pytest.approx((0.794875, 0.989256), abs=1e-6)


@pytest.mark.parametrize("r, n", [(0.0, 30), (0.6, 30), (0.6, 12)])
def test_spearman_interval_covers_the_population_value_95_percent_of_the_time(r, n):
    """Samples of a bivariate normal with correlation r, whose Spearman correlation is
    (6/π)·asin(r/2): the 95% interval covers it in 93–97.5% of 1000 samples."""
    rng = np.random.default_rng(int(r * 10) + n)
    population = 6 / math.pi * math.asin(r / 2)
    covered = 0
    for _ in range(1000):
        x = rng.normal(size=n)
        got = spearman(x, r * x + math.sqrt(1 - r * r) * rng.normal(size=n))
        covered += got["low"] <= population <= got["high"]
    assert 0.93 <= covered / 1000 <= 0.975, covered


def test_spearman_too_few():
    assert math.isnan(spearman([1, 2, 3], [3, 2, 1])["rho"])
