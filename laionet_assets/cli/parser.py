"""The command line: one subcommand per task, one flag per setting of the settings table."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from laionet_assets import settings
from laionet_assets.settings import SETTINGS

if TYPE_CHECKING:
    pass

from laionet_assets.cli.demo import run_demo, run_release_layouts
from laionet_assets.cli.operate import recover, reexecute, ui, worker
from laionet_assets.cli.run import quiet_libraries, run_release
from laionet_assets.cli.where import where


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
        prog="laionet",
        description=sys.modules["laionet_assets.cli"].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    locate = sub.add_parser(
        "where", help="print where each materialised output of an asset is, one per line (exit 1: none)"
    )
    locate.add_argument("asset", help="an asset of the graph (see laionet assets)")
    locate.add_argument("--partition", help="one partition of a per-part asset (default: all)")
    for name in ("home", "vocabulary"):
        s = settings.setting(name)
        locate.add_argument(s.option, help=f"{s.help}; {s.env}")
    args = parser.parse_args(argv)
    quiet_libraries()
    if args.command == "assets":
        return list_assets()
    if args.command == "where":
        return where(args.asset, args.partition, args.home, args.vocabulary)
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
