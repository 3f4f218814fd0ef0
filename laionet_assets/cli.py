"""``laionet``: run LAIONet creation on a LAION release, the bundled demo, or the Dagster UI.

    laionet demo                          # bundled sample release, web and image folders, offline profile
    laionet demo --release-layouts        # the text side on a sample of every supported release layout
    laionet run --release PATH [--name NAME] [--profile P] [--select ASSETS] [--home DIR]
    laionet ui [--home DIR] [--port 3000]
    laionet recover [--home DIR]          # after a killed run: mark it failed, free its gpu slot
    laionet reexecute RUN_ID [--home DIR] # a failed run from its failure, through LAIONET_EXECUTOR
    laionet worker [--queue dagster|gpu]  # a Celery worker for LAIONET_EXECUTOR=celery

Runs go through a persistent Dagster instance under ``<home>/dagster`` so they show in the UI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from laionet_assets import DEFINITIONS_MODULE, settings
from laionet_assets.settings import ASSET_CONFIG, RESOURCE, SETTINGS

if TYPE_CHECKING:
    from laionet_assets.core.io.storage import Location

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = REPO_ROOT / "data" / "sample"
SAMPLE_RELEASE = SAMPLE / "laion_sample"
SAMPLE_WEB_PREFIX = "https://images.example.org/"
# The demo's labelled data: defaults the environment and flags still override.
SAMPLE_SETTINGS = {
    "imagenet_val": "imagenet_val",
    "imagenetv2_a": "imagenetv2_a",
    "imagenetv2_b": "imagenetv2_b",
    "imagenetv2_c": "imagenetv2_c",
    "imagenet_captions": "imagenet_captions.json",
}
# The demo's second vocabulary (issue 15: does caption-only selection make other curated datasets
# more diverse too?): CIFAR-100 on its own small release, web and class-name image folder
# (scripts/make_sample_cifar100.py), in <home>/vocabularies/cifar100/.
SECOND_VOCABULARY = "cifar100"
SECOND_SAMPLE = SAMPLE / SECOND_VOCABULARY
SECOND_SETTINGS = {"vocabulary": SECOND_VOCABULARY, "imagenet_val": str(SECOND_SAMPLE / "test")}


def root_error_message(error) -> str:
    """The user's own message (file, column, row) under Dagster's step-failure wrappers."""
    while (error.cls_name or "").startswith("Dagster") and getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip().splitlines()[-1]


def prepare_home(home: str | None, profile: str | None, vocabulary: str | None = None) -> Location:
    """Resolve the home (a folder or an fsspec URL, checked before any work), write its Dagster
    instance's dagster.yaml, and export the variables the code location reads.  Each vocabulary's
    runs go to its own Dagster instance (``instance_folder``)."""
    from laionet_assets.core.io.storage import check_home, home_path
    from laionet_assets.core.text.vocabularies import DEFAULT_VOCABULARY

    root = home_path(home or settings.process_setting("home"))
    check_home(root)
    vocabulary = vocabulary or settings.setting("vocabulary").from_env() or DEFAULT_VOCABULARY
    dagster_home = instance_folder(root, vocabulary)
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    template = REPO_ROOT / "dagster.yaml"
    if not config.exists() and template.exists():
        shutil.copyfile(template, config)
    os.environ["LAIONET_HOME"] = str(root)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    if profile:
        os.environ["LAIONET_PROFILE"] = profile
    return root


def instance_folder(root: Location, vocabulary: str) -> Path:
    """The CLI's Dagster instance (SQLite) for a home: ``<vocabulary home>/dagster`` on a local
    home; for a URL home, whose object store cannot hold a database, a local folder named after
    the URL under ``LAIONET_INSTANCES`` (a cluster's instance is its own Postgres)."""
    from laionet_assets.core.io.storage import is_remote
    from laionet_assets.core.releases.scan import slug
    from laionet_assets.core.text.vocabularies import vocabulary_home

    if is_remote(root):
        root = Path(settings.process_setting("instances")).expanduser() / slug(str(root))
    return vocabulary_home(root, vocabulary) / "dagster"


def parse_selection(select: str | None) -> list[str]:
    from laionet_assets.graph import asset_plan

    plan = asset_plan()
    if not select:
        return list(plan.order)
    try:
        return plan.select([s.strip() for s in select.split(",") if s.strip()])
    except ValueError as exc:
        raise SystemExit(f"laionet: {exc}") from None


def quiet_libraries() -> None:
    """Keep the CLI's output to its own summary: library warnings and download bars go."""
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", message=".*currently in (beta|preview).*")
    warnings.filterwarnings("ignore", message="The multilingual functions are not available")
    # lemma_matches (1 part per run) and text_sims (8) in one per-part run: Dagster says it uses 1.
    warnings.filterwarnings("ignore", message=".*varying BackfillPolicies.*")


class SampleWeb:
    """The demo's stand-in for the web: a static server on 127.0.0.1 over data/sample/web,
    which the downloader reaches through a URL rewrite of the sample release's host."""

    def __enter__(self):
        import functools
        import threading
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        handler = functools.partial(Quiet, directory=str(SAMPLE / "web"))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return {SAMPLE_WEB_PREFIX: f"http://127.0.0.1:{self.httpd.server_address[1]}/"}

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def run_demo(profile: str, select: str | None, home: str | None, chosen: dict) -> int:
    """The bundled sample: its release, its web (served locally) and its image folders; then,
    unless a selection or a vocabulary is given, the whole graph again for CIFAR-100 on its own
    sample (``SECOND_VOCABULARY``)."""
    environment = settings.env_names()
    sample = {k: str(SAMPLE / v) for k, v in SAMPLE_SETTINGS.items() if k not in environment}
    with SampleWeb() as rewrites:
        code = run_release(
            str(SAMPLE_RELEASE),
            "sample",
            profile,
            select,
            home,
            {**sample, "url_rewrites": rewrites, **chosen},
        )
        if select or "vocabulary" in chosen or "vocabulary" in environment:
            return code
        print(f"\n== a second vocabulary: {SECOND_VOCABULARY} on its own sample ({SECOND_SAMPLE})")
        second = run_release(
            str(SECOND_SAMPLE / "laion_sample"),
            f"{SECOND_VOCABULARY}-sample",
            profile,
            None,
            home,
            {"url_rewrites": rewrites, **chosen, **SECOND_SETTINGS},
        )
        return max(code, second)


RELEASE_LAYOUTS_SELECTION = "lemma_matches,text_sims,laionet_clean"


def run_release_layouts(profile: str, home: str | None, chosen: dict) -> int:
    """``laionet demo --release-layouts``: lemma_matches through laionet_clean on the sample of
    every release layout (data/sample/releases/<layout>), each in its own home under
    ``<home>/release-layouts/``, then one table comparing them."""
    import polars as pl

    from laionet_assets.core.io.atomic import write_parquet_atomic
    from laionet_assets.core.releases.layouts import RELEASE_LAYOUTS

    base = Path(home or settings.process_setting("home")).resolve() / "release-layouts"
    results, synsets, status = [], None, 0
    for layout, spec in RELEASE_LAYOUTS.items():
        layout_home = base / layout
        values = dict(chosen)
        if spec.safety == "none":  # an explicit choice, recorded in metadata: never a silent pass
            values.setdefault("nsfw_policy", "none")
            values.setdefault("nsfw_policy_required", "none")
        if synsets is not None and not (layout_home / "assets" / "imagenet_synsets.parquet").exists():
            write_parquet_atomic(synsets, layout_home / "assets" / "imagenet_synsets.parquet")  # WordNet once
        print(f"\n== {layout}: {spec.release}")
        code = run_release(
            str(SAMPLE / "releases" / layout),
            layout,
            profile,
            RELEASE_LAYOUTS_SELECTION,
            str(layout_home),
            values,
        )
        status = max(status, code)
        assets = layout_home / "assets"
        if synsets is None and (assets / "imagenet_synsets.parquet").exists():
            synsets = pl.read_parquet(assets / "imagenet_synsets.parquet")
        matched = pl.read_parquet(assets / "lemma_matches" / "*.parquet") if code == 0 else None
        clean = pl.read_parquet(assets / "laionet_clean.parquet") if code == 0 else None
        results.append(
            {
                "layout": layout,
                "safety": spec.safety,
                "policy": values.get("nsfw_policy", "auto"),
                "matched_captions": None if matched is None else matched.height,
                "laionet_rows": None if clean is None else clean.height,
                "laionet_classes": None if clean is None else clean["wnid"].n_unique(),
            }
        )
    print()
    with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print(pl.DataFrame(results))
    return status


def invalid_configuration(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)  # pydantic's ValidationError is a ValueError too
    message = (
        "; ".join(e["msg"].removeprefix("Value error, ") for e in errors()) if callable(errors) else str(exc)
    )
    return f"laionet: invalid configuration: {message}"


def print_summary(selection: list[str], storage) -> None:
    """The headline sizes of what this run built, read from the storage resource's paths."""
    from laionet_assets.core.io.storage import read_parquet

    classes = "ImageNet classes" if storage.vocabulary == "imagenet1k" else f"classes of {storage.vocabulary}"
    for asset, label in (
        ("laionet_clean", "LAIONet"),
        ("laionet_final", "LAIONet with images, after the OCR filter"),
    ):
        frame = storage.read_asset(asset, columns=["wnid"]) if asset in selection else None
        if frame is not None:
            print(f"{label}: {frame.height:,} rows over {frame['wnid'].n_unique()} {classes}")
    nearest = storage.asset_path("captions_nearest_laion")
    if "captions_nearest_laion" in selection and nearest.exists():
        matches = read_parquet(nearest, columns=["wnid", "selected", "threshold"]).filter("selected")
        if matches.height:
            print(
                f"LAION found by caption search alone (nearest to an ImageNet-Captions text, similarity > "
                f"{matches['threshold'][0]}): {matches.height:,} rows "
                f"over {matches['wnid'].n_unique()} ImageNet classes"
            )
    report = storage.report_path("report.html")
    if "report" in selection and report.exists():
        print(f"report: {report}")
    print(f"outputs: {storage.assets}  figures: {storage.reports}")
    vocabulary = "" if storage.vocabulary == "imagenet1k" else f"LAIONET_VOCABULARY={storage.vocabulary} "
    print(
        f"Dagster UI on these runs: {vocabulary}laionet ui --home {storage.shared}   "
        "(then open http://127.0.0.1:3000)"
    )


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
    if bare and policy != "none" and "laionet_clean" in selection:
        return (
            f"layout {scan.parts[0].layout} has no safety signal (no NSFW tag, no unsafe score) for "
            f"{len(bare)} part(s); the '{policy}' policy would drop every row. Choose --nsfw-policy none "
            "(and --nsfw-policy-required none) to accept its rows unfiltered; this is recorded in the "
            "asset metadata and the report"
        )
    return None


def run_release(
    release: str,
    name: str | None,
    profile: str | None,
    select: str | None,
    home: str | None,
    chosen: dict | None = None,
    layout: str | None = None,
    columns: str | None = None,
    embeddings_model: str | None = None,
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

    from laionet_assets.checks import laionet_checks
    from laionet_assets.definitions import all_assets
    from laionet_assets.graph import asset_plan
    from laionet_assets.partitions import laion_parts

    storage, plan = resources["storage"], asset_plan()
    try:
        scan = storage.registry.register(
            release,
            name,
            layout or settings.process_setting("layout"),
            columns or settings.process_setting("columns") or None,
            embeddings_model or settings.process_setting("embeddings_model") or None,
        )
    except ValueError as exc:  # BadPartError, LayoutError, a bad --columns
        print(f"laionet: {exc}", file=sys.stderr)
        return 2
    keys = [p.key for p in scan.parts]
    print(f"release {release}: {len(keys)} part(s); profile {profile}; home {root}")
    print_release(scan)
    problem = safety_problem(scan, asset_values, selection)
    if problem:
        print(f"laionet: {problem}", file=sys.stderr)
        return 2
    if not keys:
        print("laionet: no complete part to run", file=sys.stderr)
        return 2
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(laion_parts.name, keys)

    definitions = [*all_assets, *laionet_checks]
    failures: list[str] = []
    log_level = settings.process_setting("log_level")

    def materialize(names: list[str], partition_key: str | None = None) -> None:
        started = time.perf_counter()
        run_config = {
            "loggers": {"console": {"config": {"log_level": log_level}}},
            **settings.asset_run_config(asset_values, {plan.ops[n] for n in names}),
        }
        result = dg.materialize(
            definitions,
            selection=names,
            partition_key=partition_key,
            instance=instance,
            resources=resources,
            raise_on_error=False,
            tags={"laionet/cli": "run"},
            run_config=run_config,
        )
        label = f"{','.join(names)}" + (f" [{partition_key}]" if partition_key else "")
        status = "ok" if result.success else "FAILED"
        print(f"  {label}: {status} in {time.perf_counter() - started:.1f} s (run {result.run_id[:8]})")
        if not result.success:
            for event in result.all_events:
                if event.is_step_failure:
                    print(f"    {event.step_key}: {root_error_message(event.step_failure_data.error)}")
            failures.append(label)

    needs_upstream = any(a in selection and a not in plan.upstream for a in plan.order)
    missing = [a for a in plan.upstream if a not in selection and not storage.asset_path(a).exists()]
    if needs_upstream and missing:
        print(f"  {', '.join(missing)} has no output under this home yet: materialising it first")
        selection = plan.select([*selection, *missing])
    for names, key in plan.runs(selection, keys):
        materialize(names, key)
    print_summary(selection, storage)
    if failures:
        print(f"{len(failures)} run(s) failed: {failures}", file=sys.stderr)
        return 1
    return 0


def recover(home: str | None) -> int:
    prepare_home(home, None)
    import dagster as dg

    from laionet_assets.recovery import recover_dead_runs

    with dg.DagsterInstance.get() as instance:
        recovered = recover_dead_runs(instance)
    print(f"marked {len(recovered)} dead run(s) failed and freed their pool slots: {recovered}")
    return 0


def reexecute(run_id: str, home: str | None) -> int:
    prepare_home(home, None)
    import dagster as dg

    from laionet_assets.recovery import reexecute_from_failure

    with dg.DagsterInstance.get() as instance:
        try:
            result = reexecute_from_failure(instance, run_id)
        except ValueError as exc:
            print(f"laionet: {exc}", file=sys.stderr)
            return 2
    steps = sorted({e.step_key for e in result.all_events if e.is_step_success})
    status = "ok" if result.success else "FAILED"
    print(f"re-execution {result.run_id} of {run_id}: {status}; steps run: {steps}")
    return 0 if result.success else 1


def worker(
    home: str | None, profile: str | None, queues: list[str], name: str | None, concurrency: int
) -> int:
    """A Celery worker (``laionet_assets.celery_app``) on the settings' broker, after checking it."""
    prepare_home(home, profile)
    from laionet_assets.executors import BrokerUnreachable, celery_urls, check_broker

    broker, _ = celery_urls()
    try:
        check_broker(broker)
    except BrokerUnreachable as exc:
        print(f"laionet: {exc}", file=sys.stderr)
        return 2
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "laionet_assets.celery_app",
        "worker",
        "--queues",
        ",".join(queues),
        "--hostname",
        f"{name or queues[0]}@%h",
        "--concurrency",
        str(concurrency),
        "--prefetch-multiplier",
        "1",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
    ]
    from kombu.utils.url import maybe_sanitize_url

    print(f"Celery worker for queue(s) {', '.join(queues)} on {maybe_sanitize_url(broker)}", flush=True)
    os.execv(args[0], args)
    return 0  # pragma: no cover


def ui(home: str | None, profile: str | None, host: str, port: int) -> int:
    prepare_home(home, profile)
    exe = Path(sys.executable).with_name("dagster")
    args = [str(exe), "dev", "-m", DEFINITIONS_MODULE, "-h", host, "-p", str(port)]
    print(f"Dagster UI: http://{host}:{port}  (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    os.execv(args[0], args)
    return 0  # pragma: no cover


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per resource or asset-config setting of the table (``laionet_assets.settings``)."""
    group = parser.add_argument_group(
        "pipeline settings (default: the profile's; also LAIONET_* environment variables)"
    )
    for s in SETTINGS:
        if s.scope == settings.PROCESS or not s.option:
            continue
        metavar = "true|false" if s.type is bool else "JSON" if s.type is dict else None
        variable = f"; {s.env}" if s.env else ""
        group.add_argument(
            s.option,
            dest=s.name,
            type=_flag_type(s),
            choices=s.choices,
            metavar=metavar,
            help=f"{s.help}{variable}",
        )


def _flag_type(s: settings.Setting):
    def parse(raw: str):
        try:
            return s.parse(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a valid {s.type.__name__}") from None

    parse.__name__ = s.type.__name__
    return parse


def chosen_settings(args: argparse.Namespace) -> dict:
    """The settings given as flags: setting name → value."""
    return {
        s.name: getattr(args, s.name)
        for s in SETTINGS
        if s.scope != settings.PROCESS and getattr(args, s.name, None) is not None
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="laionet", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    for name in ("home", "profile"):
        s = settings.setting(name)
        common.add_argument(s.option, choices=s.choices, help=f"{s.help}; {s.env}")
    knobs = argparse.ArgumentParser(add_help=False)
    add_setting_flags(knobs)
    demo = sub.add_parser(
        "demo",
        parents=[common, knobs],
        help="materialise every asset on the bundled sample release (offline)",
    )
    demo.add_argument(
        "--release-layouts",
        action="store_true",
        help="instead: lemma_matches through laionet_clean on the sample of every release layout "
        "(data/sample/releases/), each in its own home under <home>/release-layouts/",
    )
    demo.add_argument(
        "--select",
        help="comma-separated assets and their multi-asset siblings (default: all; see laionet assets)",
    )
    run = sub.add_parser(
        "run", parents=[common, knobs], help="register a release's parts as partitions and materialise"
    )
    run.add_argument(
        "--release",
        required=True,
        help="a release folder (any supported layout: see README), one part file, or an fsspec URL",
    )
    for name in ("layout", "columns", "embeddings_model"):
        s = settings.setting(name)
        run.add_argument(s.option, choices=s.choices, help=f"{s.help}; {s.env}")
    run.add_argument("--name", help="release name in partition keys (default: the folder's name)")
    run.add_argument(
        "--select",
        help="comma-separated assets and their multi-asset siblings (default: all; see laionet assets)",
    )
    serve = sub.add_parser(
        "ui", parents=[common], help="start the Dagster UI (webserver and daemon) on the instance"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    sub.add_parser(
        "recover", parents=[common], help="mark runs whose process died as failed and free their pool slots"
    )
    again = sub.add_parser(
        "reexecute",
        parents=[common],
        help="re-execute a failed run from its failure (through LAIONET_EXECUTOR, e.g. on Celery workers)",
    )
    again.add_argument("run_id")
    celery = sub.add_parser(
        "worker",
        parents=[common],
        help="start a Celery worker for LAIONET_EXECUTOR=celery on LAIONET_CELERY_BROKER "
        "(see deploy/celery/)",
    )
    celery.add_argument(
        "--queue",
        action="append",
        dest="queues",
        help="a queue to take steps from: dagster (the default queue) or gpu (GPU-tagged steps); repeatable",
    )
    celery.add_argument("--name", help="worker name, before @host (default: its first queue)")
    celery.add_argument("--concurrency", type=int, default=1, help="steps at once (default 1)")
    sub.add_parser(
        "assets", help="list the assets of the graph in run order (partitioned ones marked [part])"
    )
    args = parser.parse_args(argv)
    quiet_libraries()
    if args.command == "assets":
        return list_assets()
    from laionet_assets.core.io.storage import HomeUnreachable

    try:
        return run_command(args)
    except HomeUnreachable as exc:  # a URL home's bucket or credentials, before any work
        print(f"laionet: {exc}", file=sys.stderr)
        return 2


def run_command(args: argparse.Namespace) -> int:
    chosen = chosen_settings(args)  # argparse has parsed and checked each value
    if args.command == "demo":
        profile = args.profile or settings.process_setting("profile")
        if args.release_layouts:
            return run_release_layouts(profile, args.home, chosen)
        return run_demo(profile, args.select, args.home, chosen)
    if args.command == "run":
        return run_release(
            args.release,
            args.name,
            args.profile,
            args.select,
            args.home,
            chosen,
            args.layout,
            args.columns,
            args.embeddings_model,
        )
    if args.command == "recover":
        return recover(args.home)
    if args.command == "reexecute":
        return reexecute(args.run_id, args.home)
    if args.command == "worker":
        return worker(args.home, args.profile, args.queues or ["dagster"], args.name, args.concurrency)
    return ui(args.home, args.profile, args.host, args.port)


def list_assets() -> int:
    from laionet_assets.graph import asset_plan

    plan = asset_plan()
    for name in plan.order:
        print(name + (" [part]" if name in plan.partitioned else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
