"""Reading and matching one part of each Parquet release layout: captions/s and peak memory of
``read_part`` + ``match_captions`` (lemma_matches' work), against plain ``pl.read_parquet`` of
the same file in the same run.

    python -m benchmarks.bench_memory [--rows 12900000] [--layouts laion400m,relaion5b]

Each measurement runs in a fresh process (ru_maxrss).  Shipped embeddings are stand-ins of the
right shape (a sparse .npy, a header-only .npz member): ``read_part`` checks their headers only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.common import synthetic_captions
from laionet_assets.core.releases.layouts import RELEASE_LAYOUTS
from laionet_assets.core.releases.samples import DATACOMP_ARRAYS, EMBEDDINGS_DIMS, vector_paths, write_release

CHILD = r"""
import json, resource, sys, time, polars as pl
mode, path = sys.argv[1], sys.argv[2]
if mode == "baseline":
    t = time.perf_counter()
    rows = pl.read_parquet(path).height
else:
    from laionet_assets.core.releases.scan import scan_release
    from laionet_assets.core.releases.read import read_part
    from laionet_assets.core.text.matching import match_captions
    from laionet_assets.core.text.synsets import load_imagenet_synsets
    synsets = load_imagenet_synsets()
    [part] = [p for p in scan_release(sys.argv[3]).parts if p.path == path]
    t = time.perf_counter()
    frame, counts = read_part(part.to_json())
    matches = match_captions(frame["text"], synsets, "paper")
    rows = counts["part_rows"]
seconds = time.perf_counter() - t
print(json.dumps({"rows": rows, "seconds": seconds,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def measure(mode: str, part: Path, release: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(part), str(release)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def stand_in_vectors(layout: str, part: Path, rows: int) -> None:
    for kind, path in vector_paths(layout, part).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "npz":
            with zipfile.ZipFile(path, "w") as archive:
                for key, dim in DATACOMP_ARRAYS:
                    with archive.open(f"{key}.npy", "w") as member:
                        header = {"descr": "<f2", "fortran_order": False, "shape": (rows, dim)}
                        np.lib.format.write_array_header_2_0(member, header)
        else:
            np.lib.format.open_memmap(path, "w+", np.float16, (rows, EMBEDDINGS_DIMS[layout])).flush()


def rows_for(n: int) -> pl.DataFrame:
    texts = synthetic_captions(min(n, 1_000_000))
    frame = pl.DataFrame({"text": texts})
    frame = pl.concat([frame] * -(-n // frame.height)).head(n)
    return frame.with_row_index("id").select(
        pl.col("id").cast(pl.Int64) + 1,
        pl.format("https://images.example.org/{}.jpg", "id").alias("url"),
        "text",
        (pl.col("id") % 5)
        .replace_strict({3: "UNSURE", 4: "NSFW"}, default="UNLIKELY", return_dtype=pl.String)
        .alias("nsfw_tag"),
        (pl.col("id") % 97 / 97).cast(pl.Float32).alias("unsafe_score"),
        pl.lit("en").alias("language"),
        pl.lit(640, pl.Int32).alias("width"),
        pl.lit(480, pl.Int32).alias("height"),
    )


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--layouts", default=",".join(k for k, v in RELEASE_LAYOUTS.items() if v.reader == "parquet")
    )
    args = parser.parse_args()
    rows = rows_for(args.rows)
    results = {"rows": args.rows, "layouts": {}}
    for layout in args.layouts.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            [part] = write_release(layout, Path(tmp) / layout, rows, parts=1, vectors=False)
            stand_in_vectors(layout, part, rows.height)
            baseline = measure("baseline", part, Path(tmp) / layout)
            ours = measure("match", part, Path(tmp) / layout)
            results["layouts"][layout] = {
                "part_mib": round(part.stat().st_size / 2**20, 1),
                "seconds_total": round(time.perf_counter() - started, 1),
                "read_parquet_captions_per_s": round(baseline["rows"] / baseline["seconds"]),
                "read_and_match_captions_per_s": round(ours["rows"] / ours["seconds"]),
                "read_parquet_peak_mib": baseline["peak_mib"],
                "read_and_match_peak_mib": ours["peak_mib"],
                "speed_ratio_to_read_parquet": round(baseline["seconds"] / ours["seconds"], 3),
                "memory_ratio_to_read_parquet": round(ours["peak_mib"] / baseline["peak_mib"], 2),
            }
            print(layout, json.dumps(results["layouts"][layout]), file=sys.stderr, flush=True)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
