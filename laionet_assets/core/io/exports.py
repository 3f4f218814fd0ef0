"""CSV files people open in a spreadsheet: a text cell that a spreadsheet would evaluate (one that
begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is written with a leading
apostrophe, which spreadsheets show as text; ``read_csv_export`` takes it off again.  A cell that
begins with apostrophes and then one of those gets one more, so it too reads back as it was."""

from __future__ import annotations

import os
import re

import polars as pl

from laionet_assets.core.io.atomic import write_atomic

# a formula's first character, after any apostrophes: a cell that already begins with apostrophes
# before one gets one more, so reading takes exactly one off and every cell comes back as it was
FORMULA_START = r"^'*[=+\-@\t\r]"
_QUOTED = r"^'+[=+\-@\t\r]"


def spreadsheet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text cell that begins like a formula prefixed by an apostrophe."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START)).then("'" + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text
    )


def write_csv_export(frame: pl.DataFrame, path: str | os.PathLike):
    """``frame`` as a spreadsheet-safe CSV at ``path``, written atomically."""
    return write_atomic(path, spreadsheet_safe(frame).write_csv)


def read_csv_export(path: str | os.PathLike, **options) -> pl.DataFrame:
    """A CSV written by ``write_csv_export``, with its cells as they were (``options`` go to
    ``pl.read_csv``)."""
    frame = pl.read_csv(path, **options)
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_QUOTED)).then(pl.col(c).str.slice(1)).otherwise(pl.col(c)).alias(c)
        for c in text
    )


def spreadsheet_unescape(cell: str) -> str:
    """One cell as it was before ``spreadsheet_safe`` (the leading apostrophe of an escaped
    formula taken off)."""
    return cell[1:] if re.match(_QUOTED, cell) else cell
