"""Helpers shared by the test modules, in one place: paths to ../shared, crafted images and the
local image server, a release materialised the way the CLI does it, and real Dagster processes
against a persistent instance.

The image server: A local HTTP server on 127.0.0.1 for download tests: real images, errors, slow and truncated
responses.  Routes:

* ``/img/<name>``: the bytes registered under ``name`` (content type from ``types``);
* ``/status/<code>``: that HTTP status;
* ``/flaky/<n>/<name>``: 503 for the first ``n`` requests of that path, then the image;
* ``/slow/<seconds>/<name>``: the image after a delay;
* ``/truncated/<name>``: a Content-Length larger than the body, then the connection closes;
* ``/redirect/<name>``: 302 to ``/img/<name>``.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
from PIL import Image

from laionet_assets import DEFINITIONS_MODULE
from laionet_assets.checks import laionet_checks
from laionet_assets.core.io.atomic import write_parquet_atomic
from laionet_assets.core.releases.registry import ReleaseRegistry
from laionet_assets.definitions import all_assets
from laionet_assets.graph import asset_plan
from laionet_assets.partitions import laion_parts
from laionet_assets.profiles import resources_for, with_defaults
from laionet_assets.resources import ImageDownloader, OcrFilter, QualityGates

REPO = Path(__file__).resolve().parents[1]
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


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def crafted_images() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    jpeg = encode(rgb, "JPEG")
    return {
        "rgb.jpg": jpeg,
        "cmyk.jpg": encode(rgb.convert("CMYK"), "JPEG"),
        "palette.png": encode(rgb.convert("P"), "PNG"),
        "rgba.png": encode(rgb.convert("RGBA"), "PNG"),
        "gray16.png": encode(Image.fromarray((np.arange(400, dtype=np.uint16).reshape(20, 20) * 150)), "PNG"),
        "one_by_one.png": encode(Image.new("RGB", (1, 1)), "PNG"),
        "nine_by_eleven.png": encode(Image.new("RGB", (9, 11)), "PNG"),
        "ten_by_ten.png": encode(Image.new("RGB", (10, 10)), "PNG"),
        "cut.jpg": jpeg[: len(jpeg) // 2],
        "page.html": b"<!DOCTYPE html><html><body>Not an image</body></html>",
        "garbage.jpg": b"\xff\xd8\xff" + bytes(200),
    }


class ImageServer:
    def __init__(self, files: dict[str, bytes], types: dict[str, str] | None = None):
        self.files, self.types = dict(files), dict(types or {})
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # as web servers do (nginx's tcp_nodelay): headers and body are two writes, and Nagle's
            # algorithm would hold the body for the client's delayed ACK on a kept-alive connection
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def handle(self):
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):  # a client that stopped reading (size cap)
                    pass

            def _send(self, code: int, body: bytes, ctype: str = "image/jpeg", length: int | None = None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                server.hits[self.path] += 1
                parts = self.path.strip("/").split("/")
                route, args = parts[0], parts[1:]
                if route == "status":
                    return self._send(int(args[0]), b"error page", "text/html")
                if route in ("redirect", "loop"):  # loop: a redirect to itself, for ever
                    self.send_response(302)
                    self.send_header("Location", self.path if route == "loop" else "/img/" + args[0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if route == "flaky":
                    if server.hits[self.path] <= int(args[0]):
                        return self._send(503, b"busy", "text/plain")
                    args = args[1:]
                if route == "slow":
                    time.sleep(float(args[0]))
                    args = args[1:]
                name = args[-1] if args else ""
                if name not in server.files:
                    return self._send(404, b"not found", "text/html")
                body, ctype = server.files[name], server.types.get(name, "image/jpeg")
                if route == "unsized":  # no Content-Length: the body ends when the connection closes
                    self.send_response(200)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body)
                    self.close_connection = True
                    return None
                if route == "truncated":
                    self._send(200, body[: len(body) // 2], ctype, length=len(body))
                    self.close_connection = True
                    return None
                return self._send(200, body, ctype)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "ImageServer":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, route: str) -> str:
        return f"{self.base}/{route.lstrip('/')}"


# ---------------------------------------------------------------------------- a release, in process

DEFS = [*all_assets, *laionet_checks]


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
        self.instance.add_dynamic_partitions(laion_parts.name, self.keys)
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
        for names, key in asset_plan().runs(selection, self.keys):
            results.append(self.materialize(names, key))
            if not results[-1].success:
                break
        return results

    def parts(self):
        return {key: self.materialize(["lemma_matches", "text_sims"], key) for key in self.keys}

    def laionet(self, **config):
        return self.materialize(
            select("laionet_clean"), run_config={"ops": {"laionet": {"config": config}}} if config else None
        )

    def output(self, asset, partition=None):
        base = self.home / "assets" / asset
        return pl.read_parquet(base / f"{partition}.parquet" if partition else base.with_suffix(".parquet"))


def sample_chain(home, synsets: pl.DataFrame, rewrites: dict) -> Release:
    """``lemma_matches`` → ``text_sims`` → ``laionet_clean`` and ``laionet_images`` of the bundled
    sample under ``home`` (a folder or a URL), the tiny profile, images from the sample's local web
    (``cli.SampleWeb``'s ``rewrites``), OCR off (~1 s an image on 2 cores); every run must succeed."""
    release = Release(home, SAMPLE_RELEASE, synsets=synsets, profile="tiny")
    release.resources["downloader"] = with_defaults(ImageDownloader, url_rewrites=rewrites, concurrency=8)
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
        shutil.copyfile(REPO / "dagster.yaml", root / "dagster" / "dagster.yaml")
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
        keys = [p.key for p in ReleaseRegistry(self.root).register(str(release), name).parts]
        with self.instance() as instance:
            instance.add_dynamic_partitions("laion_parts", keys)
        return keys

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
