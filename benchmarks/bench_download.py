"""The download client, chosen by measurement: images/s and images per CPU-second of
the downloading processes ("per core") at 1, 64 and 512 concurrent requests against a local
server on 127.0.0.1 that answers each request after 50 ms (standing in for the network), for

- ``urllib_threads``: the pipeline's client before this measurement (a urllib request per sample
  on a thread pool, one process), kept here as the baseline;
- ``pipeline_aiohttp``: today's client, ``core.images.download.download_images`` (aiohttp on one asyncio
  event loop, pooled keep-alive connections; the checks on a few threads);
- ``httpx``: the other asynchronous client, on one event loop with its pooled ``AsyncClient``;
- ``processes_x_aiohttp``: ``download_images`` over 2 spawned processes, each with half the
  concurrency.

Every client does the same work per sample (fetch, decode check, sha256, content-addressed
write). The server runs in its own process; its CPU is not counted. Images: 256 distinct small
JPEGs, so the client's own cost shows rather than decoding; 8,192 requests per setting, so the
spawned processes' start-up is amortised as over a real part. The clients missing from the
environment are reported as such.

    python -m benchmarks.bench_download [--requests 8192]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from laionet_assets.core.images.download import DownloadSettings, Fetched, download_images, finish

LATENCY_S = 0.05
FILES = 256
CONCURRENCY = (1, 64, 512)


def serve(files, queue):
    from http.server import ThreadingHTTPServer

    from laionet_assets.testing.web import ImageServer

    ThreadingHTTPServer.request_queue_size = 1024  # its listen backlog: 512 connections at once
    with ImageServer(files) as server:
        queue.put(server.base)
        server.thread.join()


def cpu_seconds() -> float:
    """User + system seconds of this process and its finished children (the spawned downloaders)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def urllib_threads(samples: pl.DataFrame, store: Path, concurrency: int) -> list[str]:
    """The pipeline's client before this measurement, kept here as the baseline: a urllib request
    per sample on a thread pool of ``concurrency``, each body checked and stored by ``finish``."""
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    settings = DownloadSettings(concurrency=concurrency, retries=0)
    store.mkdir(parents=True, exist_ok=True)

    def one(row: tuple[str, str]) -> str:
        sample_id, url = row
        try:
            with urllib.request.urlopen(url, timeout=settings.timeout_s) as response:
                fetched = Fetched("ok", response.status, response.read(settings.max_bytes + 1))
        except urllib.error.HTTPError as exc:
            fetched = Fetched("http_error", exc.code)
        except OSError as exc:
            return f"connection_error: {exc}"
        return finish(sample_id, url, fetched, store, settings)["status"]

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, samples.iter_rows()))


def pipeline_aiohttp(samples: pl.DataFrame, store: Path, concurrency: int) -> list[str]:
    """Today's client: ``core.images.download.download_images`` (aiohttp on one event loop, the checks on a
    few threads)."""
    table, _ = download_images(samples, store, DownloadSettings(concurrency=concurrency, retries=0))
    return table["status"].to_list()


def processes_x_aiohttp(samples: pl.DataFrame, store: Path, concurrency: int) -> list[str]:
    """``download_images`` over 2 spawned processes, each an event loop with half the requests."""
    processes = 2 if concurrency > 1 else 1
    settings = DownloadSettings(concurrency=max(1, concurrency // processes), processes=processes, retries=0)
    table, _ = download_images(samples, store, settings)
    return table["status"].to_list()


def _async_client(open_session, get):
    """A client on one event loop: ``open_session(concurrency)`` and ``get(session, url) → (status,
    body)``; checking and storing as ``download_images`` does (``finish``)."""

    def run(samples: pl.DataFrame, store: Path, concurrency: int) -> list[str]:
        settings = DownloadSettings(concurrency=concurrency, retries=0)
        store.mkdir(parents=True, exist_ok=True)

        async def main() -> list[str]:
            gate = asyncio.Semaphore(concurrency)
            async with open_session(concurrency) as session:

                async def one(sample_id: str, url: str) -> str:
                    async with gate:
                        try:
                            status, body = await get(session, url)
                        except OSError as exc:  # aiohttp's and httpx's connection errors included
                            return f"connection_error: {exc}"
                        except Exception as exc:  # noqa: BLE001 - the bench reports, never stops
                            return f"connection_error: {type(exc).__name__}"
                    fetched = Fetched("ok", status, body) if status == 200 else Fetched("http_error", status)
                    return finish(sample_id, url, fetched, store, settings)["status"]

                return await asyncio.gather(*(one(s, u) for s, u in samples.iter_rows()))

        return asyncio.run(main())

    return run


def httpx_client():
    import httpx

    async def get(client, url):
        response = await client.get(url)
        return response.status_code, response.content

    return _async_client(
        lambda c: httpx.AsyncClient(limits=httpx.Limits(max_connections=c, max_keepalive_connections=c)), get
    )


def clients() -> dict:
    out = {
        "urllib_threads": urllib_threads,
        "pipeline_aiohttp": pipeline_aiohttp,
        "processes_x_aiohttp": processes_x_aiohttp,
    }
    try:
        out["httpx"] = httpx_client()
    except ImportError as exc:
        out["httpx"] = f"not installed ({exc.name}): pip install -e .[bench]"
    return out


def main(requests: int = 8192) -> dict:
    # imported here: spawned downloaders import this module again, and the fixtures import Dagster
    from laionet_assets.testing.web import crafted_images

    files = {
        f"{i}.jpg": crafted_images()["rgb.jpg"] + bytes(i % 7) + i.to_bytes(4, "big") for i in range(FILES)
    }
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    server = context.Process(target=serve, args=(files, queue), daemon=True)
    server.start()
    base = queue.get(timeout=30)
    results: dict = {"server_latency_s": LATENCY_S, "requests": {}, "clients": {}}
    try:
        for name, client in clients().items():
            if isinstance(client, str):
                results["clients"][name] = client
                continue
            rows = {}
            for concurrency in CONCURRENCY:
                n = 40 if concurrency == 1 else requests
                results["requests"][concurrency] = n
                samples = pl.DataFrame(
                    {
                        "sample_id": [str(i) for i in range(n)],
                        "url": [f"{base}/slow/{LATENCY_S}/{i}/{i % FILES}.jpg" for i in range(n)],
                    }
                )
                with tempfile.TemporaryDirectory() as store:
                    cpu, start = cpu_seconds(), time.perf_counter()
                    statuses = client(samples, Path(store), concurrency)
                    elapsed, used = time.perf_counter() - start, cpu_seconds() - cpu
                ok = sum(s == "ok" for s in statuses)
                rows[concurrency] = {
                    "images_per_s": round(ok / elapsed, 1),
                    "images_per_cpu_s": round(ok / max(used, 1e-9), 1),
                    "ok": ok,
                    "failed": len(statuses) - ok,
                }
                print(name, concurrency, rows[concurrency], file=sys.stderr, flush=True)
            results["clients"][name] = rows
    finally:
        server.terminate()
    measured = {k: v for k, v in results["clients"].items() if isinstance(v, dict)}
    for c in CONCURRENCY[1:]:
        best = max(measured, key=lambda k: measured[k][c]["images_per_cpu_s"])
        results[f"fastest_per_core_at_{c}"] = best
        results[f"per_core_vs_urllib_threads_at_{c}"] = {
            k: round(v[c]["images_per_cpu_s"] / measured["urllib_threads"][c]["images_per_cpu_s"], 2)
            for k, v in measured.items()
        }
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=8192, help="requests per client at 64 and 512")
    main(parser.parse_args().requests)
