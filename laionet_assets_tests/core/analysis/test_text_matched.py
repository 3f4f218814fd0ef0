"""The text-matched dataset's threshold sweep (paper Fig. 10, Appendix E) against slow loops."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laionet_assets.core.analysis import stats
from laionet_assets.core.analysis.text_matched import above, sweep_summary, threshold_sweep


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def loop_class_mean_and_se(rows: np.ndarray) -> tuple[float, float]:
    """Pair mean by the double loop, jackknife se by recomputing the mean without each image."""

    def mean(r):
        return np.mean([r[i] @ r[j] for i in range(len(r)) for j in range(i + 1, len(r))])

    loo = np.array([mean(np.delete(rows, i, axis=0)) for i in range(len(rows))])
    n = len(rows)
    return mean(rows), float(np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2)))


def world(seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 16))
    labels = np.repeat(np.array(["w0", "w1", "w2", "w3"]), [6, 5, 4, 2])
    x = unit(centres[[int(w[1]) for w in labels]] + 0.9 * rng.normal(size=(len(labels), 16)))
    similarity = pl.Series(rng.choice([0.55, 0.65, 0.7, 0.75, 0.85], size=len(labels)), dtype=pl.Float32)
    ref_labels = np.repeat(np.array(["w0", "w1", "w2", "w9"]), 5)
    ref = unit(centres[[int(w[1]) % 4 for w in ref_labels]] + 0.4 * rng.normal(size=(len(ref_labels), 16)))
    return x, labels, similarity, ref, ref_labels


def test_sweep_matches_the_loops():
    x, labels, similarity, ref, ref_labels = world()
    reference = stats.per_class_intra_similarity(ref, ref_labels, cap=None).filter(pl.col("n") >= 2)
    thresholds = [0.5, 0.6, 0.7, 0.8]
    got = threshold_sweep(x, labels, similarity, reference, thresholds, cap=None)
    sims = similarity.to_numpy()
    expected = []
    for t in thresholds:
        for w in ["w0", "w1", "w2", "w3"]:
            rows = x[(labels == w) & (sims > np.float32(t))]
            if len(rows) < 2:
                continue  # no pairs: not compared
            m, se = loop_class_mean_and_se(rows) if len(rows) >= 3 else (np.mean([rows[0] @ rows[1]]), np.nan)
            r_rows = ref[ref_labels == w]
            if not len(r_rows):
                continue  # class absent from the reference
            rm, rse = loop_class_mean_and_se(r_rows)
            diff, dse = m - rm, np.sqrt(se**2 + rse**2)
            verdict = (
                "neither"
                if not np.isfinite(dse)
                else "significantly lower"
                if diff + 1.959964 * dse < 0
                else "significantly higher"
                if diff - 1.959964 * dse > 0
                else "neither"
            )
            expected.append((t, w, len(rows), m, len(r_rows), rm, diff, verdict))
    assert got.height == len(expected) > 4
    for row, (t, w, n, m, rn, rm, diff, verdict) in zip(
        got.sort(["threshold", "wnid"]).iter_rows(named=True), expected
    ):
        assert (row["threshold"], row["wnid"], row["n"], row["reference_n"], row["verdict"]) == (
            t,
            w,
            n,
            rn,
            verdict,
        )
        assert row["mean"] == pytest.approx(m, abs=1e-9) and row["reference_mean"] == pytest.approx(
            rm, abs=1e-9
        )
        assert row["difference"] == pytest.approx(diff, abs=1e-9)
    assert "w3" not in got["wnid"].to_list() or got.filter(pl.col("wnid") == "w3")["n"].min() >= 2


def test_summary_counts_coverage_and_shares():
    matches = pl.DataFrame(
        {"wnid": ["a", "a", "b", "c"], "similarity": [0.9, 0.6, 0.7, 0.75]},
        schema_overrides={"similarity": pl.Float32},
    )
    comparisons = pl.DataFrame(
        {
            "threshold": [0.5, 0.5, 0.5, 0.7],
            "wnid": ["a", "b", "c", "a"],
            "verdict": ["significantly lower", "neither", "significantly higher", "significantly lower"],
        }
    )
    summary = sweep_summary(matches, comparisons, [0.5, 0.7, 0.95])
    assert summary.rows() == [
        (0.5, 3, 4, 3, pytest.approx(1 / 3), pytest.approx(1 / 3)),
        (0.7, 2, 2, 1, 1.0, 0.0),  # 0.7 is not above 0.7 (float32, as the selection compares)
        (0.95, 0, 0, 0, None, None),
    ]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1, width=32), min_size=1, max_size=30), st.sampled_from([0.3, 0.5, 0.7, 0.9]))
def test_above_is_the_selection(values, threshold):
    """The sweep's subset at t is exactly what captions_nearest_laion marks selected at t."""
    from laionet_assets.core.search.caption_index import match_nearest

    n = len(values)
    captions = pl.DataFrame({"filename": [str(i) for i in range(n)], "wnid": ["w"] * n, "text": ["t"] * n})
    nearest = pl.DataFrame(
        {"query": range(n), "sample_id": [str(i) for i in range(n)], "similarity": values},
        schema_overrides={"query": pl.Int64, "similarity": pl.Float32},
    )
    matches, _ = match_nearest(captions, nearest, threshold)
    assert above(matches["similarity"], threshold).tolist() == matches["selected"].to_list()
