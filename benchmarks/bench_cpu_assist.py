"""The ``tensor+cpu`` decoder's sharing, on the CPU: a batch decoder that decodes in the
model's thread, as nvJPEG's batched decode does its Huffman stage on a GPU host, alone (``tensor``)
against the same with the reading threads decoding the read batch's JPEGs until it is taken
(``tensor+cpu``), in the same run.  The batch decoder here is libjpeg-turbo itself, so what is
measured is the sharing: whether the reading threads add their cores to the model thread's
(decoding releases the GIL) and how the work splits, not a GPU's rate (``bench_gpu_decode``).

Images: the real ImageNet JPEGs of ../shared when present (repeated), else random-pixel 500×375
JPEGs.  No model runs: images/s is the decode pipeline's own.

    python -m benchmarks.bench_cpu_assist [--images 800] [--batch 32] [--threads 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from benchmarks.common import synthetic_jpegs
from benchmarks.real_models import SHARED


class ModelThreadDecoder:
    """Decodes the JPEGs it is given one by one in the model's thread, by the CPU's rules
    (libjpeg-turbo), counting them: a stand-in for nvJPEG's CPU stage."""

    in_reader = False

    def __init__(self):
        self.decoded = 0

    def takes(self, data: bytes) -> bool:
        from laionet_assets.core.images.pixels import JPEG_MAGIC

        return data.startswith(JPEG_MAGIC)

    def decode(self, staged) -> None:
        for i, data in staged.jpegs.items():
            staged.on_cpu(i, data)
        self.decoded += len(staged.jpegs)
        staged.jpegs.clear()


def images_per_s(paths: list[str], batch: int, threads: int, cpu_assist: bool) -> tuple[float, float]:
    """(images/s, share decoded by the reading threads) of one pass over ``paths``."""
    from laionet_assets.core.images.decoders import iter_staged_batches
    from laionet_assets.core.images.preprocess import Preprocessing

    preprocessing = Preprocessing(256, 224, "bilinear", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    decoder = ModelThreadDecoder()
    start = time.perf_counter()
    for _ in iter_staged_batches(paths, preprocessing, batch, "cpu", threads, decoder, cpu_assist=cpu_assist):
        pass
    elapsed = time.perf_counter() - start
    return len(paths) / elapsed, 1 - decoder.decoded / len(paths)


def main() -> dict:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=800)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="reading threads")
    parser.add_argument("--rounds", type=int, default=3, help="alternating pairs; the best of each")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the resizes: one core each, as the threads share the machine's
    with tempfile.TemporaryDirectory() as folder:
        real = sorted(str(p) for p in (SHARED / "data" / "imagenet_sample").glob("*.JPEG"))
        paths = (real * args.images)[: args.images] if real else synthetic_jpegs(folder, args.images)
        images_per_s(paths[: args.batch * 2], args.batch, args.threads, True)  # warm-up
        best = {"tensor": (0.0, 0.0), "tensor+cpu": (0.0, 0.0)}
        for _ in range(args.rounds):
            for label in best:
                rate, share = images_per_s(paths, args.batch, args.threads, label == "tensor+cpu")
                best[label] = max(best[label], (rate, share))
    results = {
        "device": "cpu",
        "images": "real ImageNet JPEGs (median 500x375), repeated" if real else "random 500x375 JPEGs",
        "n_images": args.images,
        "reading_threads": args.threads,
        "batch_decoder": "libjpeg-turbo in the model's thread (a stand-in for nvJPEG's CPU stage)",
    }
    for label, (rate, share) in best.items():
        results[f"{label}_images_per_s"] = round(rate, 1)
        results[f"{label}_share_decoded_by_reading_threads"] = round(share, 3)
    results["speedup"] = round(best["tensor+cpu"][0] / best["tensor"][0], 2)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
