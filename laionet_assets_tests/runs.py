"""Helpers for tests that run real Dagster processes against a persistent instance."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl

from laionet_assets.core.releases import ReleaseRegistry
from laionet_assets.core.atomic import write_parquet_atomic


from .conftest import REPO, SAMPLE_RELEASE

DAGSTER = str(Path(sys.executable).with_name("dagster"))


class Home:
    """A LAIONet home with its own Dagster instance (SQLite, the project's dagster.yaml)."""

    def __init__(self, root: Path, synsets: pl.DataFrame):
        self.root = root
        (root / "dagster").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / "dagster.yaml", root / "dagster" / "dagster.yaml")
        write_parquet_atomic(synsets, root / "assets" / "imagenet_synsets.parquet")
        self.env = {**os.environ, "DAGSTER_HOME": str(root / "dagster"), "LAIONET_HOME": str(root),
                    "LAIONET_PROFILE": "tiny", "DAGSTER_DISABLE_TELEMETRY": "1"}

    def instance(self) -> dg.DagsterInstance:
        os.environ["DAGSTER_HOME"] = self.env["DAGSTER_HOME"]  # dagster.yaml reads it
        return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])

    def register(self, release: Path, name: str) -> list[str]:
        keys = ReleaseRegistry(self.root).register(str(release), name)
        with self.instance() as instance:
            instance.add_dynamic_partitions("laion_parts", keys)
        return keys

    def materialize_command(self, selection: str, partition: str) -> list[str]:
        return [DAGSTER, "asset", "materialize", "-m", "laionet_assets.definitions", "--select", selection, "--partition", partition]

    def popen(self, selection: str, partition: str, log: Path) -> subprocess.Popen:
        return subprocess.Popen(self.materialize_command(selection, partition), cwd=REPO, env=self.env,
                                stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)

    def output(self, asset: str, partition: str) -> Path:
        return self.root / "assets" / asset / f"{partition}.parquet"


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process started with start_new_session and everything it started."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def run_to_end(home: Home, selection: str, partition: str, log: Path, timeout: float = 300) -> None:
    proc = home.popen(selection, partition, log)
    try:
        assert proc.wait(timeout=timeout) == 0, log.read_text()[-3000:]
    finally:
        kill_group(proc)


def split_sample(folder, parts=4):
    frame = pl.read_parquet(SAMPLE_RELEASE / "*.parquet")
    folder.mkdir(parents=True)
    size = -(-frame.height // parts)
    for i in range(parts):
        frame.slice(i * size, size).write_parquet(folder / f"part-{i}.parquet")
    return folder
