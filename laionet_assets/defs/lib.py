"""What the asset modules share: metadata tables, the previous output of a resumable asset."""

from __future__ import annotations

import contextlib
import functools
import inspect
from pathlib import Path

import dagster as dg
import polars as pl

from laionet_assets.core.io.slots import machine_slot
from laionet_assets.core.io.storage import read_parquet
from laionet_assets.core.report.figures import thumbnail_png
from laionet_assets.executors import GPU_STEP_TAGS

# Asset metadata the CLI reads to summarise a run (``laionet_assets.graph.AssetPlan``): a table's
# headline (its rows and classes, after a run that built it) and a page's file under reports/.
HEADLINE = "laionet/headline"
ROWS_REQUIRED = "laionet/rows_required"  # a run that builds it empty has failed
PAGE = "laionet/page"
LANCEDB = "laionet/lancedb"  # the prefix of the LanceDB tables the asset writes (one per encoder)
ON_DEMAND = "laionet/on_demand"  # built only when asked for by name: never part of "everything"


def headline(label: str, rows_required: bool = False) -> dict:
    """``label``, formatted with the first counted row's columns, then the rows (those whose
    ``selected`` is true where the table has that column) and the classes they cover; with
    ``rows_required``, ``laionet run`` exits 1 when the table it built is empty."""
    return {HEADLINE: label, **({ROWS_REQUIRED: True} if rows_required else {})}


def on_demand(why: str) -> dict:
    """Decorator arguments of an asset built only when a run names it (``laionet export``,
    ``--select``, a schedule of its own): ``laionet run`` without ``--select`` and the stage jobs
    leave it out (``ON_DEMAND_ASSETS``), for ``why`` (its metadata)."""
    return {"metadata": {ON_DEMAND: why}, "tags": {ON_DEMAND: "true"}}


ON_DEMAND_ASSETS = dg.AssetSelection.tag(ON_DEMAND, "true")


def page(file: str) -> dict:
    """The asset writes this HTML page under ``<home>/reports/``."""
    return {PAGE: file}


def lancedb_tables(prefix: str) -> dict:
    """The asset writes vectors to the LanceDB tables ``<home>/lancedb/<prefix>__<encoder>``."""
    return {LANCEDB: prefix}


def markdown_table(frame: pl.DataFrame, limit: int = 50) -> dg.MetadataValue:
    """The first ``limit`` rows as a Markdown table for asset metadata."""
    return dg.MetadataValue.md(frame.head(limit).to_pandas().to_markdown(index=False))


def previous_output(path: Path) -> pl.DataFrame | None:
    """An asset's last materialised table, for resuming; unreadable or absent → ``None`` (a full
    re-run, never a failure)."""
    try:
        return read_parquet(path) if path.exists() else None
    except Exception:  # noqa: BLE001 - an unreadable previous table means a full re-run
        return None


def reusable_rows(storage, own: str, other: str, columns: list[str], key: list[str]) -> pl.DataFrame | None:
    """What an asset may reuse instead of computing again: its own last outputs (every release's),
    then ``other``'s stored table (every partition), those of them that hold ``columns``, as one
    table (the first row of each ``key`` kept); ``None`` when neither exists."""
    frames = [
        p
        for p in (storage.read_asset(own), storage.read_asset(other))
        if p is not None and set(columns) <= set(p.columns)
    ]
    if not frames:
        return None
    return pl.concat([p.select(columns) for p in frames], how="diagonal_relaxed").unique(
        key, keep="first", maintain_order=True
    )


FIGURE_THUMBNAIL_WIDTH = 560  # pixels of the picture in the UI; the file keeps its full size


def figure(path: Path) -> dg.MetadataValue:
    """A PNG figure as the UI shows it: Dagster's Markdown metadata renders a ``data:`` image, so
    a thumbnail (a palette PNG, tens of kB in the event log) with the full file's path under it;
    the figure itself stays a file a person can open."""
    return dg.MetadataValue.md(
        f"![{Path(str(path)).stem}](data:image/png;base64,{thumbnail_png(path, FIGURE_THUMBNAIL_WIDTH)})"
        f"\n\n`{path}`"
    )


# ---------------------------------------------------------------------------- partitions of LAION parts


def run_parts(context: dg.AssetExecutionContext, value=None) -> dict:
    """The run's LAION parts as ``{part: input}``: a one-part run receives its input as the frame
    itself, a run over a range of parts as a dict (the IO manager's convention); ``value=None``
    gives ``{part: None}`` for an asset with no partitioned input."""
    keys = context.partition_keys
    if value is None:
        return dict.fromkeys(keys)
    frames = value if isinstance(value, dict) else {keys[0]: value}
    missing = [k for k in keys if k not in frames]
    if missing:
        raise FileNotFoundError(f"no upstream output for part(s) {missing}: materialise them first")
    return {k: frames[k] for k in keys}


