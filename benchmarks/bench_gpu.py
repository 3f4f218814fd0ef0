"""GPU throughput of the image side's models, where CUDA is present (prints a skip otherwise).

* decode + forward through the pipeline's own loop (``ImageModel.run``) for CLIP ViT-B/32
  embeddings and a ViT-B/16 classifier: decode in the main process vs DataLoader workers, fp32 vs
  bf16 autocast, with the time to the first batch (worker start-up) apart from the steady rate,
  and how far bf16 results are from fp32 ones (embedding cosine, top-1 agreement);
* forward pass alone (tensors already on the GPU) of the paper's classifiers, fp32 vs bf16
  autocast: the ceiling decode must feed;
* the CLIP ViT-B/32 text tower (length-bucketed) in captions/s.

Weights are random (no hub here): speed does not depend on them.

    python -m benchmarks.bench_gpu [--images 4096]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import nullcontext

import numpy as np

PAPER_CLASSIFIERS = ["resnet50", "vit_base_patch16_224", "convnext_base", "beit_base_patch16_224"]


def _timed(fn, repeat: int = 1) -> float:
    import torch

    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeat


def _autocast(precision: str):
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


def main(images: int = 4096, skip_forward: bool = False) -> dict:
    import torch

    if not torch.cuda.is_available():
        out = {"device": "cpu", "skipped": "no CUDA device"}
        print(json.dumps(out))
        return out
    from benchmarks.common import synthetic_captions, synthetic_jpegs
    from laionet_assets.core.models.classifiers import TimmClassifier
    from laionet_assets.core.models.clip import Clip, ClipImageEncoder
    from laionet_assets.core.models.specs import parse_model_spec

    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
    results: dict = {
        "device": torch.cuda.get_device_name(),
        "cpu_cores": os.cpu_count(),
        "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory() as folder:
        paths = synthetic_jpegs(folder, images)
        model = ClipImageEncoder("ViT-B-32", None, device="cuda", batch_size=256)
        model.run(paths[:512], workers=0)  # warm-up (cuDNN, allocator)
        workers = min(12, os.cpu_count() or 1)
        runs = (
            ("workers_0_fp32", model, 0, "fp32"),
            (f"workers_{workers}_fp32", model, workers, "fp32"),
            (f"workers_{workers}_bf16", model, workers, "bf16"),
        )
        vit = TimmClassifier(
            parse_model_spec("timm:vit_base_patch16_224:random"),
            [f"n{i:08d}" for i in range(1000)],
            device="cuda",
            batch_size=256,
        )
        runs += (
            (f"vit_b16_classifier_workers_{workers}_fp32", vit, workers, "fp32"),
            (f"vit_b16_classifier_workers_{workers}_bf16", vit, workers, "bf16"),
        )
        pipeline, embeddings = {}, {}
        for label, runner, n_workers, precision in runs:
            stamps = []
            start = time.perf_counter()
            with _autocast(precision):
                embeddings[label], _ = runner.run(
                    paths, workers=n_workers, progress=lambda k: stamps.append((time.perf_counter(), k))
                )
            total = time.perf_counter() - start
            first_t, first_k = stamps[0]
            pipeline[label] = {
                "images_per_s": round(images / total, 1),
                "first_batch_s": round(first_t - start, 2),
                "steady_images_per_s": round((images - first_k) / max(stamps[-1][0] - first_t, 1e-9), 1),
            }
        results["decode_and_forward_through_ImageModel_run"] = pipeline
        a, b = embeddings["workers_0_fp32"], embeddings[f"workers_{workers}_bf16"]
        cosine = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        results["clip_bf16_vs_fp32_embedding_cosine"] = {
            "min": round(float(cosine.min()), 5),
            "mean": round(float(cosine.mean()), 5),
        }
        a, b = (
            embeddings[f"vit_b16_classifier_workers_{workers}_fp32"],
            embeddings[f"vit_b16_classifier_workers_{workers}_bf16"],
        )
        results["vit_b16_bf16_vs_fp32_top1_agreement"] = round(float((a.argmax(1) == b.argmax(1)).mean()), 4)

    if skip_forward:
        print(json.dumps(results, indent=1))
        return results
    import timm

    forward = {}
    batch = torch.randn(256, 3, 224, 224, device="cuda")
    for name in ["clip:ViT-B-32", *PAPER_CLASSIFIERS]:
        net = (
            model.model.visual
            if name.startswith("clip:")
            else timm.create_model(name, pretrained=False).eval().cuda()
        )
        forward[name] = {}
        for precision in ("fp32", "bf16"):
            with torch.inference_mode(), _autocast(precision):
                net(batch)
                seconds = _timed(lambda net=net: net(batch), repeat=5)
            forward[name][precision] = round(256 / seconds, 1)
        forward[name]["bf16_speedup"] = round(forward[name]["bf16"] / forward[name]["fp32"], 1)
        del net
    results["forward_only_images_per_s_batch_256"] = forward

    texts = synthetic_captions(20_000)
    encoder = Clip("ViT-B-32", pretrained=None, device="cuda", batch_size=1024)
    encoder.encode(texts[:2048])
    start = time.perf_counter()
    encoder.encode(texts)
    torch.cuda.synchronize()
    results["clip_vit_b32_text_captions_per_s"] = round(len(texts) / (time.perf_counter() - start), 1)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--skip-forward", action="store_true", help="only the decode + forward loop")
    args = parser.parse_args()
    main(args.images, args.skip_forward)
