"""LAIONet's threshold sweep against slow obvious implementations: filtering by hand, pair loops,
recall loops."""

import itertools

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laionet_assets.core.analysis import stats
from laionet_assets.core.analysis.sweep import (
    CLIP_SWEEP,
    accuracy_by_threshold,
    laionet_sweep,
    sweep_thresholds,
    with_accuracy,
)

THRESHOLDS = [0.2, 0.5, 0.7]


def crafted(seed: int, n: int = 60, classes: int = 5, dim: int = 6):
    rng = np.random.default_rng(seed)
    wnids = [f"n{c:08d}" for c in range(classes)]
    candidates = pl.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "wnid": rng.choice(wnids, n).tolist(),
            "text_similarity": rng.uniform(0, 1, n).astype(np.float32),
        }
    )
    images = candidates.filter(pl.Series(rng.uniform(size=n) < 0.8))  # some images failed to download
    # class-dependent directions, so classes differ in how alike their images are
    centres = rng.normal(size=(classes, dim))
    labels = images["wnid"].to_numpy()
    spread = np.array([0.3 + c for c in range(classes)])[[wnids.index(w) for w in labels]]
    vectors = (
        centres[[wnids.index(w) for w in labels]] + rng.normal(size=(images.height, dim)) * spread[:, None]
    )
    return candidates, images, vectors


def reference_stats(seed: int, classes: int = 5, dim: int = 6) -> pl.DataFrame:
    rng = np.random.default_rng(seed + 100)
    labels = np.repeat([f"n{c:08d}" for c in range(classes)], 8)
    return stats.per_class_intra_similarity(rng.normal(size=(labels.size, dim)) + 2, labels, None)


def slow_pairs(x: np.ndarray) -> list[float]:
    unit = [v / np.linalg.norm(v) for v in x]
    return [float(a @ b) for a, b in itertools.combinations(unit, 2)]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_sweep_rows_classes_and_intra_class_match_loops(seed):
    candidates, images, vectors = crafted(seed)
    reference = reference_stats(seed)
    table, comparisons = laionet_sweep(candidates, images, vectors, reference, THRESHOLDS, cap=None)
    assert table["threshold"].to_list() == THRESHOLDS
    for row in table.iter_rows(named=True):
        t = np.float32(row["threshold"])  # compared in the column's precision, as the selection does
        above = [r for r in candidates.iter_rows(named=True) if r["text_similarity"] > t]
        assert row["rows"] == len(above) and row["classes_covered"] == len({r["wnid"] for r in above})
        kept = [i for i, s in enumerate(images["text_similarity"]) if s > t]
        assert row["images"] == len(kept)
        by_class: dict[str, list[int]] = {}
        for i in kept:
            by_class.setdefault(images["wnid"][i], []).append(i)
        pairs = {w: slow_pairs(vectors[idx]) for w, idx in by_class.items() if len(idx) >= 2}
        assert row["classes_with_pairs"] == len(pairs)
        if not pairs:
            assert row["intra_class_mean"] is None and row["intra_class_pooled"] is None
            continue
        assert row["intra_class_mean"] == pytest.approx(np.mean([np.mean(p) for p in pairs.values()]))
        assert row["intra_class_pooled"] == pytest.approx(np.mean([s for p in pairs.values() for s in p]))
        compared = comparisons.filter(pl.col("threshold") == row["threshold"])
        in_both = sorted(set(pairs) & set(reference["wnid"]))
        assert sorted(compared["wnid"]) == in_both and row["classes_compared"] == len(in_both)
        for r in compared.iter_rows(named=True):
            assert r["mean"] == pytest.approx(np.mean(pairs[r["wnid"]]))
            assert r["difference"] == pytest.approx(r["mean"] - r["reference_mean"])
        lower = sum(r["verdict"] == "significantly lower" for r in compared.iter_rows(named=True))
        assert row["share_lower_than_reference"] == pytest.approx(lower / len(in_both))
        assert (lower > 0) == any(r["ci_high"] < 0 for r in compared.iter_rows(named=True))


def test_accuracy_per_threshold_matches_a_recall_loop():
    rng = np.random.default_rng(3)
    candidates, images, _ = crafted(3)
    wnids = sorted(set(images["wnid"]))
    predictions = pl.DataFrame(
        [
            (sid, model, wnid, rng.permutation(wnids).tolist()[:5])
            for sid, wnid in zip(images["sample_id"], images["wnid"])
            for model in ("a", "b")
        ],
        schema={"sample_id": pl.String, "model": pl.String, "wnid": pl.String, "top5": pl.List(pl.String)},
        orient="row",
    )
    accuracy = accuracy_by_threshold(predictions, images.select("sample_id", "text_similarity"), THRESHOLDS)
    similarity = dict(zip(images["sample_id"], images["text_similarity"]))
    for row in accuracy.iter_rows(named=True):
        hits: dict[str, list[bool]] = {}
        for p in predictions.filter(pl.col("model") == row["model"]).iter_rows(named=True):
            if similarity[p["sample_id"]] > np.float32(row["threshold"]):
                hits.setdefault(p["wnid"], []).append(p["top5"][0] == p["wnid"])
        assert row["classes"] == len(hits)
        assert row["top1_equal"] == pytest.approx(np.mean([np.mean(h) for h in hits.values()]))
    assert sorted(accuracy["model"].unique()) == ["a", "b"]
    table, _ = laionet_sweep(candidates, images, crafted(3)[2], reference_stats(3), THRESHOLDS, cap=None)
    wide = with_accuracy(table, accuracy)
    assert wide.columns[-2:] == ["top1_equal_a", "top1_equal_b"]
    assert wide["top1_equal_a"].to_list() == accuracy.filter(pl.col("model") == "a")["top1_equal"].to_list()


def test_thresholds_clip_defaults_quantiles_and_laionets_own():
    sims = np.linspace(0, 1, 101)
    clip = sweep_thresholds(sims, True, 0.82)
    assert clip["threshold"].to_list() == list(CLIP_SWEEP)
    assert clip.filter(pl.col("threshold") == 0.82)["chosen_as"].item() == "LAIONet's threshold"
    assert sweep_thresholds(np.array([0.1, 0.5, 0.7, 0.75, 0.95]), True, 0.82)["quantile"][0] == 0.6  # ≤ 0.70
    other = sweep_thresholds(sims, False, 0.33, quantiles=[0.5, 0.9])
    assert other["threshold"].to_list() == [0.33, 0.5, 0.9]
    assert other["chosen_as"].to_list() == ["LAIONet's threshold", "quantile 0.5", "quantile 0.9"]
    given_ = sweep_thresholds(sims, True, 0.82, thresholds=[0.6, 0.9])
    assert given_["threshold"].to_list() == [0.6, 0.82, 0.9] and given_["chosen_as"][0] == "given"
    with pytest.raises(ValueError, match="quantiles"):
        sweep_thresholds(sims, False, 0.5, quantiles=[1.5])
