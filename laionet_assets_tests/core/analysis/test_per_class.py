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
    z, half = np.arctanh(np.clip(got["rho"], -0.999999, 0.999999)), Z95 * 1.03 / math.sqrt(len(x) - 3)
    expected = (min(math.tanh(z - half), got["rho"]), max(math.tanh(z + half), got["rho"]))
    assert (got["low"], got["high"]) == pytest.approx(expected)
    assert got["low"] <= got["rho"] <= got["high"]


def test_spearman_too_few():
    assert math.isnan(spearman([1, 2, 3], [3, 2, 1])["rho"])
