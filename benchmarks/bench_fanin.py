"""The steps that gather every part, at LAION-400M's size: peak memory and seconds of the
``laionet`` step (``laionet_clean`` and its siblings) and of ``captions_nearest_laion``'s reading
of its inputs, for K = 1, 4, 16, 32 parts, against the eager path (every part's whole tables
loaded and joined, ``testing.eager``) measured in the same run.

    python -m benchmarks.bench_fanin [--parts 1,4,16,32] [--eager-max 16] [--folder /tmp/fanin]

Parts are generated, not bundled, at the size of one LAION-400M part: 779k lemma matches (of
12.9M captions), 700k single-label candidates, captions and URLs of LAION's lengths; the caption
index part holds all 12.9M captions' rows (sample id, part, encoder).  Every measurement runs in
a fresh process (``ru_maxrss``): ``eager`` and ``lazy`` run the step's work as plain functions,
``step`` runs the real Dagster step (``materialize``, in-process executor) and so includes
Dagster's own memory.  The eager path is measured up to ``--eager-max`` parts (beyond, it needs
more memory than the benchmark machine has).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.common import fit, run_child, synthetic_captions

LEMMA_MATCHES = 779_000  # a LAION-400M part's lemma matches (12.9M captions)
SINGLE_LABEL = 700_000  # of which single-label
CAPTIONS = 12_900_000  # a part's captions, every one in the caption index
THRESHOLD = 0.82
ENCODER = "open_clip:ViT-B-32/openai"

CHILD = r"""
import json, sys, time
mode, home, keys, threshold = sys.argv[1], sys.argv[2], sys.argv[3].split(","), float(sys.argv[4])
import polars as pl
from pathlib import Path
from laionet_assets.core.io.storage import read_parquet, scan_parquet
assets = Path(home) / "assets"
def files(name):
    return {k: assets / name / f"{k}.parquet" for k in keys}
started = time.perf_counter()
if mode in ("eager", "lazy"):
    import numpy as np
    from laionet_assets.core.report.figures import coverage_figure
    from laionet_assets.core.text import selection
    synsets = pl.read_parquet(assets / "imagenet_synsets.parquet")
    if mode == "eager":  # every part loaded whole, as the IO manager handed them over
        from laionet_assets.testing import eager
        out = eager.laionet({k: read_parquet(p) for k, p in files("lemma_matches").items()},
                            {k: read_parquet(p) for k, p in files("text_sims").items()}, threshold)
        clean, curve, sims = out["laionet"], out["coverage"], out["similarities"]
        candidates = out["counts"]["candidates"]
    else:
        from laionet_assets.core.text.candidates import parts_of, select_rows, summarize
        parts = parts_of({k: scan_parquet(p) for k, p in files("lemma_matches").items()},
                         {k: scan_parquet(p) for k, p in files("text_sims").items()})
        summary = summarize(parts, threshold)
        clean = select_rows(parts, threshold)
        curve = selection.coverage_from(summary.similarities, summary.class_max)
        sims, candidates = summary.similarities, summary.counts["candidates"]
    selection.top_per_class(clean, 50)
    selection.class_frequencies(clean, synsets)
    coverage_figure(sims, curve, threshold, "bench", Path(home) / "fig3.png")
    result = {"rows": clean.height, "candidates": candidates}
elif mode == "step":  # the real laionet step, through Dagster
    import dagster as dg
    from laionet_assets.defs.partitions import laion_parts
    from laionet_assets.profiles import resources_for
    from laionet_assets.testing.fixtures import DEFS, select
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(laion_parts.name, keys)
    run = dg.materialize(DEFS, selection=select("laionet_clean"), instance=instance,
                         resources=resources_for("tiny", home, {}),
                         run_config={"ops": {"laionet": {"config": {"threshold": threshold}}}})
    result = {"rows": run.output_for_node("laionet", "laionet_clean").height}
else:  # captions_nearest_laion: what it reads of its partitioned inputs
    if mode == "nearest_eager":  # every caption index part and every lemma_matches part, whole
        index = {k: read_parquet(p) for k, p in files("laion_caption_index").items()}
        lemma = {k: read_parquet(p) for k, p in files("lemma_matches").items()}
        encoders = sorted({e for f in index.values() for e in f["encoder"].unique().to_list()})
    else:
        from laionet_assets.defs.text_only.captions import indexed_encoders
        encoders = indexed_encoders({k: scan_parquet(p) for k, p in files("laion_caption_index").items()})
    result = {"encoders": encoders}
