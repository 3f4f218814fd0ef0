"""The demo runs both experiments: selection by image against selection by caption, and its rating
study answered by simulated raters; a bad answers file fails in one line."""

import os
import subprocess
import sys

import dagster as dg
import polars as pl

from laionet_assets.cli.demo import SIMULATED_ANSWERS
from laionet_assets.core.analysis import image_selection as rules
from laionet_assets.core.analysis import ratings
from laionet_assets.core.io.exports import read_csv_export
from laionet_assets.settings import SETTINGS


def test_the_demo_selects_by_image_and_compares_the_sets(demo_home, monkeypatch):
    home, _ = demo_home
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # its dagster.yaml reads it
    selected = pl.read_parquet(home / "assets" / "laionet_image_selected" / "sample.parquet")
    clean = pl.read_parquet(home / "assets" / "laionet_clean" / "sample.parquet")
    assert set(selected["set"]) == set(rules.SETS)
    caption = selected.filter(pl.col("set") == "caption")
    # LAIONet's caption set is laionet_clean's rows that have an image vector
    assert (
        caption.height <= clean.height
        and caption.join(clean, on=["release_part", "part_row"], how="anti").is_empty()
    )
    # every compared class has one size in every set; the images were downloaded for it
    matched = selected.filter("matched")
    sizes = (
        matched.group_by("wnid", "set")
        .len()
        .group_by("wnid")
        .agg(pl.col("len").n_unique(), pl.col("set").n_unique())
    )
    assert matched.height and sizes["len"].to_list() == [1] * sizes.height and set(sizes["set"]) == {4}
    assert (matched["status"] == "ok").all()
    comparison = pl.read_parquet(home / "assets" / "selection_comparison" / "sample.parquet")
    pooled = comparison.filter(pl.col("wnid") == "all")
    assert pooled["set"].to_list() == [*rules.SETS, "imagenet_val_half"]
    assert pooled.filter(pl.col("set") == "caption")["verdict"].to_list() == [None]
    assert set(comparison.filter(pl.col("wnid") != "all")["wnid"]) == set(matched["wnid"])
    reports = home / "reports" / "sample"
    assert (reports / "fig_selection_comparison.png").stat().st_size > 10_000
    assert (reports / "fig_image_selection_sweep.png").stat().st_size > 10_000
    accuracy = pl.read_parquet(reports / "selection_accuracy.parquet")
    assert set(accuracy["set"]) == {*rules.SETS, "imagenet_val_half"}
    sweep = pl.read_parquet(home / "assets" / "image_selection_sweep" / "sample.parquet")
    assert sweep["rule"][0] == "caption" and set(sweep["rule"]) == {
        "caption",
        "image_to_class",
        "image_to_prototype",
    }
    html = (reports / "report.html").read_text()
    assert "Selecting by image instead of by caption" in html and "fig_selection_comparison.png" in html
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        meta = instance.get_latest_materialization_event(
            dg.AssetKey("selection_comparison")
        ).asset_materialization.metadata
    assert (
        "LAIONet's classes (selected by caption) have a pooled intra-class similarity" in meta["answer"].value
    )


def test_the_demo_rating_study_is_answered_by_simulated_raters_and_says_so(demo_home, monkeypatch):
    home, out = demo_home
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    reports = home / "reports" / "sample"
    answers = read_csv_export(reports / SIMULATED_ANSWERS)
    trials = read_csv_export(reports / "rating_study_pairs.csv")
    assert answers.height == 3 * trials.height and set(answers["rater"]) == {
        "simulated-1",
        "simulated-2",
        "simulated-3",
    }
    results = pl.read_parquet(home / "assets" / "rating_study_results" / "sample.parquet")
    pooled = results.filter(pl.col("wnid") == "all").row(0, named=True)
    assert pooled["answers"] == answers.height and pooled["simulated"] and pooled["raters"] == 3
    chosen_laionet = (answers["chosen"] == answers["laionet_side"]).sum()
    assert pooled["laionet_more_varied"] == chosen_laionet
    html = (reports / "report.html").read_text()
    assert "SIMULATED raters, not people" in html and "fig_rating_study_results.png" in html
    assert "SIMULATED raters (not people)" in out
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        meta = instance.get_latest_materialization_event(
            dg.AssetKey("rating_study_results")
        ).asset_materialization.metadata
    assert meta["simulated"].value is True and meta["dropped_rows"].value == 0
    assert isinstance(meta["krippendorff_alpha"].value, float)


def test_an_answers_file_without_its_columns_fails_the_run_in_one_line(demo_home, tmp_path):
    home, _ = demo_home
    bad = tmp_path / "answers.csv"
    bad.write_text("trial,wnid\n0,n01\n")
    names = {"DAGSTER_HOME", *(s.env for s in SETTINGS if s.env)}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["LAIONET_RATING_ANSWERS"] = str(bad)
    done = subprocess.run(
        [sys.executable, "-m", "laionet_assets.cli", "demo", "--home", str(home), "--profile", "tiny"]
        + ["--select", "rating_study_results"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"{bad}: no column laionet_side, rater, chosen" in done.stdout
    # the last good results stand
    results = pl.read_parquet(home / "assets" / "rating_study_results" / "sample.parquet")
    assert results.height and results["simulated"].all()
    assert ratings.POOLED in results["wnid"].to_list()
