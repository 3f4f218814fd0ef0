"""New LAION releases: a sensor that adds a partition per new or rewritten part and requests its
matching and scoring, and a daily schedule that refreshes LAIONet once new parts have landed."""

import json

import dagster as dg

from laionet_assets.core.releases.discovery import find_parts
from laionet_assets.defs.creation.jobs import part_job, refresh_job
from laionet_assets.defs.partitions import laion_parts
from laionet_assets.resources import LaionetStorage
from laionet_assets.settings import process_setting


def releases_root(storage: LaionetStorage) -> str:
    return process_setting("releases_root") or str(storage.root / "releases")


@dg.sensor(job=part_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def laion_release_sensor(context: dg.SensorEvaluationContext, storage: LaionetStorage):
    """Watches ``$LAIONET_RELEASES_ROOT`` (default ``<home>/releases``; a folder or fsspec URL)
    for ``<release>/**/<part>`` in any release layout (detected, or ``$LAIONET_LAYOUT`` /
    ``$LAIONET_COLUMNS``).  The cursor maps each part key to its signature (sizes and times of the
    part and its embedding files): a part is requested once all its files are there, again only
    when rewritten.  Unreadable files, unrecognised releases, folders that cannot be scanned and
    parts whose key another folder holds are logged once and skipped; the other folders go on."""
    root = releases_root(storage)
    cursor = json.loads(context.cursor) if context.cursor else {}
    seen: dict[str, str] = cursor.get("parts", {})
    try:
        found = find_parts(
            root,
            process_setting("layout"),
            process_setting("columns") or None,
            process_setting("embeddings_model") or None,
        )
    except FileNotFoundError as exc:
        return dg.SkipReason(str(exc))
    for part, missing in found.waiting.items():
        context.log.info(f"waiting for {part}: {', '.join(missing)} not there yet")
    changed = [p for p in found.parts if seen.get(p.key) != p.signature]
    # a part whose key another release folder holds is reported, never registered nor requested
    clashes = storage.registry.add(changed) if changed else {}
    problems = {**found.problems, **clashes}
    for where, problem in problems.items():
        if cursor.get("problems", {}).get(where) != problem:
            context.log.warning(f"skipping {where}: {problem}")
    new_or_changed = [p for p in changed if p.path not in clashes]
    new_cursor = json.dumps(
        {"parts": {**seen, **{p.key: p.signature for p in new_or_changed}}, "problems": problems},
        sort_keys=True,
    )
    if not new_or_changed:
        return dg.SensorResult(
            skip_reason=f"no new or rewritten parts under {root} ({len(found.parts)} known, "
            f"{len(found.waiting)} waiting for their embedding files, {len(problems)} skipped)",
            cursor=new_cursor,
        )
    new_keys = [
        p.key for p in new_or_changed if not context.instance.has_dynamic_partition(laion_parts.name, p.key)
    ]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                partition_key=p.key,
                run_key=f"{p.key}@{p.signature}",
                tags={"laionet/release": p.release, "laionet/layout": p.layout},
            )
            for p in new_or_changed
        ],
        dynamic_partitions_requests=[laion_parts.build_add_request(new_keys)] if new_keys else [],
        cursor=new_cursor,
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