def parts_output(context: dg.AssetExecutionContext, outputs: dict[str, pl.DataFrame]):
    """What a partitioned asset returns: the frame of a one-part run, ``{part: frame}`` for a range."""
    keys = context.partition_keys
    return outputs[keys[0]] if len(keys) == 1 else {k: outputs[k] for k in keys}


def all_parts(value: pl.DataFrame | dict, schema: dict) -> pl.DataFrame:
    """Every materialised part of a partitioned input as one frame, parts in key order (an
    unpartitioned asset reading a partitioned one receives ``{part: frame}``)."""
    if isinstance(value, pl.DataFrame):
        return value
    frames = [value[k] for k in sorted(value)]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=schema)


def part_rows(frame: pl.DataFrame, part: str) -> pl.DataFrame:
    """The rows of one LAION part (``release_part``) of a table over every part."""
    return frame.filter(pl.col("release_part") == part)


GPU_POOL = "gpu"
GPU_SLOT_HELD, GPU_SLOT_FREED = "holds this machine's gpu slot", "gave back this machine's gpu slot"


def gpu_step(fn):
    """Run the body of an asset in the ``gpu`` pool while it also holds one of the pool's slots
    on this machine: lock files in the instance's folder, as many as the pool's limit.  The
    instance's pool claims are what bound GPU steps across machines; on one machine the locks
    make the bound exact even where two runs claim at the same moment (a SQLite instance's
    claims are not atomic across processes).  An instance without a folder takes no lock."""

    @contextlib.contextmanager
    def slot(context: dg.AssetExecutionContext):
        folder = context.instance.root_directory
        if folder is None:
            yield
            return
        info = context.instance.event_log_storage.get_concurrency_info(GPU_POOL)
        with machine_slot(
            Path(folder) / "slots",
            GPU_POOL,
            info.slot_count or 1,
            lambda: context.log.info("waiting for this machine's gpu slot"),
        ) as number:
            context.log.info(f"{GPU_SLOT_HELD} {number}")
            try:
                yield
            finally:
                context.log.info(f"{GPU_SLOT_FREED} {number}")

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def step(context, *args, **kwargs):
            with slot(context):
                yield from fn(context, *args, **kwargs)

    else:

        @functools.wraps(fn)
        def step(context, *args, **kwargs):
            with slot(context):
                return fn(context, *args, **kwargs)

    return step


def gpu_asset(**kwargs):
    """``dg.asset`` for a step that uses the GPU: in the ``gpu`` pool, placed on GPU nodes or
    workers (``executors.GPU_STEP_TAGS``), holding one of this machine's slots while it runs
    (:func:`gpu_step`)."""
    return lambda fn: dg.asset(pool=GPU_POOL, op_tags=GPU_STEP_TAGS, **kwargs)(gpu_step(fn))


def gpu_multi_asset(**kwargs):
    """``dg.multi_asset`` for a step that uses the GPU, as :func:`gpu_asset`."""
    return lambda fn: dg.multi_asset(pool=GPU_POOL, op_tags=GPU_STEP_TAGS, **kwargs)(gpu_step(fn))


def latest_metadata(context, asset: str, partition: str | None = None) -> dict:
    """The metadata of the asset's (partition's) latest materialisation, as plain values."""
    key = dg.AssetKey(asset)
    if partition is None:
        event = context.instance.get_latest_materialization_event(key)
        materialization = event.asset_materialization if event else None
    else:
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
        ).records
        materialization = records[0].asset_materialization if records else None
    meta = materialization.metadata if materialization else {}
    return {k: getattr(v, "value", v) for k, v in meta.items()}


def input_caveats(context, storage, models: list[str]) -> list[str]:
    """What a page built from this home must say first (``core.report.caveats``): ``models``
    (ids and versions) with random weights, release parts (of the step's release) and image
    folders that are synthetic."""
    from laionet_assets.core.report.caveats import caveats
    from laionet_assets.defs.images.assets import FOLDER_ASSETS

    folders = [latest_metadata(context, name).get("folder") for name in FOLDER_ASSETS]
    entries = storage.registry.load()
    release = context.partition_key if context.has_partition_key else None
    keys = storage.registry.releases(entries).get(release, list(entries)) if release else list(entries)
    parts = [entries[key]["path"] for key in keys]
    return caveats(models, parts + [f for f in folders if f])
