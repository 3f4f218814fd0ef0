"""Do people see what CLIP measures?  The completed rating study, analysed.

``rating_study_pairs.csv`` holds seeded trials: two pairs of images of one class, LAIONet's and
ImageNet's, one on each side, and the question "which pair looks more varied?".  A completed
answers file is that CSV with two more columns per answer (one row per rater and trial; other
columns are kept as they are and ignored):

========== ===================================================================================
column     what it holds
========== ===================================================================================
trial      the trial's number, as in the trials file
wnid       the trial's class, as in the trials file
laionet_side  ``left`` or ``right``, as in the trials file
rater      who answered (any non-empty id; ids beginning ``simulated`` mark a simulated rater)
chosen     the side the rater called more varied: ``left`` or ``right``
========== ===================================================================================

Cells a spreadsheet would have evaluated were written with a leading apostrophe; it is taken off
again.  A row that cannot be used (a missing or unknown value, a trial the trials file does not
hold, a rater's second answer to one trial) is reported by its line and left out; the others are
analysed.

Per class and pooled: how often the LAIONet pair was called more varied, with its Wilson 95%
interval; the people's verdict (the interval above or below one half) against CLIP's for the
class (``intra_class_laionet_vs_imagenet``: LAIONet significantly less similar inside is "LAIONet
more varied"); the share of answers that agree with CLIP's own answer to the trial (the pair with
the lower similarity); and, with several raters, Krippendorff's alpha (nominal) of their answers.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from laionet_assets.core.analysis.accuracy import wilson_interval
from laionet_assets.core.io.exports import spreadsheet_unescape

SIDES = ("left", "right")
REQUIRED = ("trial", "wnid", "laionet_side", "rater", "chosen")
SIMULATED = "simulated"  # the rater-id prefix of a simulated rater
ANSWER_SCHEMA = {
    "line": pl.Int64,
    "trial": pl.Int64,
    "wnid": pl.String,
    "laionet_side": pl.String,
    "rater": pl.String,
    "chosen": pl.String,
}
LAIONET_MORE_VARIED, IMAGENET_MORE_VARIED, NEITHER = "LAIONet more varied", "ImageNet more varied", "neither"
RESULTS_SCHEMA = {
    "wnid": pl.String,  # a class, or "all" for the pooled row
    "answers": pl.Int64,
    "raters": pl.Int64,
    "laionet_more_varied": pl.Int64,
    "share_laionet_more_varied": pl.Float64,
    "share_low": pl.Float64,
    "share_high": pl.Float64,
    "people_verdict": pl.String,
    "clip_verdict": pl.String,
    "agrees_with_clip": pl.Boolean,
    "share_agreeing_with_clip_trials": pl.Float64,
}
POOLED = "all"


class AnswersError(ValueError):
    """An answers file that cannot be read at all (not a CSV, a required column missing)."""


@dataclass
class Answers:
    """The usable answers and, per unusable row, ``path:line: why``."""

    rows: pl.DataFrame
    problems: list[str] = field(default_factory=list)

    @property
    def simulated(self) -> bool:
        """True when every rater is a simulated one."""
        raters = self.rows["rater"].unique().to_list()
        return bool(raters) and all(r.startswith(SIMULATED) for r in raters)


def read_answers(path: str | os.PathLike, trials: pl.DataFrame) -> Answers:
    """The answers of a completed rating study (module docstring), checked against ``trials``
    (the ``rating_study_pairs`` table): each row that cannot be used is reported by line."""
    known = {(int(t), w, s) for t, w, s in trials.select("trial", "wnid", "laionet_side").iter_rows()}
    rows, problems, seen = [], [], set()
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise AnswersError(
                    f"{path}: no column {', '.join(missing)}; an answers file is rating_study_pairs.csv "
                    f"with a rater and a chosen column ({', '.join(REQUIRED)} are required)"
                )
            for record in reader:
                line = reader.line_num
                why, row = _answer(record, known)
                if why is None and (row["rater"], row["trial"]) in seen:
                    why = f"rater {row['rater']!r} answered trial {row['trial']} before (the first is kept)"
                if why is not None:
                    problems.append(f"{path}:{line}: {why}")
                    continue
                seen.add((row["rater"], row["trial"]))
                rows.append({"line": line, **row})
    except UnicodeDecodeError as exc:
        raise AnswersError(f"{path}: not a UTF-8 CSV file ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise AnswersError(f"{path}: not a CSV file ({exc})") from None
    return Answers(pl.DataFrame(rows, schema=ANSWER_SCHEMA), problems)


def _answer(record: dict, known: set) -> tuple[str | None, dict]:
    """One CSV record as an answer, or why it cannot be one."""
    if None in record or any(record.get(c) is None for c in REQUIRED):
        return "the row has a different number of cells than the header", {}
    cell = {c: spreadsheet_unescape(record[c].strip()) for c in REQUIRED}
    for column in REQUIRED:
        if not cell[column]:
            return f"column {column} is empty", {}
    try:
        trial = int(cell["trial"])
    except ValueError:
        return f"column trial: {cell['trial']!r} is not a trial number", {}
    side, chosen = cell["laionet_side"].lower(), cell["chosen"].lower()
    for column, value in (("laionet_side", side), ("chosen", chosen)):
        if value not in SIDES:
            return f"column {column}: {cell[column]!r} is not left or right", {}
    if (trial, cell["wnid"], side) not in known:
        return (
            f"trial {trial} of class {cell['wnid']} with LAIONet on the {side} is not a trial of the "
            "rating study's trials file (answers of another study?)"
        ), {}
    return None, {
        "trial": trial,
        "wnid": cell["wnid"],
        "laionet_side": side,
        "rater": cell["rater"],
        "chosen": chosen,
    }


def scored_answers(answers: pl.DataFrame, trials: pl.DataFrame) -> pl.DataFrame:
    """Per answer: whether the rater called the LAIONet pair more varied, and whether CLIP does
    (its pair's similarity is the lower of the two)."""
    laionet_similarity = (
        pl.when(pl.col("laionet_side") == "left").then("left_similarity").otherwise("right_similarity")
    )
    other_similarity = (
        pl.when(pl.col("laionet_side") == "left").then("right_similarity").otherwise("left_similarity")
    )
    clip = trials.select(
        pl.col("trial").cast(pl.Int64),
        clip_laionet_more_varied=laionet_similarity < other_similarity,
    )
    return answers.join(clip, on="trial", how="left").with_columns(
        laionet_chosen=pl.col("chosen") == pl.col("laionet_side")
    )


def clip_verdicts(comparison: pl.DataFrame) -> pl.DataFrame:
    """CLIP's verdict per class from the intra-class comparison (LAIONet − ImageNet): a
    significantly lower similarity inside means LAIONet's images are more varied."""
    return comparison.select(
        "wnid",
        clip_verdict=pl.when(pl.col("verdict") == "significantly lower")
        .then(pl.lit(LAIONET_MORE_VARIED))
        .when(pl.col("verdict") == "significantly higher")
        .then(pl.lit(IMAGENET_MORE_VARIED))
        .otherwise(pl.lit(NEITHER)),
    )


def rating_results(scored: pl.DataFrame, comparison: pl.DataFrame) -> pl.DataFrame:
    """Per class and pooled (``wnid`` "all"): answers, raters, how many and which share called
    LAIONet more varied with its Wilson interval, the people's and CLIP's verdicts, whether they
    agree, and the share of answers agreeing with CLIP's answer to the trial."""
    grouped = [
        scored.group_by("wnid").agg(*_tallies()),
        scored.select(pl.lit(POOLED).alias("wnid"), *_tallies()) if scored.height else None,
    ]
    table = pl.concat([g for g in grouped if g is not None]).sort(pl.col("wnid") == POOLED, "wnid")
    low, high = wilson_interval(table["laionet_more_varied"].to_numpy(), table["answers"].to_numpy())
    verdicts = clip_verdicts(comparison)
    pooled_clip = _pooled_clip(verdicts.join(scored.select("wnid").unique(), on="wnid", how="semi"))
    table = table.with_columns(
        share_laionet_more_varied=pl.col("laionet_more_varied") / pl.col("answers"),
        share_low=pl.Series(low),
        share_high=pl.Series(high),
    ).with_columns(
        people_verdict=pl.when(pl.col("share_low") > 0.5)
        .then(pl.lit(LAIONET_MORE_VARIED))
        .when(pl.col("share_high") < 0.5)
        .then(pl.lit(IMAGENET_MORE_VARIED))
        .otherwise(pl.lit(NEITHER))
    )
    table = table.join(verdicts, on="wnid", how="left", maintain_order="left").with_columns(
        clip_verdict=pl.when(pl.col("wnid") == POOLED).then(pl.lit(pooled_clip)).otherwise("clip_verdict")
    )
    return (
        table.with_columns(
            agrees_with_clip=pl.col("people_verdict") == pl.col("clip_verdict"),
        )
        .select(list(RESULTS_SCHEMA))
        .cast(RESULTS_SCHEMA)
    )


def _tallies() -> list[pl.Expr]:
    return [
        pl.len().alias("answers"),
        pl.col("rater").n_unique().alias("raters"),
        pl.col("laionet_chosen").sum().alias("laionet_more_varied"),
        (pl.col("laionet_chosen") == pl.col("clip_laionet_more_varied"))
        .mean()
        .alias("share_agreeing_with_clip_trials"),
    ]


def _pooled_clip(verdicts: pl.DataFrame) -> str:
    """CLIP's pooled verdict over the rated classes: the verdict most of them get (``neither``
    on a tie)."""
    counts = verdicts.group_by("clip_verdict").len().sort("len", "clip_verdict", descending=[True, False])
    if counts.is_empty() or (counts.height > 1 and counts["len"][0] == counts["len"][1]):
        return NEITHER
    return counts["clip_verdict"][0]


def reliability_matrix(scored: pl.DataFrame) -> tuple[np.ndarray, list[str], list[int]]:
    """Raters × trials: 1 where the rater chose LAIONet's pair, 0 where the other, NaN where the
    rater did not answer; raters and trials in sorted order."""
    raters = sorted(scored["rater"].unique().to_list())
    trials = sorted(scored["trial"].unique().to_list())
    matrix = np.full((len(raters), len(trials)), np.nan)
    r = {x: i for i, x in enumerate(raters)}
    t = {x: i for i, x in enumerate(trials)}
    rows = scored.select(
        pl.col("rater").replace_strict(r, return_dtype=pl.Int64),
        pl.col("trial").replace_strict(t, return_dtype=pl.Int64),
        pl.col("laionet_chosen").cast(pl.Float64),
    )
    matrix[rows["rater"].to_numpy(), rows["trial"].to_numpy()] = rows["laionet_chosen"].to_numpy()
    return matrix, raters, trials


def inter_rater_alpha(scored: pl.DataFrame) -> tuple[float | None, str]:
    """Krippendorff's alpha (nominal) of the raters' answers, or None with why it is undefined."""
    import krippendorff

    matrix, raters, _ = reliability_matrix(scored)
    if len(raters) < 2:
        return None, "one rater: no agreement between raters to measure"
    pairable = (np.isfinite(matrix).sum(axis=0) >= 2).sum()
    if pairable == 0:
        return None, "no trial was answered by two raters"
    values = matrix[:, np.isfinite(matrix).sum(axis=0) >= 2]
    if np.unique(values[np.isfinite(values)]).size < 2:
        return None, "every rater gave the same answer to every trial: alpha is undefined (no variation)"
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")), (
        f"{len(raters)} raters, {int(pairable)} trials answered by two or more"
    )


def simulated_answers(
    trials: pl.DataFrame, raters: int = 3, agreement: float = 0.8, seed: int = 0
) -> pl.DataFrame:
    """Answers of ``raters`` simulated raters (ids ``simulated-1``…), for demonstrating the
    analysis, never as a finding: to every trial, each picks the pair CLIP calls more varied (the
    lower similarity) with probability ``agreement``, else the other pair.  The trials' columns
    with ``rater`` and ``chosen``."""
    rng = np.random.default_rng(seed)
    clip_side = (
        pl.when(pl.col("left_similarity") < pl.col("right_similarity"))
        .then(pl.lit("left"))
        .otherwise(pl.lit("right"))
    )
    ordered = trials.sort("trial")
    frames = []
    for k in range(1, raters + 1):
        follows = pl.Series(rng.random(ordered.height) < agreement)
        frames.append(
            ordered.with_columns(rater=pl.lit(f"{SIMULATED}-{k}"), _follows=follows).with_columns(
                chosen=pl.when("_follows")
                .then(clip_side)
                .otherwise(pl.when(clip_side == "left").then(pl.lit("right")).otherwise(pl.lit("left")))
            )
        )
    return pl.concat(frames).drop("_follows")
