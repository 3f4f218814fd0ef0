"""The completed rating study: reading answers, proportions, intervals and agreement by hand."""

import itertools
import math

import numpy as np
import polars as pl
import pytest

from laionet_assets.core.analysis import ratings
from laionet_assets.core.io.exports import write_csv_export

Z = 1.959963984540054


def trials_frame():
    """Four trials of two classes; CLIP calls LAIONet's pair more varied in trials 0, 1 and 2."""
    return pl.DataFrame(
        {
            "trial": [0, 1, 2, 3],
            "wnid": ["n01", "n01", "n02", "n02"],
            "laionet_side": ["left", "right", "left", "right"],
            "left_similarity": [0.2, 0.9, 0.1, 0.3],
            "right_similarity": [0.8, 0.4, 0.7, 0.6],
        },
        schema_overrides={"trial": pl.UInt32},
    )


def write_answers(path, rows, header="trial,wnid,laionet_side,rater,chosen"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_unusable_rows_are_reported_by_line_and_the_rest_kept(tmp_path):
    path = write_answers(
        tmp_path / "answers.csv",
        [
            "0,n01,left,ann,left",  # line 2: fine
            "1,n01,right,ann,up",  # 3: not a side
            "7,n01,left,ann,left",  # 4: no such trial
            "0,n01,left,ann,right",  # 5: ann's second answer to trial 0
            "x,n01,left,bob,left",  # 6: not a number
            "2,n02,left,,left",  # 7: no rater
            "3,n02,right,bob",  # 8: a cell short
            "2,n02,left,'=HYPERLINK(1),RIGHT",  # 9: fine; escaping undone, case ignored
        ],
    )
    answers = ratings.read_answers(path, trials_frame())
    assert answers.rows.select("line", "trial", "rater", "chosen").rows() == [
        (2, 0, "ann", "left"),
        (9, 2, "=HYPERLINK(1)", "right"),
    ]
    assert [p.split(":")[1] for p in answers.problems] == ["3", "4", "5", "6", "7", "8"]
    assert "column chosen: 'up' is not left or right" in answers.problems[0]
    assert "trial 7 of class n01" in answers.problems[1]
    assert all(p.startswith(f"{path}:") for p in answers.problems)


def test_a_file_without_the_answer_columns_is_refused_in_one_line(tmp_path):
    path = write_answers(tmp_path / "a.csv", ["0,n01,left"], header="trial,wnid,laionet_side")
    with pytest.raises(ratings.AnswersError, match=r"a\.csv: no column rater, chosen") as error:
        ratings.read_answers(path, trials_frame())
    assert "\n" not in str(error.value)


def test_a_spreadsheet_round_trip_reads_back(tmp_path):
    answers = ratings.simulated_answers(trials_frame(), raters=2, seed=1)
    answers = answers.with_columns(rater=pl.lit("-simulated")).with_columns(
        rater=pl.format("{}{}", "rater", pl.int_range(pl.len()) // 4)
    )
    write_csv_export(answers, tmp_path / "a.csv")
    read = ratings.read_answers(tmp_path / "a.csv", trials_frame())
    assert read.problems == [] and sorted(set(read.rows["rater"])) == ["-simulated0", "-simulated1"]


def test_results_equal_hand_computed_proportions_intervals_and_verdicts(tmp_path):
    rows = []
    # n01: ann and bob call LAIONet more varied in both trials; n02: ann in one, bob in both
    for rater, last in (("ann", "left"), ("bob", "right")):
        rows += [f"0,n01,left,{rater},left", f"1,n01,right,{rater},right"]
        rows += [f"2,n02,left,{rater},left", f"3,n02,right,{rater},{last}"]
    answers = ratings.read_answers(write_answers(tmp_path / "a.csv", rows), trials_frame())
    scored = ratings.scored_answers(answers.rows, trials_frame())
    # n03 was not rated: it counts toward no verdict
    comparison = pl.DataFrame(
        {"wnid": ["n01", "n02", "n03"], "verdict": ["significantly lower", "neither", "significantly lower"]}
    )
    results = ratings.rating_results(scored, comparison)
    assert results["wnid"].to_list() == ["n01", "n02", "all"]

    def wilson(k, n):
        p = k / n
        centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
        half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
        return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)

    for row, (k, n) in zip(results.iter_rows(named=True), [(4, 4), (3, 4), (7, 8)]):
        assert (row["laionet_more_varied"], row["answers"], row["raters"]) == (k, n, 2)
        assert row["share_laionet_more_varied"] == pytest.approx(k / n)
        low, high = wilson(k, n)
        assert (row["share_low"], row["share_high"]) == (pytest.approx(low), pytest.approx(high))
    # CLIP's answers: LAIONet's pair is the less similar in trials 0, 1, 2, not 3 (bob disagrees)
    assert results["share_agreeing_with_clip_trials"].to_list() == [1.0, 0.75, 7 / 8]
    # n01: 4 of 4, interval (0.51, 1] above one half; n02 (3 of 4) and pooled (7 of 8: 0.53–0.98)
    assert results["share_low"][2] > 0.5
    assert results["people_verdict"].to_list() == ["LAIONet more varied", "neither", "LAIONet more varied"]
    # pooled, CLIP's verdict is the one most classes get: a tie here, so neither
    assert results["clip_verdict"].to_list() == ["LAIONet more varied", "neither", "neither"]
    assert results["agrees_with_clip"].to_list() == [True, True, False]


def alpha_by_hand(matrix):
    """Krippendorff's nominal alpha from its definition: the coincidence matrix of pairable values."""
    units = [[v for v in column if not np.isnan(v)] for column in matrix.T]
    units = [u for u in units if len(u) >= 2]
    values = sorted({v for u in units for v in u})
    o = {(a, b): 0.0 for a in values for b in values}
    for u in units:
        for i, j in itertools.permutations(range(len(u)), 2):
            o[(u[i], u[j])] += 1 / (len(u) - 1)
    n_c = {c: sum(o[(c, k)] for k in values) for c in values}
    n = sum(n_c.values())
    observed = sum(o[(a, b)] for a in values for b in values if a != b) / n
    expected = sum(n_c[a] * n_c[b] for a in values for b in values if a != b) / (n * (n - 1))
    return 1 - observed / expected


def test_inter_rater_alpha_equals_the_definition():
    rng = np.random.default_rng(0)
    trials = pl.DataFrame({"trial": np.arange(12, dtype=np.uint32), "wnid": "n01", "laionet_side": "left"})
    rows = []
    for rater in ("ann", "bob", "cy"):
        for t in range(12):
            if rater == "cy" and t % 3 == 0:
                continue  # cy skipped some trials
            rows.append(
                {
                    "rater": rater,
                    "trial": t,
                    "chosen": "left" if rng.random() < 0.3 + 0.4 * (t % 2) else "right",
                }
            )
    answers = pl.DataFrame(rows).join(trials.cast({"trial": pl.Int64}), on="trial")
    scored = answers.with_columns(laionet_chosen=pl.col("chosen") == pl.col("laionet_side"))
    matrix, raters, order = ratings.reliability_matrix(scored)
    assert raters == ["ann", "bob", "cy"] and order == list(range(12)) and np.isnan(matrix[2, 0])
    alpha, why = ratings.inter_rater_alpha(scored)
    assert alpha == pytest.approx(alpha_by_hand(matrix)) and "3 raters" in why
    one = scored.filter(pl.col("rater") == "ann")
    assert ratings.inter_rater_alpha(one) == (None, "one rater: no agreement between raters to measure")


def test_simulated_raters_follow_clip_as_often_as_told_and_say_so():
    trials = pl.DataFrame(
        {
            "trial": np.arange(2000, dtype=np.uint32),
            "wnid": "n01",
            "laionet_side": "left",
            "left_similarity": np.random.default_rng(1).random(2000),
            "right_similarity": 0.5,
        }
    )
    answers = ratings.simulated_answers(trials, raters=2, agreement=0.8, seed=3)
    assert sorted(set(answers["rater"])) == ["simulated-1", "simulated-2"]
    clip = np.where(answers["left_similarity"] < answers["right_similarity"], "left", "right")
    assert (answers["chosen"].to_numpy() == clip).mean() == pytest.approx(0.8, abs=0.02)
    assert ratings.Answers(answers.select("rater")).simulated
    assert not ratings.Answers(pl.DataFrame({"rater": ["simulated-1", "ann"]})).simulated
