"""``laionet run``: register a release's parts as partitions and materialise the selection stage by
stage through the home's Dagster instance, printing what will be read, each run's outcome and the
headline sizes of what was built."""

from __future__ import annotations

import os
import posixpath
import sys
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from laionet_assets import settings
from laionet_assets.core.io.names import slug
from laionet_assets.settings import ASSET_CONFIG, RESOURCE

if TYPE_CHECKING:
    pass

from laionet_assets.cli.follow import RunFollower
from laionet_assets.cli.home import prepare_home
from laionet_assets.settings import SettingError

CLUSTER_EXECUTORS = ("celery", "k8s")  # executors whose steps run elsewhere


def root_error_message(error) -> str:
    """The user's own message (file, column, row) under Dagster's step-failure wrappers, whole:
    its continuation lines indented under the first."""
    while (error.cls_name or "").startswith("Dagster") and getattr(error, "cause", None) is not None:
        error = error.cause
    return "\n      ".join(line.rstrip() for line in error.message.strip().splitlines())


def parse_selection(select: str | None) -> list[str]:
    from laionet_assets.graph import asset_plan

    plan = asset_plan()
    if not select:
        return plan.everything
    try:
        return plan.select([s.strip() for s in select.split(",") if s.strip()])
    except ValueError as exc:
        raise SettingError(f"--select: {exc}") from None


def quiet_libraries() -> None:
    """Keep the CLI's output to its own summary: library warnings and download bars go."""
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", message="The multilingual functions are not available")


def invalid_configuration(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)  # pydantic's ValidationError is a ValueError too
    message = (
        "; ".join(e["msg"].removeprefix("Value error, ") for e in errors()) if callable(errors) else str(exc)
    )
    return f"laionet: invalid configuration: {message}"


def print_summary(selection: list[str], storage, release: str) -> dict[str, int]:
    """The headline sizes of what this run built for ``release``, read from the storage
    resource's paths; returns the rows of each headline table it read."""
    from laionet_assets.graph import asset_plan

    plan = asset_plan()
    parts = storage.registry.releases().get(release, [])
    print(f"release {release} ({len(parts)} part(s)):")
    classes = "ImageNet classes" if storage.vocabulary == "imagenet1k" else f"classes of {storage.vocabulary}"
    sizes = {}
    for asset, label in plan.headlines.items():
        partitions = [release] if asset in plan.per_release else parts if asset in plan.partitioned else None
        frame = storage.read_asset(asset, partitions=partitions) if asset in selection else None
        if frame is None:
            continue
        sizes[asset] = frame.height
        if "selected" in frame.columns:
            frame = frame.filter("selected")
            if frame.height == 0:
                continue
        label = label.format(**frame.row(0, named=True)) if frame.height else label
        print(f"{label}: {frame.height:,} rows over {frame['wnid'].n_unique()} {classes}")
    for asset, file in plan.pages.items():
        page = storage.report_path(file, release if asset in plan.per_release else None)
        if asset in selection and page.exists():
            print(f"{asset}: {page}")
    print(f"outputs: {storage.assets}  figures: {storage.release_reports(release)}")
    vocabulary = (
        ""
        if storage.vocabulary == "imagenet1k"
        else f"{settings.setting('vocabulary').env}={storage.vocabulary} "
    )
    print(
        f"Dagster UI on these runs: {vocabulary}laionet ui --home {storage.shared}   "
        "(then open http://127.0.0.1:3000)"
    )
    return sizes


def print_release(scan) -> None:
    """What will be read, before anything runs: per layout, the parts (partition key ← file), the
    column mapping, the safety signal and the shipped embeddings; files skipped or waiting."""
    from laionet_assets.core.releases.layouts import RELEASE_LAYOUTS

    by_layout: dict[str, list] = {}
    for part in scan.parts:
        by_layout.setdefault(part.layout, []).append(part)
    for layout, parts in by_layout.items():
        known = RELEASE_LAYOUTS.get(layout)
        print(f"  {parts[0].describe(known.release if known else '')}")
        if known and known.note:
            print(f"    note: {known.note}")
        for part in parts[:8]:
            print(f"    {part.key} <- {part.file}")
        if len(parts) > 8:
            print(f"    … and {len(parts) - 8} more")
    for part, missing in scan.waiting.items():
        print(f"  waiting (not run): {part}: missing {', '.join(missing)}")
    for part, problem in scan.unreadable.items():
        print(f"  skipped (unreadable): {problem}")


def safety_problem(scan, asset_values: dict, selection: list[str]) -> str | None:
    """A release without any safety signal needs ``--nsfw-policy none``, said before anything runs."""
    policy = asset_values.get("nsfw_policy", "auto")
    bare = [p.key for p in scan.parts if p.safety == "none"]
    from laionet_assets.graph import asset_plan

    ops = asset_plan().ops
    filtered = any(ops[a] in settings.setting("nsfw_policy").targets for a in selection)
    if bare and policy != "none" and filtered:
        return (
            f"layout {scan.parts[0].layout} has no safety signal (no NSFW tag, no unsafe score) for "
            f"{len(bare)} part(s); the '{policy}' policy would drop every row. Choose --nsfw-policy none "
            "(and --nsfw-policy-required none) to accept its rows unfiltered; this is recorded in the "
            "asset metadata and the report"
        )
    return None


