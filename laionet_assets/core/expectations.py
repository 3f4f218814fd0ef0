"""Schema and value-range validation with Great Expectations 1.x (called from asset checks).

dagster-ge is pinned to GX 0.x, so the checks call GX 1.x directly through an ephemeral context.
"""

from __future__ import annotations

import logging

import polars as pl

from laionet_assets.core.text.selection import LAIONET_SCHEMA


def laionet_expectations(wnids: list[str]) -> list:
    import great_expectations as gx

    E = gx.expectations
    return [
        E.ExpectTableColumnsToMatchSet(
            column_set=list(LAIONET_SCHEMA),
            exact_match=False,
        ),
        E.ExpectColumnValuesToNotBeNull(column="sample_id"),
        E.ExpectColumnValuesToBeUnique(column="sample_id"),
        E.ExpectColumnValuesToNotBeNull(column="text_similarity"),
        E.ExpectColumnValuesToBeBetween(column="text_similarity", min_value=-1.0, max_value=1.0),
        E.ExpectColumnValuesToBeInSet(column="wnid", value_set=wnids),
        E.ExpectColumnValuesToBeBetween(column="unsafe_score", min_value=0.0, max_value=1.0),
    ]


def validate_frame(frame: pl.DataFrame | pl.LazyFrame, expectations: list, name: str = "frame") -> dict:
    """Run GX expectations over a polars frame; returns success and per-expectation results.
    Only the columns an expectation reads are handed to GX (as pandas); the others are there by
    name, as nulls, for the expectations on the column set: LAIONet's captions and URLs are
    never copied into Python strings."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for logger in [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]:
        logging.getLogger(logger).setLevel(logging.ERROR)  # GX logs its temporary folders at INFO
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(f"{name}_source")
    asset = source.add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe(f"{name}_batch").get_batch(
        batch_parameters={"dataframe": _read_columns(frame, expectations).to_pandas()}
    )
    suite = context.suites.add(gx.ExpectationSuite(name=f"{name}_suite", expectations=expectations))
    result = batch.validate(suite)
    details = {}
    for r in result.results:
        cfg = r.expectation_config
        label = cfg.type + (f"({cfg.kwargs['column']})" if "column" in cfg.kwargs else "")
        details[label] = {
            "success": bool(r.success),
            "unexpected_count": (r.result or {}).get("unexpected_count"),
            "partial_unexpected_list": [
                str(v) for v in (r.result or {}).get("partial_unexpected_list", [])[:5]
            ],
        }
    return {"success": bool(result.success), "results": details}


def _read_columns(frame: pl.DataFrame | pl.LazyFrame, expectations: list) -> pl.DataFrame:
    read = {e.column for e in expectations if getattr(e, "column", None)}
    names = frame.collect_schema().names()
    return frame.lazy().select(c if c in read else pl.lit(None).alias(c) for c in names).collect()
