"""New LAION releases: a sensor that adds a partition per new or rewritten part and requests its
matching and scoring, and a daily schedule that refreshes LAIONet once new parts have landed."""

import json

import dagster as dg

from laionet_assets.assets.captions import laion_caption_index
from laionet_assets.assets.creation import lemma_matches, text_sims
from laionet_assets.core.releases.discovery import find_parts
from laionet_assets.partitions import laion_parts
from laionet_assets.resources import LaionetStorage
from laionet_assets.settings import process_setting

part_job = dg.define_asset_job(
    "laion_part_job",
    selection=dg.AssetSelection.assets(lemma_matches, text_sims, laion_caption_index),
    partitions_def=laion_parts,
    description="lemma_matches, text_sims and the caption index for one LAION part",
)
# the image side of a part: downloads, OCR filter, embeddings, predictions
IMAGE_PART_ASSETS = ("laionet_images", "laionet_final", "image_embeddings", "model_predictions")
image_side = dg.AssetSelection.assets(*IMAGE_PART_ASSETS)
refresh_job = dg.define_asset_job(
    "laionet_refresh_job",
    # everything downstream of the parts' union and the external inputs, multi-asset siblings
    # included, short of the per-part image side and what reads it
    selection=dg.AssetSelection.assets("laionet_clean", "imagenet_val", "imagenet_captions")
    .required_multi_asset_neighbors()
    .downstream()
    - image_side.downstream(),
    description="Rebuild LAIONet (and its checks) from every materialised part",
)
image_part_job = dg.define_asset_job(
    "laionet_image_part_job",
    selection=image_side,
    partitions_def=laion_parts,
    description="The image side of one LAION part: downloads, OCR filter, image embeddings, predictions",
)
evaluation_job = dg.define_asset_job(
    "laionet_evaluation_job",
    selection=image_side.downstream(include_self=False).required_multi_asset_neighbors(),
    description="Accuracy, intra-class similarity and the report over every part's image side",
)


def releases_root(storage: LaionetStorage) -> str:
    return process_setting("releases_root") or str(storage.root / "releases")


@dg.sensor(job=part_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def laion_release_sensor(context: dg.SensorEvaluationContext, storage: LaionetStorage):
    """Watches ``$LAIONET_RELEASES_ROOT`` (default ``<home>/releases``; a folder or fsspec URL)
    for ``<release>/**/<part>`` in any release layout (detected, or ``$LAIONET_LAYOUT`` /
    ``$LAIONET_COLUMNS``).  The cursor maps each part key to its signature (sizes and times of the
    part and its embedding files): a part is requested once all its files are there, again only
    when rewritten.  Unreadable files and unrecognised releases are logged once and skipped."""
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
    for where, problem in found.problems.items():
        if cursor.get("problems", {}).get(where) != problem:
            context.log.warning(f"skipping {where}: {problem}")
    for part, missing in found.waiting.items():
        context.log.info(f"waiting for {part}: {', '.join(missing)} not there yet")
    new_or_changed = [p for p in found.parts if seen.get(p.key) != p.signature]
    new_cursor = json.dumps(
        {"parts": {**seen, **{p.key: p.signature for p in new_or_changed}}, "problems": found.problems},
        sort_keys=True,
    )
    if not new_or_changed:
        return dg.SensorResult(
            skip_reason=f"no new or rewritten parts under {root} ({len(found.parts)} known, "
            f"{len(found.waiting)} waiting for their embedding files)",
            cursor=new_cursor,
        )
    storage.registry.add(new_or_changed)
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


laionet_sensors = [laion_release_sensor]
laionet_schedules = [laionet_refresh_schedule]
laionet_jobs = [part_job, refresh_job, image_part_job, evaluation_job]
