"""``laionet export``: one set of a release as a dataset people load (the asset ``laionet_export``,
materialised for the release's partition, so the run shows in the UI)."""

from __future__ import annotations

import sys
from pathlib import Path

from laionet_assets import settings
from laionet_assets.cli.home import prepare_home
from laionet_assets.cli.run import invalid_configuration, root_error_message


def pick_release(releases: dict, release: str | None) -> tuple[str | None, str | None]:
    """The release to export, or why none: ``--release`` may be left out where the home has one."""
    names = sorted(releases)
    if release is None:
        if len(names) == 1:
            return names[0], None
        if not names:
            return None, "the home holds no release yet: laionet run --release FOLDER first"
        return None, f"the home holds releases {', '.join(names)}: name one with --release"
    if release not in releases:
        return None, f"no release {release!r} in the home (it holds {', '.join(names) or 'none'})"
    return release, None


def export(
    set_name: str,
    release: str | None,
    fmt: str,
    out: str | None,
    overwrite: bool,
    home: str | None,
    profile: str | None,
    chosen: dict,
) -> int:
    chosen = {k: v for k, v in chosen.items() if v is not None}
    root = prepare_home(home, profile, chosen.get("vocabulary"))
    from laionet_assets.profiles import current_profile, resources_for

    resource_values = {k: v for k, v in chosen.items() if settings.setting(k).scope == settings.RESOURCE}
    asset_values = {k: v for k, v in chosen.items() if settings.setting(k).scope == settings.ASSET_CONFIG}
    try:
        resources = resources_for(profile or current_profile(), str(root), resource_values)
    except ValueError as exc:
        print(invalid_configuration(exc), file=sys.stderr)
        return 2
    release, problem = pick_release(resources["storage"].registry.releases(), release)
    if problem:
        print(f"laionet: {problem}", file=sys.stderr)
        return 2
    import dagster as dg

    from laionet_assets.definitions import all_assets
    from laionet_assets.defs.partitions import laion_releases

    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(laion_releases.name, [release])
    run_config = settings.asset_run_config(asset_values, {"laionet_export"})
    config = run_config.setdefault("ops", {}).setdefault("laionet_export", {"config": {}})["config"]
    config.update(set=set_name, format=fmt, overwrite=overwrite, out=str(Path(out).absolute()) if out else "")
    result = dg.materialize(
        all_assets,
        selection=["laionet_export"],
        partition_key=release,
        instance=instance,
        resources=resources,
        run_config={**run_config, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        raise_on_error=False,
        tags={"laionet/cli": "export"},
    )
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        why = root_error_message(failures[0].step_failure_data.error) if failures else "the run failed"
        print(f"laionet: export failed: {why}", file=sys.stderr)
        return 1
    meta = result.asset_materializations_for_node("laionet_export")[0].metadata
    print(
        f"exported {meta['rows'].value} images over {meta['classes'].value} classes of release {release} "
        f"({set_name}) as {fmt}: {meta['out'].value}\n  dataset card: {meta['card'].value}"
    )
    return 0
