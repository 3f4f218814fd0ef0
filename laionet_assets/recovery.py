"""Recovering from killed runs: a run whose process died (SIGKILL, OOM, lost machine) stays
"started" in the instance and keeps its concurrency-pool slots (the gpu pool has one), so later
GPU steps wait.  With the daemon running, run monitoring does this after
``free_slots_after_run_end_seconds``; ``laionet recover`` does it at once, and ``laionet run``
before it starts on a home whose runs all run on this machine."""

import os

import dagster as dg
from dagster._core.events import DagsterEventType

from laionet_assets import DEFINITIONS_MODULE

ACTIVE = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING]


def run_process_id(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the run's own process, from its first engine event that records one."""
    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records:
        event = record.event_log_entry.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event and event.engine_event_data else None
        if pid is not None:
            return int(pid.value)
    return None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def local_instance(instance: dg.DagsterInstance) -> bool:
    """Whether every run of the instance runs on this machine (its SQLite storage is a local
    file), so a run whose process is not here is a run whose process died."""
    from dagster._core.storage.runs import SqliteRunStorage

    return isinstance(instance.run_storage, SqliteRunStorage)


def recover_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark runs whose process is gone as failed and free their pool slots; returns their ids."""
    recovered = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=ACTIVE)):
        pid = run_process_id(instance, run.run_id)
        if pid is None or process_alive(pid):
            continue
        instance.report_run_failed(
            run, f"run process {pid} is gone (killed?); marked failed by laionet recover"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
    return recovered


def reexecute_from_failure(instance: dg.DagsterInstance, run_id: str) -> dg.JobExecutionResult:
    """Re-execute a failed run from its failure: the steps that failed or never finished (a step
    whose worker was killed), with the parent's tags (its partition) and run config, through the
    code location's executor (``LAIONET_EXECUTOR``: on Celery, the steps go to the workers).  The
    failed run's concurrency slots are freed first."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.storage.tags import TAGS_TO_MAYBE_OMIT_ON_RETRY

    parent = instance.get_run_by_id(run_id)
    if parent is None:
        raise ValueError(f"no run {run_id!r} in the instance at {instance.root_directory}")
    if parent.status != dg.DagsterRunStatus.FAILURE:
        raise ValueError(f"run {run_id} is {parent.status.value}, not FAILURE: nothing to re-execute")
    # A step whose process died never gave its pool slot back (the gpu pool has one): the run has
    # ended, so nothing it holds is still in use.
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    repository = ReconstructableRepository.for_module(DEFINITIONS_MODULE, "defs")
    return dg.execute_job(
        repository.get_reconstructable_job(parent.job_name),
        instance,
        run_config=parent.run_config,
        tags={k: v for k, v in parent.tags.items() if k not in TAGS_TO_MAYBE_OMIT_ON_RETRY},
        reexecution_options=dg.ReexecutionOptions.from_failure(run_id, instance),
        raise_on_error=False,
    )
