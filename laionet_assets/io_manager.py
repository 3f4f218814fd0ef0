"""The Parquet IO manager: every table asset is a polars frame in one Parquet file per asset
(partition), written atomically, described by Dagster's standard table metadata."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from laionet_assets.core.io.atomic import write_parquet_atomic
from laionet_assets.core.io.storage import Location, home_path, read_parquet
from laionet_assets.core.text.vocabularies import DEFAULT_VOCABULARY, vocabulary_home


def table_metadata(frame: pl.DataFrame) -> dict:
    """``dagster/row_count`` and ``dagster/column_schema`` (the UI shows both natively)."""
    columns = [dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
    return {"dagster/row_count": frame.height, "dagster/column_schema": dg.TableSchema(columns=columns)}


def assets_root(home: str | Path) -> Location:
    """``<home>/assets``: every table asset lives below it."""
    return home_path(home) / "assets"


def asset_file(home: str | Path, asset_key: dg.AssetKey, partition: str | None = None) -> Location:
    """``<home>/assets/<asset>/<partition>.parquet`` or ``<home>/assets/<asset>.parquet``."""
    base = assets_root(home) / "/".join(asset_key.path)
    return base / f"{partition}.parquet" if partition else base.with_suffix(".parquet")


class PolarsParquetIOManager(dg.ConfigurableIOManager):
    """polars frames as Parquet under ``<home>/assets/`` (see :func:`asset_file`).  A run over a
    partition range returns ``{partition_key: frame}`` and gets one file per partition.

    An unpartitioned asset that reads a partitioned one receives ``{partition_key: frame}`` for
    the partitions that have been materialised; missing ones are logged, never fatal.
    """

    home: str = "data"
    vocabulary: str = DEFAULT_VOCABULARY  # a vocabulary's tables live under its own folder

    def _path(self, asset_key: dg.AssetKey, partition: str | None) -> Location:
        return asset_file(vocabulary_home(self.home, self.vocabulary), asset_key, partition)

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | dict) -> None:
        if obj is None:
            return
        if isinstance(obj, dict):  # a run over a partition range: one file per partition
            expected = set(context.asset_partition_keys)
            if set(obj) != expected:
                raise ValueError(
                    f"{context.asset_key.to_user_string()}: outputs for {sorted(obj)}, "
                    f"partitions {sorted(expected)}"
                )
            for key, frame in obj.items():
                write_parquet_atomic(frame, self._path(context.asset_key, key))
            rows = sum(f.height for f in obj.values())
            first = next(iter(obj.values()), pl.DataFrame())
            context.add_output_metadata(
                {
                    **table_metadata(first),
                    "dagster/row_count": rows,
                    "partitions_written": len(obj),
                    "rows": rows,
                }
            )
            return
        partition = context.partition_key if context.has_asset_partitions else None
        path = self._path(context.asset_key, partition)
        write_parquet_atomic(obj, path)
        context.add_output_metadata(
            {"path": dg.MetadataValue.path(str(path)), "rows": obj.height, **table_metadata(obj)}
        )

    def load_input(self, context: dg.InputContext):
        key = context.asset_key
        if context.has_asset_partitions:
            keys = context.asset_partition_keys
            if len(keys) == 1 and context.has_partition_key:
                return self._read(self._path(key, keys[0]))
            frames = {}
            for k in keys:
                path = self._path(key, k)
                if path.exists():
                    frames[k] = read_parquet(path)
                else:
                    context.log.warning(f"{key.to_user_string()}[{k}] has no output at {path}; skipped")
            return frames
        return self._read(self._path(key, None))

    @staticmethod
    def _read(path: Location) -> pl.DataFrame:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: materialise the upstream asset first")
        return read_parquet(path)
