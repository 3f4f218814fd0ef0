import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from laionet_assets.core.analysis.accuracy import (
    Z95,
    accuracy_table,
    per_class_recall,
    weighted_accuracy,
    wilson_interval,
)


def wilson_by_quadratic(k, n, z=Z95):
    """Wilson's interval as the roots of (k/n − p)² = z² p(1 − p)/n (the definition)."""
    phat = k / n
    a, b, c = 1 + z * z / n, -(2 * phat + z * z / n), phat * phat
    roots = np.sort(np.roots([a, b, c]).real)
    return roots[0], roots[1]


def test_wilson_known_values():
    low, high = wilson_interval([0, 5, 10], [10, 10, 10])
    assert low == pytest.approx([0.0, 0.236593, 0.722467], abs=1e-6)
    assert high == pytest.approx([0.277533, 0.763407, 1.0], abs=1e-6)


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_matches_its_definition(kn):
    k, n = kn
    low, high = wilson_interval(k, n)
    ref = wilson_by_quadratic(k, n)
    assert float(low) == pytest.approx(ref[0], abs=1e-9) and float(high) == pytest.approx(ref[1], abs=1e-9)
    assert 0 <= low <= k / n <= high <= 1


def random_predictions(seed=0, n=400):
    rng = np.random.default_rng(seed)
    classes = [f"n{i:08d}" for i in range(12)]
    rows = []
    for dataset in ("laionet", "imagenet_val"):
        for model in ("m1", "m2"):
            for i in range(n):
                truth = classes[rng.integers(0, 12 if dataset == "imagenet_val" else 9)]
                top5 = list(rng.choice(classes, 5, replace=False))
                if rng.random() < 0.4:
                    top5[rng.integers(0, 5)] = truth if truth not in top5 else top5[0]
                rows.append((dataset, model, f"{i}", truth, None if rng.random() < 0.03 else top5))
    return pl.DataFrame(
        rows,
        schema={
            "dataset": pl.String,
            "model": pl.String,
            "image_id": pl.String,
            "wnid": pl.String,
            "top5": pl.List(pl.String),
        },
        orient="row",
    )


def test_recall_and_accuracy_against_loops():
    preds = random_predictions()
    recalls = per_class_recall(preds)
    laion = (
        preds.filter(pl.col("dataset") == "laionet", pl.col("model") == "m1")
        .group_by("wnid")
        .agg(count=pl.len())
    )
    table = accuracy_table(recalls, laion)
    freq = dict(zip(laion["wnid"], laion["count"]))
    for dataset in ("laionet", "imagenet_val"):
        for model in ("m1", "m2"):
            per_class = {}
            for r in preds.filter(dataset=dataset, model=model).iter_rows(named=True):
                if r["top5"] is None:
                    continue
                hits = per_class.setdefault(r["wnid"], [0, 0, 0])
                hits[0] += 1
                hits[1] += r["top5"][0] == r["wnid"]
                hits[2] += r["wnid"] in r["top5"]
            got = recalls.filter(dataset=dataset, model=model)
            for w, (n, h1, h5) in per_class.items():
                row = got.row(by_predicate=pl.col("wnid") == w, named=True)
                assert (row["n"], row["hits1"], row["hits5"]) == (n, h1, h5)
                assert row["recall1_low"] == pytest.approx(wilson_by_quadratic(h1, n)[0], abs=1e-9)
            present = [w for w in per_class if freq.get(w, 0) > 0]  # classes in LAIONet only
            equal = sum(per_class[w][1] / per_class[w][0] for w in present) / len(present)
            weighted = sum(freq[w] * per_class[w][2] / per_class[w][0] for w in present) / sum(
                freq[w] for w in present
            )
            row = table.row(
                by_predicate=(pl.col("dataset") == dataset) & (pl.col("model") == model), named=True
            )
            assert row["classes"] == len(present)
            assert row["top1_equal"] == pytest.approx(equal, abs=1e-12)
            assert row["top5_laion"] == pytest.approx(weighted, abs=1e-12)
            assert row["top1_equal_low"] < row["top1_equal"] < row["top1_equal_high"]


def test_propagated_interval_by_hand():
    """Recalls 5/10 and 20/20 weighted 1:3: accuracy 0.875.  Wilson's intervals (scipy's, an
    independent implementation) are [0.236593, 0.763407] and [0.838875, 1]; each class's standard
    error is its interval's width / (2·1.96): 0.134393 and 0.041104; weighted by 0.25 and 0.75 they
    give √(0.033598² + 0.030828²) = 0.045599, so 0.875 ± 1.96·0.045599 = [0.785629, 0.964371]."""
    from scipy.stats import binomtest

    low, high = wilson_interval(np.array([5, 20]), np.array([10, 20]))
    for k, n, lo, hi in ((5, 10, low[0], high[0]), (20, 20, low[1], high[1])):
        published = binomtest(k, n).proportion_ci(method="wilson")
        assert (lo, hi) == pytest.approx((published.low, published.high), abs=1e-12)
    result = weighted_accuracy(np.array([0.5, 1.0]), low, high, np.array([1.0, 3.0]))
    assert result["accuracy"] == pytest.approx(0.875)
    assert (result["low"], result["high"]) == pytest.approx((0.785629, 0.964371), abs=1e-6)


def test_no_classes_gives_nan():
    assert np.isnan(weighted_accuracy(np.array([]), np.array([]), np.array([]), np.array([]))["accuracy"])
