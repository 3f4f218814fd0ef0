"""New LAION releases: a sensor that adds a partition per new or rewritten part (and one per new
release) and requests its matching and scoring, and a daily schedule that builds each release's
LAIONet once new parts of it have landed."""

import json

import dagster as dg

from laionet_assets.core.releases.discovery import find_parts
from laionet_assets.defs.creation.jobs import part_job, refresh_job
from laionet_assets.defs.partitions import laion_parts, laion_releases
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
    # a release is a top-level folder: a new one gets its own LAIONet, new parts of a known one grow it
    known = storage.registry.releases()
    present = {p.release for p in found.parts}
    gone = sorted(set(cursor.get("releases", [])) - present)
    for release in gone:
        if release not in cursor.get("gone", []):
            context.log.warning(
                f"release {release}: its folder is gone from {root}; its outputs are kept "
                f"({len(known.get(release, []))} registered parts)"
            )
    for release in sorted({p.release for p in new_or_changed}):
        grown = [p.key for p in new_or_changed if p.release == release]
        if context.instance.has_dynamic_partition(laion_releases.name, release):
            context.log.info(f"release {release} grows: {len(grown)} new or rewritten part(s)")
        else:
            context.log.info(f"new release {release}: {len(grown)} part(s); its LAIONet follows them")
    new_cursor = json.dumps(
        {
            "parts": {**seen, **{p.key: p.signature for p in new_or_changed}},
            "problems": problems,
            "releases": sorted(present | set(cursor.get("releases", [])) - set(gone)),
            "gone": gone,
        },
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
    new_releases = sorted(
        {p.release for p in new_or_changed}
        - {r for r in present if context.instance.has_dynamic_partition(laion_releases.name, r)}
    )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                partition_key=p.key,
                run_key=f"{p.key}@{p.signature}",
                tags={"laionet/release": p.release, "laionet/layout": p.layout},
            )
            for p in new_or_changed
        ],
        dynamic_partitions_requests=[
            *([laion_parts.build_add_request(new_keys)] if new_keys else []),
            *([laion_releases.build_add_request(new_releases)] if new_releases else []),
        ],
        cursor=new_cursor,
    )


@dg.schedule(
    job=refresh_job,
    cron_schedule=process_setting("refresh_cron"),
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def laionet_refresh_schedule(context: dg.ScheduleEvaluationContext, storage: LaionetStorage):
    """Daily: for each release, rebuild its LAIONet (and what is computed from it) when a
    text_sims partition of its parts has been materialised since its LAIONet was last built; a
    new release's first LAIONet likewise.  Releases are never mixed: each run is one release's."""
    instance = context.instance
    requests, waiting = [], []
    for release, keys in storage.registry.releases().items():
        part = _newest(instance, "text_sims", keys)
        if part is None:
            waiting.append(release)
            continue
        built = _newest(instance, "laionet_clean", [release])
        if built is not None and built >= part:
            continue
        if not instance.has_dynamic_partition(laion_releases.name, release):
            instance.add_dynamic_partitions(laion_releases.name, [release])
        requests.append(dg.RunRequest(run_key=f"refresh-{release}@{part:.0f}", partition_key=release))
    if not requests:
        return dg.SkipReason(
            "every release's LAIONet is newer than its materialised parts"
            + (f" ({', '.join(waiting)}: no text_sims partition yet)" if waiting else "")
        )
    return requests


def _newest(instance, asset: str, partitions: list[str]) -> float | None:
    """When the newest materialisation of ``asset`` among ``partitions`` happened, or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=partitions), limit=1
    ).records
    return records[0].timestamp if records else None
