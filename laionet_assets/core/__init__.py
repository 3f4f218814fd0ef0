"""Pure functions on polars frames and numpy/torch arrays. Nothing here imports Dagster."""
