"""The completed rating study (``core.analysis.ratings``): rating_study_pairs and the answers file
→ rating_study_results."""

from pathlib import Path

import dagster as dg
import polars as pl

from laionet_assets.core.analysis import ratings
from laionet_assets.core.report.figures import rating_results_figure
from laionet_assets.defs.lib import figure, markdown_table
from laionet_assets.defs.partitions import RELEASE_LEVEL
from laionet_assets.resources import Experiments, LaionetStorage
from laionet_assets.settings import setting

GROUP = "laionet_experiments"


def _where() -> str:
    s = setting("rating_answers")
    return f"{s.option} / {s.env}"


@dg.asset(group_name=GROUP, **RELEASE_LEVEL, kinds={"polars", "matplotlib"})
def rating_study_results(
    context: dg.AssetExecutionContext,
    storage: LaionetStorage,
    experiments: Experiments,
    rating_study_pairs: pl.DataFrame,
    intra_class_laionet_vs_imagenet: pl.DataFrame,
) -> pl.DataFrame:
    """Do people see what CLIP measures?  The completed rating study (``--rating-answers`` /
    ``LAIONET_RATING_ANSWERS``: ``rating_study_pairs.csv`` with a ``rater`` and a ``chosen`` column)
    per class and pooled: how often the LAIONet pair was called more varied with its Wilson
    interval, the people's verdict against CLIP's, the share of answers agreeing with CLIP's
    answer to the trial, and Krippendorff's alpha between raters.  Rows that cannot be used are
    reported by line; answers of simulated raters are labelled so everywhere."""
    path = experiments.rating_answers
    if not path:
        context.add_output_metadata({"answers": f"none given ({_where()})"})
        return pl.DataFrame(schema=ratings.RESULTS_SCHEMA)
    if not Path(path).is_file():
        raise dg.Failure(f"rating answers file {path} does not exist ({_where()})")
    try:
        answers = ratings.read_answers(path, rating_study_pairs)
    except ratings.AnswersError as exc:
        raise dg.Failure(str(exc)) from None
    for problem in answers.problems[:10]:
        context.log.warning(problem)
    scored = ratings.scored_answers(answers.rows, rating_study_pairs)
    results = ratings.rating_results(scored, intra_class_laionet_vs_imagenet)
    alpha, alpha_why = ratings.inter_rater_alpha(scored)
    pooled = results.filter(pl.col("wnid") == ratings.POOLED)
    fig = rating_results_figure(
        results, storage.figure_path("rating_study_results", context.partition_key), answers.simulated
    )
    raters = sorted(answers.rows["rater"].unique().to_list())
    context.add_output_metadata(
        {
            "answers_file": dg.MetadataValue.path(str(Path(path).resolve())),
            "simulated": answers.simulated,
            "raters": dg.MetadataValue.json(raters),
            "answers": answers.rows.height,
            "dropped_rows": len(answers.problems),
            "dropped_rows_first": dg.MetadataValue.json(answers.problems[:20]),
            "krippendorff_alpha": alpha,
            "krippendorff_alpha_note": alpha_why,
            "share_laionet_more_varied": pooled["share_laionet_more_varied"].first(),
            "share_agreeing_with_clip_trials": pooled["share_agreeing_with_clip_trials"].first(),
            "classes_agreeing_with_clip": int(
                results.filter(pl.col("wnid") != ratings.POOLED)["agrees_with_clip"].sum()
            ),
            "results": markdown_table(results, 30),
            "fig_rating_study_results": figure(fig),
        }
    )
    return results.with_columns(simulated=pl.lit(answers.simulated))
