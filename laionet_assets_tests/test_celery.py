"""Celery for real: redis-server and two ``laionet worker`` processes (queues ``dagster`` and
``gpu``) on 127.0.0.1, runs through ``LAIONET_EXECUTOR=celery``: four partitions give a serial
run's tables, GPU-tagged steps run on the gpu worker only (from the runs' events), a worker killed
mid-step leaves a failed step that ``laionet reexecute`` completes, and an unreachable broker is a
clear error before any step.  Everything started here is killed at the end, and runs under
``timeout`` so that it stops by itself even if pytest does not get to."""

import os
import shutil
import signal
import subprocess
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.events import DagsterEventType
from dagster._core.execution.stats import StepEventStatus

from laionet_assets.testing.cluster import LAIONET, Cluster, free_port, redis_broker
from laionet_assets.testing.fixtures import REPO, Home, kill_group, split_sample
from laionet_assets.testing.pause import ChunkPause

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("timeout") is None,
    reason="redis-server is not installed (make setup installs Debian's redis-server)",
)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    with redis_broker(tmp_path_factory.mktemp("redis") / "redis.log") as url:
        yield url


@pytest.fixture(scope="module")
def cluster(broker, tmp_path_factory, synsets):
    root = tmp_path_factory.mktemp("celery")
    cluster = Cluster(Home(root / "home", synsets), broker, root)
    cluster.pause = ChunkPause(root / "pause")  # armed by the test that kills a step mid-way
    cluster.env = cluster.pause.env(cluster.env)
    cluster.start_worker("cpu", "dagster")
    cluster.start_worker("gpu", "gpu")
    try:
        cluster.wait_for_workers()
        yield cluster
    finally:
        cluster.stop()


def serial_tables(tmp_path, synsets, release: Path, keys: list[str]) -> dict:
    """lemma_matches and text_sims of each part, materialised one partition after another in
    this process (no Celery)."""
    from laionet_assets.definitions import all_assets
    from laionet_assets.defs.partitions import laion_parts
    from laionet_assets.profiles import resources_for

    home = Home(tmp_path / "serial", synsets)
    assert home.register(release, "rel") == keys
    resources = resources_for("tiny", str(home.root))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(laion_parts.name, keys)
        for key in keys:
            result = dg.materialize(
                all_assets, selection=["lemma_matches", "text_sims"], partition_key=key, instance=instance,
                resources=resources,
            )  # fmt: skip
            assert result.success
    return {(a, k): pl.read_parquet(home.output(a, k)) for a in ("lemma_matches", "text_sims") for k in keys}


def below(pid: int) -> set[int]:
    """The processes below ``pid`` (a Celery worker's pool processes and theirs)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def step_workers(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """Step key → the Celery worker that executed it, from the run's engine events."""
    workers = {}
    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records:
        event = record.event_log_entry.dagster_event
        metadata = event.engine_event_data.metadata if event.engine_event_data else {}
        if "Celery worker" in metadata:
            workers[event.step_key] = metadata["Celery worker"].value
    return workers


