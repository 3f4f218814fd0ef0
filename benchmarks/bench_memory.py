"""Peak memory of lemma_matches' work on a 1M-row part, against reading the part alone.

    python -m benchmarks.bench_memory [--rows 1000000]
Each measurement runs in a fresh process (ru_maxrss); the baseline is the same process reading
the part and loading the synsets without matching.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

from benchmarks.common import synthetic_captions

CHILD = r"""
import resource, sys, time, polars as pl
from laionet_assets.core.laion import read_part
from laionet_assets.core.synsets import load_imagenet_synsets
from laionet_assets.core.matching import match_captions
synsets = load_imagenet_synsets()
frame, counts = read_part(sys.argv[1], "bench-part")
if sys.argv[2] == "match":
    t = time.perf_counter()
    m = match_captions(frame["text"], synsets, "paper")
    out = (
        frame.with_row_index("position")
        .join(m, left_on="position", right_on="row")
        .select("sample_id", "url", "text", "nsfw", "lemmas", "wnids")
    )
    print("rows", out.height, "seconds", round(time.perf_counter() - t, 2), file=sys.stderr)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def peak_mib(part: Path, what: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(part), what], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "part-00000.parquet"
        texts = synthetic_captions(args.rows)
        pl.DataFrame(
            {
                "SAMPLE_ID": range(len(texts)),
                "URL": [f"https://x/{i}.jpg" for i in range(len(texts))],
                "TEXT": texts,
                "NSFW": ["UNLIKELY"] * len(texts),
            }
        ).write_parquet(part)
        results = {"rows": args.rows, "part_mib": round(part.stat().st_size / 2**20, 1)}
        results["baseline_read_part_peak_mib"] = peak_mib(part, "read")
        results["lemma_matches_peak_mib"] = peak_mib(part, "match")
    results["ratio_to_baseline"] = round(
        results["lemma_matches_peak_mib"] / results["baseline_read_part_peak_mib"], 2
    )
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
