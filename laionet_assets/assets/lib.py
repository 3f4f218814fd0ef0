"""What the asset modules share: metadata tables, the previous output of a resumable asset."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl


def markdown_table(frame: pl.DataFrame, limit: int = 50) -> dg.MetadataValue:
    """The first ``limit`` rows as a Markdown table for asset metadata."""
    return dg.MetadataValue.md(frame.head(limit).to_pandas().to_markdown(index=False))


def previous_output(path: Path) -> pl.DataFrame | None:
    """An asset's last materialised table, for resuming; unreadable or absent → ``None`` (a full
    re-run, never a failure)."""
    try:
        return pl.read_parquet(path) if path.exists() else None
    except Exception:  # noqa: BLE001 - an unreadable previous table means a full re-run
        return None


def figure(path: Path) -> dg.MetadataValue:
    """A PNG figure linked from metadata (the figures stay files a person can open)."""
    return dg.MetadataValue.path(str(path))
