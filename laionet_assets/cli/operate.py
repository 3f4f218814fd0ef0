"""Operating a home: recovering after a killed run, re-executing a failed run, a Celery worker, the
Dagster UI."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from laionet_assets import DEFINITIONS_MODULE

if TYPE_CHECKING:
    pass

from laionet_assets.cli.home import prepare_home


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
    # `dagster dev` warns that a newer CLI supersedes it; it is the one installed here
    os.environ["PYTHONWARNINGS"] = ",".join(
        w for w in (os.environ.get("PYTHONWARNINGS"), "ignore:Function `dev_command` is superseded") if w
    )
    os.execv(args[0], args)
    return 0  # pragma: no cover