result["seconds"] = round(time.perf_counter() - started, 2)
from laionet_assets.core.io.progress import peak_memory_gib
result["peak_gib"] = peak_memory_gib()
print(json.dumps(result))
"""


def key(i: int) -> str:
    return f"laion400m-{i:05d}"


def write_parts(home: Path, n: int, seed: int = 0) -> None:
    """``n`` distinct generated parts of ``lemma_matches``/``text_sims``, ``laion_caption_index``
    parts (one generated file, linked under every part's name: the step reads each as its own
    file) and ``imagenet_synsets``."""
    from laionet_assets.core.text.synsets import load_imagenet_synsets

    assets = home / "assets"
    for name in ("lemma_matches", "text_sims", "laion_caption_index"):
        (assets / name).mkdir(parents=True, exist_ok=True)
    synsets_file = assets / "imagenet_synsets.parquet"
    if not synsets_file.exists():
        load_imagenet_synsets().write_parquet(synsets_file)
    wnids = pl.read_parquet(synsets_file)["wnid"]
    pool = pl.Series("text", synthetic_captions(200_000, seed))
    rng = np.random.default_rng(seed)
    for i in range(n):
        lemma_file, sims_file = (
            assets / name / f"{key(i)}.parquet" for name in ("lemma_matches", "text_sims")
        )
        if lemma_file.exists() and sims_file.exists():
            continue
        rows = np.arange(LEMMA_MATCHES)
        label = rng.integers(0, wnids.len(), LEMMA_MATCHES)
        multi = rng.permutation(LEMMA_MATCHES) >= SINGLE_LABEL  # 79k multi-label captions
        lemma = pl.DataFrame(
            {
                "i": rows,
                "text": pool.gather(rng.integers(0, pool.len(), LEMMA_MATCHES)),
                "wnid": wnids.gather(label),
                "other": wnids.gather((label + 1) % wnids.len()),
                "multi": multi,
            }
        ).select(
            sample_id=pl.format("{}-{}", pl.lit(key(i)), "i"),
            url=pl.format("https://images.example.org/{}/{}.jpg", pl.lit(key(i)), "i"),
            text="text",
            nsfw_tag=(pl.col("i") % 20).replace_strict(
                {18: "UNSURE", 19: "NSFW"}, default="UNLIKELY", return_dtype=pl.String
            ),
            unsafe_score=pl.lit(None, pl.Float32),
            language=pl.lit("en"),
            width=pl.lit(640, pl.Int32),
            height=pl.lit(480, pl.Int32),
            part_row=(pl.col("i") * (CAPTIONS // LEMMA_MATCHES)).cast(pl.Int64),
            lemmas=pl.concat_list(pl.col("wnid")),
            wnids=pl.when("multi").then(pl.concat_list("wnid", "other")).otherwise(pl.concat_list("wnid")),
        )
        lemma.write_parquet(lemma_file)
        single = lemma.filter(pl.col("wnids").list.len() == 1)
        sims = single.select(
            "sample_id",
            "part_row",
            wnid=pl.col("wnids").list.first(),
            text_similarity=pl.Series(np.clip(rng.normal(0.65, 0.1, single.height), -1, 1), dtype=pl.Float32),
            encoder=pl.lit(ENCODER),
            source=pl.lit("shipped"),
        )
        sims.write_parquet(sims_file)
        print(f"generated {key(i)}", file=sys.stderr, flush=True)
    index_file = home / "caption_index_part.parquet"
    if not index_file.exists():
        pl.DataFrame({"i": np.arange(CAPTIONS)}).select(
            sample_id=pl.format("laion400m-{}", "i"),
            release_part=pl.lit(key(0)),
            encoder=pl.lit(ENCODER),
            captions=pl.lit("all"),
        ).write_parquet(index_file)
    for i in range(n):
        target = assets / "laion_caption_index" / f"{key(i)}.parquet"
        if not target.exists():
            os.link(index_file, target)


def measure(mode: str, home: Path, parts: int) -> dict:
    keys = ",".join(key(i) for i in range(parts))
    return run_child(CHILD, mode, str(home), keys, str(THRESHOLD))


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", default="1,4,16,32")
    parser.add_argument("--eager-max", type=int, default=16)
    parser.add_argument("--folder", default="/tmp/laionet_bench_fanin")
    args = parser.parse_args()
    counts = [int(k) for k in args.parts.split(",")]
    home = Path(args.folder)
    started = time.perf_counter()
    write_parts(home, max(counts))
    results: dict = {
        "machine": "2-core x86-64, 24 GiB",
        "candidates_per_part": SINGLE_LABEL,
        "threshold": THRESHOLD,
        "generate_seconds": round(time.perf_counter() - started, 1),
        "laionet": {},
        "captions_nearest_laion_inputs": {},
    }
    for k in counts:
        row = {"candidates_millions": round(k * SINGLE_LABEL / 1e6, 2)}
        for mode in ("lazy", "step", "eager"):
            if mode == "eager" and k > args.eager_max:
                continue
            row[mode] = measure(mode, home, k)
            print(k, mode, row[mode], file=sys.stderr, flush=True)
        results["laionet"][str(k)] = row
        nearest = {"caption_index_rows_millions": round(k * CAPTIONS / 1e6, 1)}
        for mode in ("nearest_lazy", "nearest_eager"):
            if mode == "nearest_eager" and k > 4:
                continue
            nearest[mode.removeprefix("nearest_")] = measure(mode, home, k)
            print(k, mode, nearest[mode.removeprefix("nearest_")], file=sys.stderr, flush=True)
        results["captions_nearest_laion_inputs"][str(k)] = nearest
    for mode in ("lazy", "step", "eager"):
        points = [
            (row["candidates_millions"], row[mode]["peak_gib"])
            for row in results["laionet"].values()
            if "peak_gib" in row.get(mode, {})
        ]
        if points:
            intercept, slope = fit(points)
            results[f"{mode}_gib_fixed"], results[f"{mode}_gib_per_million_candidates"] = intercept, slope
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
