"""An object-store home against a local disk, in the same run: the bundled sample's
``lemma_matches`` → ``text_sims`` → ``laionet_clean`` and ``laionet_images`` (tiny profile, OCR
off, images from the sample's local web) with ``LAIONET_HOME`` a folder, then an ``s3://`` URL
on a moto server on 127.0.0.1 (a thread of this process, so it shares the cores), and again
(what a re-run costs: every table read back, the image store listed, nothing fetched), after a
warm-up run that pays the imports and model loads.

    python -m benchmarks.bench_object_store
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from laionet_assets.cli.demo import sample_web
from laionet_assets.core.io.storage import home_path
from laionet_assets.core.text.synsets import load_imagenet_synsets
from laionet_assets.testing.cluster import S3_BUCKET, moto_s3
from laionet_assets.testing.fixtures import sample_chain


def timed(home, synsets, rewrites) -> tuple[float, int]:
    start = time.perf_counter()
    release = sample_chain(home, synsets, rewrites)
    seconds = time.perf_counter() - start
    return seconds, release.storage.read_asset("laionet_images").height


def main() -> dict:
    synsets = load_imagenet_synsets()
    results: dict = {"cores": os.cpu_count(), "server": "moto (threaded) on 127.0.0.1"}
    with tempfile.TemporaryDirectory() as tmp, moto_s3(), sample_web() as rewrites:
        homes = {"local": home_path(Path(tmp) / "home"), "s3": home_path(f"s3://{S3_BUCKET}/bench/home")}
        timed(home_path(Path(tmp) / "warm-up"), synsets, rewrites)  # imports and model loads, once
        for name, home in homes.items():
            first, images = timed(home, synsets, rewrites)
            again, _ = timed(home, synsets, rewrites)
            results[name] = {"first_run_s": round(first, 1), "rerun_s": round(again, 1), "images": images}
    for key in ("first_run_s", "rerun_s"):
        ratio = results["s3"][key] / results["local"][key]
        results[f"s3_over_local_{key.removesuffix('_s')}"] = round(ratio, 2)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
