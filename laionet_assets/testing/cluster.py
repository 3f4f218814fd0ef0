"""A cluster on this machine for tests and benchmarks: redis-server and ``laionet worker``
processes on 127.0.0.1, each under ``timeout`` so that it stops by itself, and a LAIONet home
whose runs go to them (``LAIONET_EXECUTOR=celery``); an S3 server (moto, a thread of this
process) for an object-store home."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from laionet_assets.testing.fixtures import REPO, Home, kill_group

LAIONET = str(Path(sys.executable).with_name("laionet"))
LIFETIME_S = "1800"  # the longest any server or worker started here may live


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what: str, timeout: float = 120, procs=()) -> None:
    """Poll ``condition`` until true; fail when ``timeout`` passes or a process it needs exits."""
    deadline = time.time() + timeout
    while not condition():
        for proc in procs:
            assert proc.poll() is None, f"{what}: a process it needs exited ({proc.args})"
        assert time.time() < deadline, f"{what}: not after {timeout} s"
        time.sleep(0.2)


@contextlib.contextmanager
def redis_broker(log: Path) -> Iterator[str]:
    """redis-server on 127.0.0.1 and a free port, without persistence; its URL."""
    import redis

    port = free_port()
    proc = subprocess.Popen(
        ["timeout", LIFETIME_S, "redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        + ["--save", "", "--appendonly", "no"],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)

    def answers() -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    try:
        wait_for(answers, "redis-server", 30, [proc])
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        kill_group(proc)


class Cluster:
    """A LAIONet home whose runs execute on Celery workers started here."""

    def __init__(self, home: Home, broker: str, logs: Path):
        self.home, self.broker, self.logs = home, broker, logs
        self.env = {
            **home.env,
            "LAIONET_EXECUTOR": "celery",
            "LAIONET_CELERY_BROKER": broker,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONWARNINGS": "ignore",
        }
        self.workers: dict[str, subprocess.Popen] = {}

    def start_worker(self, name: str, *queues: str) -> None:
        args = [a for q in queues for a in ("--queue", q)]
        self.workers[name] = subprocess.Popen(
            ["timeout", LIFETIME_S, LAIONET, "worker", *args, "--name", name],
            cwd=REPO,
            env=self.env,
            stdout=open(self.logs / f"worker-{name}.log", "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_for_workers(self) -> None:
        """Until every started worker answers a Celery ping."""
        from celery import Celery

        app = Celery(broker=self.broker)
        names = set(self.workers)

        def all_answer() -> bool:
            replies = app.control.ping(timeout=1.0)
            return names <= {next(iter(r)).split("@")[0] for r in replies}

        wait_for(all_answer, f"workers {sorted(names)}", 180, self.workers.values())

    def materialize(self, selection: str, key: str, env: dict | None = None) -> subprocess.Popen:
        """``dagster asset materialize`` of one partition, its steps on the workers."""
        return subprocess.Popen(
            self.home.materialize_command(selection, key),
            cwd=REPO,
            env={**self.env, **(env or {})},
            stdout=open(self.logs / f"run-{key}.log", "a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def run_all(self, selection: str, keys: list[str], timeout: float = 900) -> None:
        """One run per partition, all at once; until every one has succeeded."""
        runs = {key: self.materialize(selection, key) for key in keys}
        try:
            for key, proc in runs.items():
                assert proc.wait(timeout=timeout) == 0, self.log(key)
        finally:
            for proc in runs.values():
                kill_group(proc)

    def log(self, key: str) -> str:
        return (self.logs / f"run-{key}.log").read_text()[-3000:]

    def stop(self) -> None:
        for proc in self.workers.values():
            kill_group(proc)


S3_BUCKET = "laionet"


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a thread: it ends with this process) with one bucket,
    ``S3_BUCKET``, and the standard variables pointing at it, as a cluster's would be (credentials
    and endpoint from the environment, never from files); its endpoint URL."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    variables = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # fsspec keeps one S3 filesystem per set of options, and the endpoint comes from the
    # environment: a filesystem made for an earlier server would keep talking to it
    from s3fs import S3FileSystem

    S3FileSystem.clear_instance_cache()
    try:
        with mock.patch.dict(os.environ, variables):  # the variables as they were, afterwards
            boto3.client("s3").create_bucket(Bucket=S3_BUCKET)
            yield endpoint
    finally:
        S3FileSystem.clear_instance_cache()
        server.stop()
