"""The command line: one subcommand per task, one flag per setting of the settings table."""

from __future__ import annotations

import argparse
import difflib
import sys

from laionet_assets import settings
from laionet_assets.cli.demo import run_demo, run_release_layouts
from laionet_assets.cli.export import export
from laionet_assets.cli.operate import recover, reexecute, ui, worker
from laionet_assets.cli.run import quiet_libraries, run_release
from laionet_assets.cli.where import where
from laionet_assets.core.export.records import EXPORT_FORMATS, EXPORT_SETS
from laionet_assets.settings import SETTINGS, SettingError


class Parser(argparse.ArgumentParser):
    """argparse with errors in one line: what is wrong, the closest flag or choice where one is
    close, and where the usage is (never the usage itself), exit status 2."""

    def parse_known_args(self, args=None, namespace=None):
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        unknown = self._unknown_flags()
        if message.startswith("the following arguments are required") and unknown:
            message = f"unrecognized arguments: {' '.join(unknown)}"  # the cause, not its effect
        sys.stderr.write(f"{self.prog}: {message}{self._closest(message)}; see {self.prog} --help\n")
        sys.exit(2)

    def _unknown_flags(self) -> list[str]:
        known = {o for action in self._actions for o in action.option_strings}
        given = getattr(self, "_given", [])
        return [a for a in given if a.startswith("--") and a.split("=")[0] not in known]

    def _closest(self, message: str) -> str:
        if message.startswith("unrecognized arguments: "):
            flags = [a for a in message.removeprefix("unrecognized arguments: ").split() if a.startswith("-")]
            known = [o for action in self._actions for o in action.option_strings]
            close = difflib.get_close_matches(flags[0].split("=")[0], known, n=1) if flags else []
            return f"; did you mean {close[0]}?" if close else ""
        if "invalid choice: " in message:
            wrong = message.split("invalid choice: ")[1].split(" ")[0].strip("'")
            choices = [c for action in self._actions if action.choices for c in action.choices]
            close = difflib.get_close_matches(wrong, [str(c) for c in choices], n=1)
            return f"; did you mean {close[0]}?" if close else ""
        return ""

    def parse_args(self, args=None, namespace=None):
        """Unknown arguments are the chosen subcommand's to report (its usage, its flags)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            chooser = next((a for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)
            command = getattr(parsed, "command", None)
            target = chooser.choices[command] if chooser and command in chooser.choices else self
            target.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def profile_defaults(name: str) -> str:
    """A pipeline setting's default as ``--help`` states it: each profile's value."""
    from laionet_assets.profiles import PROFILE_RECORDS, RESOURCE_CLASSES

    s = settings.setting(name)
    values = {}
    for profile, record in PROFILE_RECORDS.items():
        value = record.values().get(name)
        if value is None and s.scope == settings.RESOURCE:
            value = RESOURCE_CLASSES[s.targets[0]].model_fields[s.field].default
        if value not in (None, "", [], {}):
            values[profile] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
    if not values:
        return ""
    if len(set(map(str, values.values()))) == 1:
        return f" (default: {next(iter(values.values()))})"
    return " (default: " + ", ".join(f"{p} {v}" for p, v in values.items()) + ")"


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per resource or asset-config setting of the table (``laionet_assets.settings``)."""
    group = parser.add_argument_group(
        "pipeline settings (default: the profile's; also LAIONET_* environment variables)"
    )
    for s in SETTINGS:
        if s.scope == settings.PROCESS or not s.option:
            continue
        variable = f"; {s.env}" if s.env else ""
        group.add_argument(
            s.option,
            dest=s.name,
            type=_flag_type(s),
            metavar=_metavar(s),
            help=f"{s.help}{variable}{profile_defaults(s.name)}",
        )


def _metavar(s: settings.Setting) -> str | None:
    if s.type is bool:
        return "true|false"
    if s.type is dict:
        return "JSON"
    return "{" + ",".join(s.choices) + "}" if s.choices else None


