"""Selection by image from a release's shipped image vectors: peak memory and seconds of scoring
every candidate (its image against its synset text and its class's prototype) the way
``laionet_image_selected`` does, ``SCORE_CHUNK`` rows at a time from the memory-mapped array,
against reading every candidate's vector at once, measured in the same run.

    python -m benchmarks.bench_image_selection [--millions 1,2,4] [--folder /tmp/image_selection]

The shipped array is generated: ``--millions`` × 1M rows of 512 float16 unit vectors (ViT-B/32's
width, LAION-400M's ``img_emb`` format), every row a candidate of one of 1,000 classes, in a
shuffled row order.  Every measurement runs in a fresh process and reads the peak of its
resident memory (``VmHWM``: memory-mapped pages it touched included, which the kernel's
readahead makes about the whole file) and of its anonymous memory (``RssAnon`` sampled every
5 ms: what the step allocates; mapped file pages are page cache the kernel reclaims).  Reading
every vector at once is measured up to ``--all-at-once-max`` million rows (beyond, it needs more
memory than the machine has).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.bench_shipped import write_vectors
from benchmarks.common import fit, run_child

DIM, CLASSES = 512, 1000

CHILD = r"""
import json, sys, threading, time
mode, array, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
peak_anon = [0]
def sample():  # the anonymous memory's peak: mapped file pages are page cache the kernel reclaims
    while True:
        with open("/proc/self/status") as status:
            kib = next(int(l.split()[1]) for l in status if l.startswith("RssAnon:"))
        peak_anon[0] = max(peak_anon[0], kib)
        time.sleep(0.005)
threading.Thread(target=sample, daemon=True).start()
import numpy as np, polars as pl
from laionet_assets.core.io.progress import Progress, peak_memory_gib
from laionet_assets.core.releases import shipped
from laionet_assets.defs.experiments.image_selection import _Scorer, _from_release
rng = np.random.default_rng(0)
wnids = [f"n{i:08d}" for i in range(1000)]
candidates = pl.DataFrame({
    "sample_id": pl.int_range(rows, eager=True).cast(pl.String),
    "wnid": pl.Series(rng.choice(wnids, rows)),
    "text_similarity": pl.Series(rng.random(rows, dtype=np.float32)),
    "release_part": "p0",
    "part_row": pl.Series(rng.permutation(rows)),
    "in_laionet": pl.Series(rng.random(rows) < 0.04),
})
texts = rng.standard_normal((1000, 512)).astype(np.float32)
texts /= np.linalg.norm(texts, axis=1, keepdims=True)
synsets = pl.DataFrame({"wnid": wnids, "embedding": pl.Series(texts, dtype=pl.Array(pl.Float32, 512))})
scorer = _Scorer(synsets, (texts, wnids))
handles = {"p0": {"path": array}}
before = peak_memory_gib()
started = time.perf_counter()
if mode == "chunked":
    scored = _from_release(candidates, handles, scorer, Progress(rows, "scored", lambda m: None))
else:  # every candidate's vector read at once, then scored
    kept, vectors, _ = shipped.read_frame_rows(candidates, handles)
    scored = scorer.score(kept, vectors)
seconds = time.perf_counter() - started
print(json.dumps({"peak_gib": peak_memory_gib(), "peak_anon_gib": round(peak_anon[0] / 2**20, 3),
                  "before_gib": before, "seconds": round(seconds, 2),
                  "rows_per_second": round(rows / seconds), "scored": scored.height}))
"""


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--millions", default="1,2,4")
    parser.add_argument("--all-at-once-max", type=float, default=2)
    parser.add_argument("--folder", default="/tmp/laionet_bench_image_selection")
    args = parser.parse_args()
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": "2-core x86-64, 24 GiB", "dim": DIM, "classes": CLASSES, "runs": {}}
    for millions in [float(m) for m in args.millions.split(",")]:
        rows = int(millions * 1_000_000)
        array = folder / f"img_emb_{rows}.npy"
        if not array.exists():
            started = time.perf_counter()
            write_vectors(array, rows, DIM)
            print(f"generated {rows} rows in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        modes = ("chunked", "all_at_once") if millions <= args.all_at_once_max else ("chunked",)
        run = {mode: run_child(CHILD, mode, str(array), str(rows)) for mode in modes}
        for mode, value in run.items():
            print(millions, mode, value, file=sys.stderr, flush=True)
        if "peak_anon_gib" in run["chunked"] and "peak_anon_gib" in run.get("all_at_once", {}):
            run["anon_peak_ratio_all_at_once_to_chunked"] = round(
                run["all_at_once"]["peak_anon_gib"] / run["chunked"]["peak_anon_gib"], 2
            )
        results["runs"][f"{millions:g}M"] = run
    for mode in ("chunked", "all_at_once"):  # what the step allocates per million candidates
        points = [
            (float(k[:-1]), v[mode]["peak_anon_gib"])
            for k, v in results["runs"].items()
            if "peak_anon_gib" in v.get(mode, {})
        ]
        if len(points) > 1:
            fixed, per_million = fit(points)
            results[f"{mode}_anon_gib_fixed"] = fixed
            results[f"{mode}_anon_gib_per_million_candidates"] = per_million
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