@dataclass(frozen=True)
class CheckOutcome:
    """One asset check's evaluation in a run, as the CLI reports it."""

    name: str
    partition: str | None
    passed: bool
    severity: str  # WARN or ERROR
    blocking: bool
    summary: str

    @classmethod
    def of(cls, evaluation, partition: str | None) -> CheckOutcome:
        return cls(
            evaluation.check_name,
            partition,
            evaluation.passed,
            evaluation.severity.value,
            bool(evaluation.blocking),
            check_summary(evaluation.metadata),
        )

    @property
    def failed_with_error(self) -> bool:
        return not self.passed and self.severity == "ERROR"

    @property
    def blocks(self) -> bool:
        return self.failed_with_error and self.blocking

    @property
    def line(self) -> str:
        word = "passed" if self.passed else ("FAILED" if self.severity == "ERROR" else "WARN")
        where = f" [{self.partition}]" if self.partition else ""
        return f"  {self.name}{where}: {word}" + (f" ({self.summary})" if self.summary else "")


def check_summary(metadata: dict) -> str:
    """The numbers of a check's metadata in one line: counts and shares, then any breakdown."""
    parts = []
    for key, entry in metadata.items():
        value = getattr(entry, "value", entry)
        if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
            continue
        if isinstance(value, dict):
            if value and all(isinstance(v, int) for v in value.values()):
                parts.append(key + ": " + ", ".join(f"{k} {v}" for k, v in value.items()))
        else:
            parts.append(f"{key} {value}")
    return "; ".join(parts)


def print_checks(checks: list[CheckOutcome], quiet: bool) -> None:
    shown = [c for c in checks if not (quiet and c.passed)]
    if shown:
        print("checks:")
        for check in shown:
            print(check.line)


def weights_problem(resources: dict, selection: list[str], profile: str) -> str | None:
    """Fetch the hub weights the selected steps' models need (into the libraries' caches), before
    anything runs; the first that cannot be had, in one line with the profile to use instead."""
    from laionet_assets.core.models.weights import WeightsUnavailable, fetch
    from laionet_assets.graph import asset_plan

    plan = asset_plan()
    used = set().union(*(plan.resources[a] for a in selection))
    needed = [
        w
        for key in sorted(used)
        if hasattr(resources[key], "hub_weights")
        for w in resources[key].hub_weights()
    ]
    for weights in dict.fromkeys(needed):
        try:
            fetch(weights)
        except WeightsUnavailable as exc:
            return (
                f"the {profile} profile's weights cannot be loaded: {exc}; run with --profile offline "
                "for models that install from the package registries"
            )
    return None


