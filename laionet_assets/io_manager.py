"""The Parquet IO manager: every table asset is a polars frame in one Parquet file per asset
(partition) at the storage resource's ``table_path``, written atomically, described by Dagster's
standard table metadata."""

from __future__ import annotations

import typing

import dagster as dg
import polars as pl

from laionet_assets.core.columns import describe
from laionet_assets.core.io.atomic import write_parquet_atomic
from laionet_assets.core.io.storage import Location, read_parquet, scan_parquet
from laionet_assets.defs.partitions import CROSSING, PART_RELEASE, RELEASE_PARTS, laion_parts
from laionet_assets.resources import LaionetStorage


def table_metadata(frame: pl.DataFrame) -> dict:
    """``dagster/row_count`` and ``dagster/column_schema`` (the UI shows both natively), each
    column with its description from the glossary (``core.columns``)."""
    columns = [
        dg.TableColumn(name, str(dtype), description=describe(name)) for name, dtype in frame.schema.items()
    ]
    return {"dagster/row_count": frame.height, "dagster/column_schema": dg.TableSchema(columns=columns)}


class PolarsParquetIOManager(dg.IOManager):
    """polars frames as Parquet under ``<home>/assets/`` (see :func:`asset_file`).  A run over a
    partition range returns ``{partition_key: frame}`` and gets one file per partition.

    An unpartitioned asset that reads a partitioned one receives ``{partition_key: frame}`` for
    the partitions that have been materialised; missing ones are logged, never fatal.  An input
    annotated ``pl.LazyFrame`` (or ``dict[str, pl.LazyFrame]``) gets lazy scans instead of loaded
    frames: a step that gathers every part reads only the columns and rows it uses.
    """

    def __init__(self, storage: LaionetStorage):
        self.storage = storage  # the home and vocabulary the tables live under

    def _path(self, asset_key: dg.AssetKey, partition: str | None) -> Location:
        return self.storage.table_path(asset_key.path, partition)

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
        read = scan_parquet if wants_lazy(context) else read_parquet
        crossing = (context.definition_metadata or {}).get(CROSSING)
        if crossing == PART_RELEASE:
            return self._part_release(context, read)
        if context.has_asset_partitions:
            keys = context.asset_partition_keys
            if crossing == RELEASE_PARTS:  # the parts of the step's release
                mine = set(self.storage.registry.releases().get(context.partition_key, []))
                keys = [k for k in keys if k in mine]
            elif context.has_partition_key and context.partition_key in keys:
                # the run's own partition (an asset check of a partitioned asset gets every
                # partition from Dagster: it checks the one its run materialised)
                return self._read(self._path(key, context.partition_key), read)
            frames = {}
            for k in keys:
                path = self._path(key, k)
                if path.exists():
                    frames[k] = read(path)
                else:
                    context.log.warning(f"{key.to_user_string()}[{k}] has no output at {path}; skipped")
            return frames
        return self._read(self._path(key, None), read)

    def _part_release(self, context: dg.InputContext, read):
        """A per-part step's input from a release-level asset: the table of the step's part's
        release (a run over several parts: of each of their releases, one frame, rows tagged by
        their part)."""
        registered = self.storage.registry.load()
        releases = sorted({registered.get(k, {}).get("release") for k in _run_parts(context)} - {None})
        frames = [read(p) for p in (self._path(context.asset_key, r) for r in releases) if p.exists()]
        if not frames:
            raise FileNotFoundError(
                f"{context.asset_key.to_user_string()} has no output for release "
                f"{', '.join(map(str, releases))}: materialise it first"
            )
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")

    @staticmethod
    def _read(path: Location, read) -> pl.DataFrame | pl.LazyFrame:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: materialise the upstream asset first")
        return read(path)


def _run_parts(context: dg.InputContext) -> list[str]:
    """The parts of the step's run: its partition, or those of its partition range (a backfill
    batches up to ``IMAGE_PARTS_PER_RUN``), in the partitions' order."""
    if context.has_partition_key:
        return [context.partition_key]
    span = context.step_context.partition_key_range
    keys = context.step_context.instance.get_dynamic_partitions(laion_parts.name)
    return keys[keys.index(span.start) : keys.index(span.end) + 1]


def wants_lazy(context: dg.InputContext) -> bool:
    """Whether the input is annotated ``pl.LazyFrame`` or ``dict[str, pl.LazyFrame]``."""
    annotation = context.dagster_type.typing_type
    return annotation is pl.LazyFrame or pl.LazyFrame in typing.get_args(annotation)


@dg.io_manager(
    required_resource_keys={"storage"},
    description="polars frames as Parquet under the storage resource's home (its vocabulary's folder)",
)
def parquet_io_manager(init_context: dg.InitResourceContext) -> PolarsParquetIOManager:
    """The IO manager on the run's own storage resource, so a home or vocabulary chosen for a run
    (environment, flag or launchpad) places its tables too: both are configured once, on storage."""
    return PolarsParquetIOManager(init_context.resources.storage)