def step_process(instance: dg.DagsterInstance, key: str, step: str) -> int | None:
    """The pid of the process executing ``step`` in the partition's run (its STEP_START's), once
    it has started."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": key}), limit=1)
    if not runs:
        return None
    starts = instance.get_records_for_run(runs[0].run_id, of_type=DagsterEventType.STEP_START).records
    pids = [r.event_log_entry.dagster_event.pid for r in starts if r.event_log_entry.step_key == step]
    return pids[0] if pids else None


def run_of(instance: dg.DagsterInstance, key: str) -> dg.DagsterRun:
    [run] = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": key}), limit=1)
    return run


def test_four_partitions_on_two_workers_equal_a_serial_run(cluster, tmp_path, synsets):
    release = split_sample(tmp_path / "rel")
    keys = cluster.home.register(release, "rel")
    assert len(keys) == 4
    cluster.run_all("lemma_matches,text_sims", keys)
    expected = serial_tables(tmp_path, synsets, release, keys)
    for (asset, key), frame in expected.items():
        assert pl.read_parquet(cluster.home.output(asset, key)).equals(frame), (asset, key)
    with cluster.home.instance() as instance:
        for key in keys:
            run = run_of(instance, key)
            assert run.is_success
            workers = step_workers(instance, run.run_id)
            # text_sims carries dagster-celery/queue=gpu: only the gpu worker runs it
            assert workers["text_sims"].startswith("gpu@"), workers
            assert workers["lemma_matches"].startswith("cpu@"), workers


def test_a_worker_killed_mid_step_leaves_a_failed_step_that_reexecution_completes(cluster, tmp_path):
    from .test_faults import ROWS, write_part

    release = tmp_path / "big"
    write_part(release / "p0.parquet", ROWS)  # more captions than one chunk of embeddings
    [key] = cluster.home.register(release, "big")
    cluster.pause.arm()
    run = cluster.materialize("lemma_matches,text_sims", key)
    try:
        pid = cluster.pause.wait(300, [run])  # text_sims has stored its first chunk and waits
        with cluster.home.instance() as instance:
            assert step_process(instance, key, "text_sims") == pid
        assert pid in below(cluster.workers["gpu"].pid), "text_sims runs outside the gpu worker"
        os.kill(pid, signal.SIGKILL)  # the step's process dies mid-step, as under the OOM killer
        assert run.wait(timeout=300) != 0
    finally:
        kill_group(run)
    with cluster.home.instance() as instance:
        failed = run_of(instance, key)
        assert failed.status == dg.DagsterRunStatus.FAILURE
        stats = {s.step_key: s.status for s in instance.get_run_step_stats(failed.run_id)}
        assert stats["lemma_matches"] == StepEventStatus.SUCCESS
        assert stats.get("text_sims") != StepEventStatus.SUCCESS
        failure = instance.get_records_for_run(failed.run_id, of_type=DagsterEventType.RUN_FAILURE).records
        assert "WorkerLostError" in str(failure[0].event_log_entry.dagster_event.event_specific_data)
    assert not cluster.home.output("text_sims", key).exists()  # nothing half-written was kept
    again = subprocess.run(
        [LAIONET, "reexecute", failed.run_id, "--home", str(cluster.home.root)],
        cwd=REPO,
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "steps run: ['text_sims']" in again.stdout  # lemma_matches' output is reused
    sims = pl.read_parquet(cluster.home.output("text_sims", key))
    assert sims.height == ROWS and sims["sample_id"].n_unique() == ROWS
    with cluster.home.instance() as instance:
        [child] = [r for r in instance.get_runs() if r.parent_run_id == failed.run_id]
        assert child.is_success and step_workers(instance, child.run_id)["text_sims"].startswith("gpu@")
        assert child.tags["dagster/partition"] == key
        assert instance.event_log_storage.get_concurrency_info("gpu").active_slot_count == 0


def test_an_unreachable_broker_fails_before_any_step(cluster, tmp_path, synsets):
    home = Home(tmp_path / "home", synsets)
    [key] = home.register(split_sample(tmp_path / "rel", parts=1), "rel")
    down = f"redis://127.0.0.1:{free_port()}/0"
    proc = subprocess.run(
        home.materialize_command("lemma_matches", key),
        cwd=REPO,
        env={**cluster.env, **home.env, "LAIONET_EXECUTOR": "celery", "LAIONET_CELERY_BROKER": down},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert f"Celery broker {down} is unreachable" in proc.stdout + proc.stderr
    with home.instance() as instance:
        [run] = instance.get_runs()
        assert not run.is_success  # the executor refuses to start: the run never starts a step
        assert not instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_START).records
    worker = subprocess.run(
        [LAIONET, "worker", "--home", str(home.root)],
        env={**cluster.env, "LAIONET_CELERY_BROKER": down},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 2 and f"Celery broker {down} is unreachable" in worker.stderr
