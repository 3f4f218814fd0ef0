"""Decode + CLIP ViT-B/32 image embedding throughput (images/s) on the device at hand (CUDA when
available, else CPU), with DataLoader decode workers overlapping the forward pass vs decoding
in the main process (same images, same run).  Weights are random: speed does not depend on them.

    python -m benchmarks.bench_image_embedding
"""

import json
import tempfile
import time

from benchmarks.common import synthetic_jpegs
from laionet_assets.core.models.clip import ClipImageEncoder


def main() -> dict:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    n = 2048 if device == "cuda" else 96
    with tempfile.TemporaryDirectory() as folder:
        paths = synthetic_jpegs(folder, n)
        model = ClipImageEncoder("ViT-B-32", None, device=device, batch_size=256 if device == "cuda" else 32)
        model.configure("bf16" if device == "cuda" else "fp32", "pil")
        model.run(paths[:64], workers=0)  # warm-up
        results = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "images": n}
        for workers in (0, 2 if device == "cpu" else 12):
            start = time.perf_counter()
            model.run(paths, workers=workers)
            results[f"images_per_s_workers_{workers}"] = round(n / (time.perf_counter() - start), 1)
        keys = [k for k in results if k.startswith("images_per_s")]
        results["ratio_overlapped_vs_inline"] = round(results[keys[1]] / results[keys[0]], 2)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