def _flag_type(s: settings.Setting):
    def parse(raw: str):
        try:
            return s.parse(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} {s.refusal(raw)}") from None

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
    parser = Parser(
        prog="laionet",
        description=sys.modules["laionet_assets.cli"].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbosity = Parser(add_help=False)
    loud = verbosity.add_mutually_exclusive_group()
    loud.add_argument(
        "-v", "--verbose", action="store_true", help="each step's log, and tracebacks of errors"
    )
    loud.add_argument("-q", "--quiet", action="store_true", help="errors and the final outcome only")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    common = Parser(add_help=False, parents=[verbosity])
    for name in ("home", "profile"):
        s = settings.setting(name)
        common.add_argument(
            s.option,
            type=_flag_type(s),
            metavar=_metavar(s),
            help=f"{s.help}; {s.env} (default: {s.default})",
        )
    knobs = Parser(add_help=False)
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
        action="append",
        help="a release folder (any supported layout: see README), one part file, or an fsspec URL; "
        "repeated under one --name, a union release (LAION-5B = 2B-en + 2B-multi + 1B-nolang), its "
        "rows deduplicated by URL",
    )
    for name in ("layout", "columns", "embeddings_model"):
        s = settings.setting(name)
        run.add_argument(s.option, type=_flag_type(s), metavar=_metavar(s), help=f"{s.help}; {s.env}")
    run.add_argument(
        "--name",
        help="the release's name: its partition and the start of its parts' (default: the folder's name)",
    )
    run.add_argument(
        "--strict",
        action="store_true",
        help="refuse the release when any of its files is unreadable or matches no layout (default: "
        "report such files and run the others)",
    )
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
        "assets",
        parents=[verbosity],
        help="list the assets of the graph in run order (marked [part] or [release] where partitioned, "
        "[on demand] where only a run that names it builds it)",
    )
    publish = sub.add_parser(
        "export",
        parents=[common],
        help="write one set of a release as a dataset people load (ImageFolder, WebDataset, datasets), "
        "with its dataset card",
    )
    publish.add_argument(
        "--set", dest="set_name", required=True, choices=EXPORT_SETS, help="what is exported"
    )
    publish.add_argument(
        "--release", help="the release (its --name); may be left out where the home holds one release"
    )
    publish.add_argument("--format", required=True, choices=EXPORT_FORMATS, help="how it is written")
    publish.add_argument(
        "--out", help="the folder exported into (default <home>/exports/<release>/<set>-<format>)"
    )
    publish.add_argument(
        "--overwrite", action="store_true", help="replace an earlier export in --out (never other files)"
    )
    for name in ("vocabulary", "export_shard_size", "export_images"):
        s = settings.setting(name)
        publish.add_argument(
            s.option,
            dest=s.name,
            type=_flag_type(s),
            metavar=_metavar(s),
            help=f"{s.help}; {s.env or 'no variable'}",
        )
    locate = sub.add_parser(
        "where",
        parents=[verbosity],
        help="print where each materialised output of an asset is, one per line (exit 1: none)",
    )
    locate.add_argument("asset", help="an asset of the graph (see laionet assets)")
    locate.add_argument("--partition", help="one partition of a per-part asset (default: all)")
    locate.add_argument(
        "--release", help="one release's outputs: its LAIONet and what is computed from it, or its parts"
    )
    for name in ("home", "vocabulary"):
        s = settings.setting(name)
        locate.add_argument(s.option, help=f"{s.help}; {s.env}")
    args = parser.parse_args(argv)
    quiet_libraries()
    from laionet_assets.core.io.storage import CredentialsInUrl, HomeUnreachable

    try:
        if args.command == "assets":
            return list_assets()
        if args.command == "where":
            return where(args.asset, args.partition, args.home, args.vocabulary, args.release)
        if args.command == "export":
            return export(
                args.set_name,
                args.release,
                args.format,
                args.out,
                args.overwrite,
                args.home,
                args.profile,
                {k: getattr(args, k) for k in ("vocabulary", "export_shard_size", "export_images")},
            )
        return run_command(args)
    except (HomeUnreachable, CredentialsInUrl, SettingError) as exc:  # a value or the home, before any work
        if args.verbose:
            raise
        print(f"laionet: {exc}; see laionet {args.command} --help", file=sys.stderr)
        return 2


DEMO_PROFILE = "offline"


def run_command(args: argparse.Namespace) -> int:
    chosen = chosen_settings(args)  # argparse has parsed and checked each value
    if args.command == "demo":
        # the demo's models install from the registries: offline unless a profile is chosen
        profile = args.profile or settings.setting("profile").from_env() or DEMO_PROFILE
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
            verbose=args.verbose,
            quiet=args.quiet,
            strict=args.strict,
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
        level = " [part]" if name in plan.partitioned else " [release]" if name in plan.per_release else ""
        print(name + level + (" [on demand]" if name in plan.on_demand else ""))
    return 0
