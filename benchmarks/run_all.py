"""Run every benchmark and write benchmarks/results.json (ratios against same-run baselines)."""

import json
import subprocess
import sys
from pathlib import Path

BENCHES = [
    "benchmarks.bench_matching",
    "benchmarks.bench_clip_text",
    "benchmarks.bench_memory",
    "benchmarks.bench_fanin",
    "benchmarks.bench_image_selection",
    "benchmarks.bench_shipped",
    "benchmarks.bench_intra_class",
    "benchmarks.bench_download",
    "benchmarks.bench_download_resize",
    "benchmarks.bench_fuzz",
    "benchmarks.bench_image_embedding",
    "benchmarks.bench_decode_groups",
    "benchmarks.bench_cpu_assist",
    "benchmarks.bench_memory_format",
    "benchmarks.bench_caption_index",
    "benchmarks.bench_nearest",
    "benchmarks.bench_celery",
    "benchmarks.bench_object_store",
    "benchmarks.bench_gpu",
    "benchmarks.bench_gpu_decode",
    "benchmarks.bench_gpu_nearest",
]


def main() -> None:
    results = {}
    for module in BENCHES:
        out = subprocess.run(
            [sys.executable, "-W", "ignore", "-m", module], capture_output=True, text=True, check=True
        )
        results[module.split(".")[-1]] = json.loads(out.stdout[out.stdout.index("{") :])
        print(module, json.dumps(results[module.split(".")[-1]]), flush=True)
    path = Path(__file__).with_name("results.json")
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