def run_release(
    release: str | list[str],
    name: str | None,
    profile: str | None,
    select: str | None,
    home: str | None,
    chosen: dict | None = None,
    layout: str | None = None,
    columns: str | None = None,
    embeddings_model: str | None = None,
    verbose: bool = False,
    quiet: bool = False,
    strict: bool = False,
) -> int:
    """Register a release's parts and materialise the selection.  ``chosen``: setting name →
    value (the CLI's flags); resource settings go to ``resources_for``, asset-config settings to
    the run config."""
    chosen = {k: v for k, v in (chosen or {}).items() if v is not None}
    root = prepare_home(home, profile, chosen.get("vocabulary"))
    selection = parse_selection(select)
    from laionet_assets.profiles import current_profile, resources_for
    from laionet_assets.resources import check_model_names

    resource_values = {k: v for k, v in chosen.items() if settings.setting(k).scope == RESOURCE}
    asset_values = {k: v for k, v in chosen.items() if settings.setting(k).scope == ASSET_CONFIG}
    profile = profile or current_profile()
    try:
        resources = resources_for(profile, str(root), resource_values)
        check_model_names(resources)
    except ValueError as exc:
        print(invalid_configuration(exc), file=sys.stderr)
        return 2
    import dagster as dg

    from laionet_assets.definitions import all_assets, all_checks
    from laionet_assets.defs.partitions import laion_parts, laion_releases
    from laionet_assets.graph import asset_plan
    from laionet_assets.recovery import local_instance, recover_dead_runs

    storage, plan = resources["storage"], asset_plan()
    executor = settings.process_setting("executor")
    if executor in CLUSTER_EXECUTORS:
        print(
            f"laionet: {settings.setting('executor').env}={executor} applies to runs launched from "
            "the UI, sensors and schedules; laionet run runs its steps in this process (to run them "
            "on the cluster, launch them there: docs/operations.md)",
            file=sys.stderr,
        )
    folders = [release] if isinstance(release, str) else list(release)
    if len(folders) > 1 and not name:
        print("laionet: a union of several --release folders needs one --name", file=sys.stderr)
        return 2
    scans = []
    for folder in folders:
        try:
            scans.append(
                storage.registry.register(
                    folder,
                    name,
                    layout or settings.process_setting("layout"),
                    columns or settings.process_setting("columns") or None,
                    embeddings_model or settings.process_setting("embeddings_model") or None,
                    strict,
                    # a union's folders each name their parts, so two part-00000 stay two parts
                    slug(posixpath.basename(folder.rstrip("/"))) if len(folders) > 1 else None,
                )
            )
        except ValueError as exc:  # BadPartError, LayoutError, a bad --columns or --name
            print(f"laionet: {exc}", file=sys.stderr)
            return 2
    keys = [p.key for scan in scans for p in scan.parts]
    release_key = next((p.release for scan in scans for p in scan.parts), None)
    shown = " + ".join(folders)
    print(f"release {shown} as {release_key}: {len(keys)} part(s); profile {profile}; home {root}")
    for scan in scans:
        print_release(scan)
        problem = safety_problem(scan, asset_values, selection)
        if problem:
            print(f"laionet: {problem}", file=sys.stderr)
            return 2
    if not keys:
        print("laionet: no complete part to run", file=sys.stderr)
        return 2
    problem = weights_problem(resources, selection, profile)
    if problem:
        print(f"laionet: {problem}", file=sys.stderr)
        return 2
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(laion_parts.name, keys)
    instance.add_dynamic_partitions(laion_releases.name, [release_key])
    dead = recover_dead_runs(instance) if local_instance(instance) else []
    if dead:  # a killed run keeps its pool slots (the gpu pool has one): later steps would wait
        print(f"  freed the pool slots of {len(dead)} run(s) whose process is gone: {', '.join(dead)}")

    # one named job per stage of the graph, so the UI's runs say what each one did
    jobs = dg.Definitions(
        assets=all_assets,
        asset_checks=all_checks,
        jobs=[
            dg.define_asset_job(
                plan.stage_job(list(stage)),
                selection=list(stage),
                partitions_def=laion_parts
                if per_part
                else laion_releases
                if stage[0] in plan.per_release
                else None,
            )
            for per_part, stage in plan.stages
        ],
        resources=resources,
    )
    failures: list[str] = []
    checks: list[CheckOutcome] = []
    # Dagster's own log only with -v: the run is followed and summarised here otherwise
    log_level = settings.process_setting("log_level") if verbose else "CRITICAL"

    def materialize(names: list[str], partition_key: str | None = None) -> None:
        started = time.perf_counter()
        run_config = {
            "loggers": {"console": {"config": {"log_level": log_level}}},
            **settings.asset_run_config(asset_values, {plan.ops[n] for n in names}),
        }
        call = ("laionet/cli_call", uuid.uuid4().hex)
        follower = RunFollower(instance, call, verbose, quiet)
        follower.start()
        try:
            result = jobs.resolve_job_def(plan.stage_job(names)).execute_in_process(
                run_config=run_config,
                instance=instance,
                partition_key=partition_key,
                raise_on_error=False,
                tags={"laionet/cli": "run", call[0]: call[1]},
                asset_selection=[dg.AssetKey(n) for n in names],
            )
        finally:
            follower.stop()
        label = f"{','.join(names)}" + (f" [{partition_key}]" if partition_key else "")
        status = "ok" if result.success else "FAILED"
        if not quiet or not result.success:
            print(f"  {label}: {status} in {time.perf_counter() - started:.1f} s (run {result.run_id[:8]})")
        if not result.success:
            for event in result.all_events:
                if event.is_step_failure:
                    print(f"    {event.step_key}: {root_error_message(event.step_failure_data.error)}")
            failures.append(label)
        checks.extend(CheckOutcome.of(e, partition_key) for e in result.get_asset_check_evaluations())

    needs_upstream = any(a in selection and a not in plan.upstream for a in plan.order)
    missing = [a for a in plan.upstream if a not in selection and not storage.asset_path(a).exists()]
    if needs_upstream and missing:
        print(f"  {', '.join(missing)} has no output under this home yet: materialising it first")
        selection = plan.select([*selection, *missing])
    for names, key in plan.runs(selection, keys, release_key):
        blocked = [c for c in checks if c.blocks]
        if blocked:
            print(f"  stopped before {','.join(names)}: the blocking check {blocked[0].name} failed")
            break
        materialize(names, key)
    print_checks(checks, quiet)
    sizes = print_summary(selection, storage, release_key)
    # the tables a run must not build empty (defs.lib.headline(..., rows_required=True))
    empty = [asset for asset in plan.rows_required if sizes.get(asset) == 0]
    errors = [c for c in checks if c.failed_with_error]
    for asset in empty:
        print(f"laionet: {asset} has no rows", file=sys.stderr)
    for check in errors:
        print(f"laionet: check {check.name} failed: {check.summary}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} run(s) failed: {failures}", file=sys.stderr)
    return 1 if failures or errors or empty else 0
