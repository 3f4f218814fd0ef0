"""Helpers shared by the test modules, in one place: paths to ../shared, crafted images and the
local image server, a release materialised the way the CLI does it, and real Dagster processes
against a persistent instance.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from unittest import mock

import dagster as dg
import polars as pl
import pytest

from laionet_assets import DEFINITIONS_MODULE, INSTANCE_TEMPLATE
from laionet_assets.core.io.atomic import write_parquet_atomic
from laionet_assets.core.releases.registry import ReleaseRegistry
from laionet_assets.definitions import all_assets, all_checks
from laionet_assets.defs.partitions import laion_parts, laion_releases
from laionet_assets.graph import asset_plan
from laionet_assets.profiles import resources_for, with_defaults
from laionet_assets.resources import ImageDownloader, OcrFilter, QualityGates
from laionet_assets.testing.web import LOOPBACK

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
SAMPLE_RELEASE = REPO / "data" / "sample" / "laion_sample"


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test with the reason when ../shared is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"{path} is absent: ../shared (real LAION captions, ImageNet "
            "images) is beside the repo only in CI and dev checkouts"
        )
    return path


def select(*names: str) -> list[str]:
    """A selection with every multi-asset sibling of ``names`` (the graph's rule, as the CLI applies it)."""
    return asset_plan().select(list(names))


# ---------------------------------------------------------------------------- images and the local web


# ---------------------------------------------------------------------------- a release, in process


def register_parts(home: Path, release: str, keys: list[str]) -> None:
    """Registry entries for parts that no file backs (tests that write a part's tables
    themselves): the release each belongs to, as the IO manager and the report read it."""
    from laionet_assets.core.releases.scan import Part

    ReleaseRegistry(home).add(
        [
            Part(
                key,
                str(home / "parts" / f"{key}.parquet"),
                f"{key}.parquet",
                release,
                "laion400m",
                {},
                "tag",
                None,
            )
            for key in keys
        ]
    )


DEFS = [*all_assets, *all_checks]


class Release:
    """A release registered under a temp home, materialised the way the CLI does it."""

    def __init__(
        self,
        home: Path,
        folder: Path,
        synsets: pl.DataFrame | None = None,
        min_classes: int = 1,
        profile: str = "offline",
        embeddings_model: str | None = None,
        **overrides,
    ):
        self.home = home
        self.instance = dg.DagsterInstance.ephemeral()
        scan = ReleaseRegistry(home).register(str(folder), "rel", embeddings_model=embeddings_model)
        self.keys = [p.key for p in scan.parts]
        self.release = "rel"
        self.instance.add_dynamic_partitions(laion_parts.name, self.keys)
        self.instance.add_dynamic_partitions(laion_releases.name, [self.release])
        self.resources = resources_for(profile, str(home), overrides)
        self.resources["quality_gates"] = QualityGates(min_covered_classes=min_classes)
        if synsets is not None:  # skip the 10 s WordNet load where the test is not about it
            write_parquet_atomic(synsets, home / "assets" / "imagenet_synsets.parquet")

    def materialize(self, selection, partition_key=None, run_config=None):
        return dg.materialize(
            DEFS,
            selection=selection,
            partition_key=partition_key,
            instance=self.instance,
            resources=self.resources,
            raise_on_error=False,
            run_config=run_config or {},
        )

    @property
    def storage(self):
        return self.resources["storage"]

    def run(self, selection):
        """``selection`` stage by stage, per-part stages once per part (as the CLI runs it): the
        results, stopping at the first failed run."""
        results = []
        for names, key in asset_plan().runs(selection, self.keys, self.release):
            results.append(self.materialize(names, key))
            if not results[-1].success:
                break
        return results

    def parts(self):
        return {key: self.materialize(["lemma_matches", "text_sims"], key) for key in self.keys}

    def laionet(self, **config):
        return self.materialize(
            select("laionet_clean"),
            self.release,
            run_config={"ops": {"laionet": {"config": config}}} if config else None,
        )

    def output(self, asset, partition=None):
        """An asset's table: of a part, or (release-level) of this release."""
        if partition is None and asset in asset_plan().per_release:
            partition = self.release
        base = self.home / "assets" / asset
        return pl.read_parquet(base / f"{partition}.parquet" if partition else base.with_suffix(".parquet"))


def sample_chain(home, synsets: pl.DataFrame, rewrites: dict) -> Release:
    """``lemma_matches`` → ``text_sims`` → ``laionet_clean`` and ``laionet_images`` of the bundled
    sample under ``home`` (a folder or a URL), the tiny profile, images from the sample's local web
    (``cli.demo.sample_web``'s ``rewrites``), OCR off (~1 s an image on 2 cores); every run must succeed."""
    release = Release(home, SAMPLE_RELEASE, synsets=synsets, profile="tiny")
    release.resources["downloader"] = with_defaults(
        ImageDownloader, url_rewrites=rewrites, allow=LOOPBACK, concurrency=8
    )
    release.resources["ocr"] = with_defaults(OcrFilter, enabled=False)
    results = release.run(select("lemma_matches", "text_sims", "laionet_clean", "laionet_images"))
    assert [r.success for r in results] == [True] * len(results)
    return release


# ---------------------------------------------------------------------------- real Dagster processes

DAGSTER = str(Path(sys.executable).with_name("dagster"))


class Home:
    """A LAIONet home with its own Dagster instance (SQLite, the project's dagster.yaml)."""

    def __init__(self, root: Path, synsets: pl.DataFrame):
        self.root = root
        (root / "dagster").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(INSTANCE_TEMPLATE, root / "dagster" / "dagster.yaml")
        write_parquet_atomic(synsets, root / "assets" / "imagenet_synsets.parquet")
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(root / "dagster"),
            "LAIONET_HOME": str(root),
            "LAIONET_PROFILE": "tiny",
            "DAGSTER_DISABLE_TELEMETRY": "1",
            # a loaded 2-core machine can take longer than Dagster's 60 s to answer the daemon
            "DAGSTER_GRPC_TIMEOUT_SECONDS": "300",
        }

    def instance(self) -> dg.DagsterInstance:
        os.environ["DAGSTER_HOME"] = self.env["DAGSTER_HOME"]  # dagster.yaml reads it
        return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])

    def register(self, release: Path, name: str) -> list[str]:
        """The release's part keys, registered with their release (whose key is ``name``)."""
        parts = ReleaseRegistry(self.root).register(str(release), name).parts
        with self.instance() as instance:
            instance.add_dynamic_partitions("laion_parts", [p.key for p in parts])
            instance.add_dynamic_partitions("laion_releases", sorted({p.release for p in parts}))
        return [p.key for p in parts]

    def materialize_command(self, selection: str, partition: str) -> list[str]:
        return [
            DAGSTER,
            "asset",
            "materialize",
            "-m",
            DEFINITIONS_MODULE,
            "--select",
            selection,
            "--partition",
            partition,
        ]

    def popen(self, selection: str, partition: str, log: Path) -> subprocess.Popen:
        return subprocess.Popen(
            self.materialize_command(selection, partition),
            cwd=REPO,
            env=self.env,
            stdout=open(log, "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

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


def write_part(path: Path, **columns) -> Path:
    """A part in the LAION-400M layout (SAMPLE_ID, URL, TEXT, NSFW); columns not given get
    defaults: ids from 1, example URLs, NSFW "UNLIKELY"."""
    n = len(columns["TEXT"])
    defaults = {
        "SAMPLE_ID": list(range(1, n + 1)),
        "URL": [f"https://example.org/{i}.jpg" for i in range(n)],
        "NSFW": ["UNLIKELY"] * n,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({**defaults, **columns}).write_parquet(path)
    return path


def split_sample(folder, parts=4):
    frame = pl.read_parquet(SAMPLE_RELEASE / "*.parquet")
    folder.mkdir(parents=True)
    size = -(-frame.height // parts)
    for i in range(parts):
        frame.slice(i * size, size).write_parquet(folder / f"part-{i}.parquet")
    return folder


def dead_run_holding_the_gpu_slot(dagster_home: Path) -> str:
    """A run in the instance at ``dagster_home`` as a SIGKILL leaves it: started, its process gone,
    the gpu pool's only slot claimed by its text_sims step; its run id."""
    from dagster._core.events import EngineEventData
    from dagster._core.storage.dagster_run import DagsterRun

    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        shutil.copyfile(INSTANCE_TEMPLATE, dagster_home / "dagster.yaml")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with (
        mock.patch.dict(os.environ, {"DAGSTER_HOME": str(dagster_home)}),  # dagster.yaml reads it
        dg.DagsterInstance.from_config(str(dagster_home)) as instance,
    ):
        run = instance.add_run(DagsterRun(job_name="__ASSET_JOB", status=dg.DagsterRunStatus.STARTED))
        instance.report_engine_event(
            "started", run, EngineEventData(metadata={"pid": dg.MetadataValue.int(gone.pid)})
        )
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default("gpu")
        assert storage.claim_concurrency_slot("gpu", run.run_id, "text_sims").is_claimed
    return run.run_id
