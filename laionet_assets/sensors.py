"""New LAION releases: a sensor that adds a partition per new or rewritten part and requests its
matching and scoring, and a daily schedule that refreshes LAIONet once new parts have landed."""

import json

import dagster as dg

from laionet_assets.assets.captions import laion_caption_index
from laionet_assets.assets.creation import lemma_matches, text_sims
from laionet_assets.core.discovery import find_parts, readable_problem
from laionet_assets.partitions import laion_parts
from laionet_assets.resources import LaionetStorage
from laionet_assets.settings import process_setting

part_job = dg.define_asset_job(
    "laion_part_job",
    selection=dg.AssetSelection.assets(lemma_matches, text_sims, laion_caption_index),
    partitions_def=laion_parts,
    description="lemma_matches, text_sims and the caption index for one LAION part",
)
refresh_job = dg.define_asset_job(
    "laionet_refresh_job",
    # everything downstream of the parts' union and the external inputs, multi-asset siblings included
    selection=dg.AssetSelection.assets("laionet_clean", "imagenet_val", "imagenet_captions")
    .required_multi_asset_neighbors()
    .downstream(),
    description="Rebuild LAIONet (and its checks) from every materialised part",
)


def releases_root(storage: LaionetStorage) -> str:
    return process_setting("releases_root") or str(storage.root / "releases")


@dg.sensor(job=part_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def laion_release_sensor(context: dg.SensorEvaluationContext, storage: LaionetStorage):
    """Watches ``$LAIONET_RELEASES_ROOT`` (default ``<home>/releases``; a folder or fsspec URL)
    for ``<release>/<part>.parquet``.  The cursor maps each part key to the size and mtime seen:
    a part is requested once, again only when rewritten; an unreadable part is skipped (and
    retried when it changes)."""
    root = releases_root(storage)
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    try:
        parts = find_parts(root)
    except FileNotFoundError as exc:
        return dg.SkipReason(str(exc))
    new_or_changed = [p for p in parts if seen.get(p.key) != p.signature]
    if not new_or_changed:
        return dg.SkipReason(f"no new or rewritten parts under {root} ({len(parts)} known)")
    good, unreadable = [], []
    for part in new_or_changed:
        problem = readable_problem(part.location)
        (unreadable if problem else good).append((part, problem))
        seen[part.key] = part.signature
    for part, problem in unreadable:
        context.log.warning(f"skipping unreadable part {part.key}: {problem}")
    storage.registry.add(
        {
            p.key: {"path": p.location, "release": p.release, "size": p.size, "mtime_ns": int(p.mtime * 1e9)}
            for p, _ in good
        }
    )
    new_keys = [p.key for p, _ in good if not context.instance.has_dynamic_partition(laion_parts.name, p.key)]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                partition_key=p.key, run_key=f"{p.key}@{p.signature}", tags={"laionet/release": p.release}
            )
            for p, _ in good
        ],
        dynamic_partitions_requests=[laion_parts.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(seen, sort_keys=True),
    )


@dg.schedule(
    job=refresh_job,
    cron_schedule=process_setting("refresh_cron"),
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def laionet_refresh_schedule(context: dg.ScheduleEvaluationContext):
    """Daily: rebuild laionet_clean/laionet_top50 when a text_sims partition has been
    materialised since LAIONet was last built; otherwise skip."""
    instance = context.instance
    latest_part = instance.get_latest_materialization_event(dg.AssetKey("text_sims"))
    if latest_part is None:
        return dg.SkipReason("no text_sims partition has been materialised yet")
    latest_laionet = instance.get_latest_materialization_event(dg.AssetKey("laionet_clean"))
    if latest_laionet is not None and latest_laionet.timestamp >= latest_part.timestamp:
        return dg.SkipReason("LAIONet is newer than every materialised part")
    return dg.RunRequest(run_key=f"refresh@{latest_part.timestamp:.0f}")


laionet_sensors = [laion_release_sensor]
laionet_schedules = [laionet_refresh_schedule]
laionet_jobs = [part_job, refresh_job]
