"""Issue 14 on a GPU (prints a skip where CUDA is absent):

* CLIP ViT-B/32 image embedding through the pipeline's own loop (``ImageModel.run``): the ``pil``
  decoder (PIL in 12 DataLoader worker processes) against the ``tensor`` decoder (nvJPEG on the
  GPU, files read by threads), ``tensor+cpu`` (the reading threads decode a share on the CPU) and
  the ``nvimgcodec`` decoder (nvImageCodec: the hardware JPEG decoders), each in fp32 and bf16;
  images/s overall and steady (after the first batch).  Target: ≥ 5,000 images/s.
* The tensor and nvimgcodec decoders against PIL on the real ImageNet images: grey levels of the model
  inputs, and the cosine of CLIP embeddings made from each.
* Top-1 / top-5 of a real float classifier (``benchmarks.real_models``: the shared MobileNetV2,
  dequantized) on the real images, for each decoder × precision, on the GPU and on the CPU.
* Four models sharing one preprocessing: one decode pass for all vs one per model, on the GPU.

Weights other than MobileNetV2's are random (no hub here): speed does not depend on them.

    python -m benchmarks.bench_gpu_decode [--images 4096] [--repeat 4] [--real DIR]
        [--decoders pil,tensor,tensor+cpu,nvimgcodec] [--only-throughput] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_decode_groups import four_models, passes_compared
from benchmarks.real_models import SHARED

DEVICE = "cuda"


def _sync():
    import torch

    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def _timed_run(model, paths, workers):
    """images/s overall, first-batch seconds, steady images/s of ``model.run``."""
    stamps = []
    _sync()
    start = time.perf_counter()
    out, errors = model.run(
        paths, workers=workers, progress=lambda k: stamps.append((time.perf_counter(), k))
    )
    _sync()
    total = time.perf_counter() - start
    first_t, first_k = stamps[0]
    return (
        out,
        errors,
        {
            "images_per_s": round(len(paths) / total, 1),
            "first_batch_s": round(first_t - start, 2),
            "steady_images_per_s": round((len(paths) - first_k) / max(stamps[-1][0] - first_t, 1e-9), 1),
        },
    )


def _top1_top5(logits, class_wnids, truth):
    from laionet_assets.core.models.classifiers import top_k_wnids

    top = top_k_wnids(logits, class_wnids)
    return [
        round(float(np.mean([t[0] == y for t, y in zip(top, truth)])), 3),
        round(float(np.mean([y in t for t, y in zip(top, truth)])), 3),
    ]


def main() -> dict:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=4096, help="distinct synthetic JPEGs")
    parser.add_argument("--repeat", type=int, default=4, help="passes over them per measured run")
    parser.add_argument("--real", default=str(SHARED), help="a folder laid out as ../shared")
    parser.add_argument("--device", default="cuda", help="cpu: a smoke test of this script")
    parser.add_argument("--only-throughput", action="store_true", help="the images/s rows alone")
    parser.add_argument(
        "--decoders", default="pil,tensor,tensor+cpu,nvimgcodec", help="nvimgcodec: where it is installed"
    )
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA device"}))
        return {}
    from benchmarks.common import synthetic_jpegs
    from benchmarks.real_models import float_mobilenet_v2_torchscript
    from laionet_assets.core.images.decoders import STAGED_DECODERS, decode_workers, iter_image_batches
    from laionet_assets.core.images.nvimagecodec import available as nvimgcodec_available
    from laionet_assets.core.models.classifiers import make_classifier
    from laionet_assets.core.models.clip import ClipImageEncoder
    from laionet_assets.core.models.specs import parse_model_spec

    torch.backends.cuda.matmul.allow_tf32 = False
    decoders = [d for d in args.decoders.split(",") if d != "nvimgcodec" or nvimgcodec_available()]
    staged_decoders = [d for d in decoders if d in STAGED_DECODERS]  # in the order given
    workers = decode_workers(-1, "cuda") if DEVICE.startswith("cuda") else 2
    results: dict = {
        "device": torch.cuda.get_device_name() if DEVICE.startswith("cuda") else "cpu",
        "cpu_cores": os.cpu_count(),
        "decode_workers": workers,
        "torch": torch.__version__,
    }
    if "nvimgcodec" in args.decoders.split(",") and "nvimgcodec" not in decoders:
        results["nvimgcodec"] = "skipped: nvImageCodec is not installed"
    real = Path(args.real)
    real_paths = sorted(str(p) for p in (real / "data" / "imagenet_sample").glob("*.JPEG"))
    truth = [Path(p).name.split("_")[0] for p in real_paths]
    with tempfile.TemporaryDirectory() as folder:
        distinct = synthetic_jpegs(folder, args.images)
        paths = distinct * args.repeat
        throughput, outputs = {}, {}
        for decoder in decoders:
            for precision in ("fp32", "bf16"):
                model = ClipImageEncoder("ViT-B-32", None, DEVICE, 256).configure(precision, decoder)
                model.run(distinct[:512], workers=workers)  # warm-up: kernels, allocator, fork server
                label = f"{decoder}_{precision}"
                outputs[label], _, throughput[label] = _timed_run(model, paths, workers)
                print(label, throughput[label], flush=True)
        results["clip_vit_b32_embedding_through_ImageModel_run"] = throughput
        for decoder in staged_decoders:
            if "pil" in decoders:
                results[f"{decoder}_over_pil_bf16_steady"] = round(
                    throughput[f"{decoder}_bf16"]["steady_images_per_s"]
                    / max(throughput["pil_bf16"]["steady_images_per_s"], 1e-9),
                    2,
                )

        if args.only_throughput:
            real_paths = []
        if real_paths:  # real JPEGs (≈ 110 KB, 500 px), repeated: LAION-like entropy, unlike noise
            many = real_paths * max(1, len(paths) // len(real_paths))
            real_throughput = {}
            for decoder in decoders:
                model = ClipImageEncoder("ViT-B-32", None, DEVICE, 256).configure("bf16", decoder)
                model.run(many[:512], workers=workers)
                _, _, real_throughput[f"{decoder}_bf16"] = _timed_run(model, many, workers)
                print("real", decoder, real_throughput[f"{decoder}_bf16"], flush=True)
            results["clip_vit_b32_embedding_real_imagenet_jpegs_repeated"] = real_throughput
            model = ClipImageEncoder("ViT-B-32", None, DEVICE, 50)
            preprocessing = model.preprocessing
            pil = torch.cat(
                [
                    t.cpu()
                    for t, _, _ in iter_image_batches(
                        real_paths, model.transform, (3, 224, 224), 50, DEVICE, 0
                    )
                ]
            )
            embeddings = {"pil": model.configure("fp32", "pil").run(real_paths, workers=4)[0]}
            for decoder in staged_decoders:
                batches = STAGED_DECODERS[decoder](real_paths, preprocessing, 50, DEVICE, 4)
                gpu = torch.cat([t.cpu() for t, _, _ in batches])
                levels = ((pil - gpu) * torch.tensor(preprocessing.std).view(1, 3, 1, 1) * 255).abs()
                results[f"real_images_{decoder}_vs_pil_grey_levels"] = {
                    "max": round(float(levels.max()), 2),
                    "mean": round(float(levels.mean()), 4),
                    "share_over_2": round(float((levels > 2.01).float().mean()), 5),
                }
                a = embeddings["pil"]
                b, _ = model.configure("fp32", decoder).run(real_paths, workers=4)
                cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
                results[f"real_images_clip_embedding_cosine_{decoder}_vs_pil"] = {
                    "min": round(float(cosine.min()), 5),
                    "mean": round(float(cosine.mean()), 5),
                }
            weights = float_mobilenet_v2_torchscript(real / "models" / "mobilenet_v2_quantized.pt", folder)
            spec = parse_model_spec(f"torchscript:{weights}:{real / 'models' / 'mobilenet_v2_words.txt'}")
            from timm.data import ImageNetInfo  # the wnids in class order, without polars

            wnids = ImageNetInfo().label_names()
            accuracy = {}
            for device in dict.fromkeys((DEVICE, "cpu")):
                for decoder in decoders:
                    for precision in ("fp32", "bf16"):
                        classifier = make_classifier(spec, wnids, [], device, 50, precision, decoder)
                        logits, errors = classifier.run(real_paths, workers=4)
                        accuracy[f"{device}_{decoder}_{precision}"] = _top1_top5(
                            logits, classifier.class_wnids, truth
                        )
            results["real_float_mobilenet_v2_top1_top5_on_100_imagenet_images"] = accuracy

        if args.only_throughput:
            print(json.dumps(results, indent=1))
            return results
        for decoder in staged_decoders:
            models = four_models(DEVICE, 256, "bf16", decoder)
            grouped = passes_compared(models, distinct, workers, _sync)
            results[f"four_models_one_preprocessing_model_images_per_s_{decoder}_bf16"] = grouped
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
