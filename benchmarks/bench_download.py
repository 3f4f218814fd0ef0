"""Image download throughput against a local server on 127.0.0.1 at 1, 8 and 64 concurrent
requests (same images, same run; the server adds a fixed latency per request, standing in for
the network).  The ratio is against 1 concurrent request.

    python -m benchmarks.bench_download
"""

import json
import tempfile
import time
from pathlib import Path

import polars as pl

from laionet_assets.core.images import DownloadSettings, download_images
from laionet_assets_tests.fixtures import ImageServer, crafted_images

LATENCY_S = 0.05
IMAGES = 256


def serve(files, queue):
    with ImageServer(files) as server:
        queue.put(server.base)
        server.thread.join()


def main() -> dict:
    import multiprocessing

    files = {
        f"{i}.jpg": crafted_images()["rgb.jpg"] + bytes(i % 7) for i in range(IMAGES)
    }  # distinct contents
    results = {"images": IMAGES, "server_latency_s": LATENCY_S}
    # The server runs in its own process, as the web does: it must not share the client's GIL.
    queue = multiprocessing.get_context("fork").Queue()
    process = multiprocessing.get_context("fork").Process(target=serve, args=(files, queue), daemon=True)
    process.start()
    base = queue.get(timeout=30)
    try:
        for concurrency in (1, 8, 64):
            samples = pl.DataFrame(
                {
                    "sample_id": [str(i) for i in range(IMAGES)],
                    "url": [f"{base}/slow/{LATENCY_S}/{i}.jpg" for i in range(IMAGES)],
                }
            )
            with tempfile.TemporaryDirectory() as store:
                start = time.perf_counter()
                table, _ = download_images(
                    samples, Path(store), DownloadSettings(concurrency=concurrency, retries=0)
                )
                elapsed = time.perf_counter() - start
            assert (table["status"] == "ok").all()
            results[f"images_per_s_at_{concurrency}"] = round(IMAGES / elapsed, 1)
    finally:
        process.terminate()
    for c in (8, 64):
        results[f"ratio_{c}_vs_1"] = round(results[f"images_per_s_at_{c}"] / results["images_per_s_at_1"], 1)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
