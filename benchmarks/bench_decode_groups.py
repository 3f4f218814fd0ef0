"""Decode once: four classifiers sharing one preprocessing (resize 256 bicubic, crop
224, ImageNet mean/std) run as one decode group (``core.models.runner.run_models``: each batch decoded
once, every model run on it) against one pass per model (each decoding for itself), on the same
images in the same run, for the ``pil`` and the ``tensor`` decoder, on the CPU.  Images: the real
ImageNet JPEGs of ../shared when present (repeated), else random-pixel 500×375 JPEGs.  Random
weights (speed does not depend on them); ``model_images_per_s`` counts model × image pairs.

    python -m benchmarks.bench_decode_groups [--images 192] [--workers 2] [--scales 1,2,3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from benchmarks.common import synthetic_jpegs
from benchmarks.real_models import SHARED

MODELS = ["mobilenetv3_small_050", "mobilenetv3_small_075", "mobilenetv3_small_100", "lcnet_050"]


def four_models(device: str, batch_size: int, precision: str, decoder: str) -> list:
    """``MODELS`` as random-weight classifiers, one decode group."""
    from laionet_assets.core.models.classifiers import make_classifier
    from laionet_assets.core.models.runner import decode_groups
    from laionet_assets.core.models.specs import parse_model_spec

    wnids = [f"n{i:08d}" for i in range(1000)]
    models = [
        make_classifier(
            parse_model_spec(f"timm:{m}:random"), wnids, [], device, batch_size, precision, decoder
        )
        for m in MODELS
    ]
    assert decode_groups(models) == [list(range(len(MODELS)))]
    return models


def passes_compared(models: list, paths: list[str], workers: int, sync=lambda: None) -> dict:
    """Model-images/s of one decode pass per model against one pass for all (after a warm-up)."""
    from laionet_assets.core.models.runner import run_models

    run_models(models, paths[:32], workers)  # warm-up
    rates = {}
    for label, groups in (("one_pass_per_model", [[m] for m in models]), ("one_pass_for_all", [models])):
        sync()
        start = time.perf_counter()
        for group in groups:
            run_models(group, paths, workers)
        sync()
        rates[label] = round(len(paths) * len(models) / (time.perf_counter() - start), 1)
    rates["speedup"] = round(rates["one_pass_for_all"] / rates["one_pass_per_model"], 2)
    return rates


def parts_alone(models: list, paths: list[str], workers: int) -> dict:
    """What decoding once should gain here: with decode time d per image (the decoder alone) and
    forward time f_k per image for model k (alone, on the decoded batches), one pass per model
    costs Σ_k (d + f_k) per image and one pass for all d + Σ_k f_k."""
    import torch

    from laionet_assets.core.models.runner import decoded_batches

    start = time.perf_counter()
    batches = [tensor for tensor, _, _ in decoded_batches(models, paths, workers)]
    decode = (time.perf_counter() - start) / len(paths)
    forward = []
    with torch.inference_mode():
        for model in models:
            model.forward(batches[0])
            start = time.perf_counter()
            for batch in batches:
                model.forward(batch)
            forward.append((time.perf_counter() - start) / len(paths))
    return {
        "decode_ms_per_image": round(1e3 * decode, 2),
        "forward_ms_per_image": [round(1e3 * f, 2) for f in forward],
        "expected_speedup": round(sum(decode + f for f in forward) / (decode + sum(forward)), 2),
    }


def worker_share(model, paths: list[str]) -> dict:
    """CPU time per image in a pil decode worker (one process, one thread): the model's whole
    transform (what workers ran before) against its PIL steps alone (uint8 pixels, what they send
    now), and the batch's tensor conversion and Normalize that moved to the main process (or the
    GPU).  Beside a GPU the workers' share bounds the images/s."""
    import torch

    from laionet_assets.core.images.decoders import ImageFiles, worker_files
    from laionet_assets.core.images.preprocess import to_model_input

    pixels, normalize = worker_files(paths, model.transform, model.input_shape)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        timings = {}
        for label, files in (
            ("whole_transform", ImageFiles(paths, model.transform, model.input_shape)),
            ("pixels_only", pixels),
        ):
            start = time.perf_counter()
            items = [files[i][0] for i in range(len(paths))]
            timings[f"worker_ms_per_image_{label}"] = round(
                1e3 * (time.perf_counter() - start) / len(paths), 2
            )
        start = time.perf_counter()
        for i in range(0, len(items), model.batch_size):
            pixels = torch.stack(items[i : i + model.batch_size]).permute(0, 3, 1, 2)
            to_model_input(pixels, normalize, model.memory_format)
        timings["batch_conversion_ms_per_image"] = round(1e3 * (time.perf_counter() - start) / len(paths), 2)
    finally:
        torch.set_num_threads(threads)
    return timings


def enlarged(paths: list[str], folder: str, scale: float) -> list[str]:
    """Each JPEG of ``paths`` resized by ``scale`` per side (Lanczos; saved at quality 90), in
    ``folder``: photographs of other sizes, for how the gain grows with the decode's share."""
    from pathlib import Path

    from PIL import Image

    out = []
    for path in paths:
        with Image.open(path) as image:
            size = (round(image.width * scale), round(image.height * scale))
            target = str(Path(folder) / Path(path).name)
            image.convert("RGB").resize(size, Image.Resampling.LANCZOS).save(target, quality=90)
        out.append(target)
    return out


def main() -> dict:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scales", default="1,2,3", help="the real images resized by each, per side")
    args = parser.parse_args()
    results: dict = {"device": "cpu", "torch_threads": torch.get_num_threads(), "models": MODELS}
    with tempfile.TemporaryDirectory() as folder:
        real = sorted(str(p) for p in (SHARED / "data" / "imagenet_sample").glob("*.JPEG"))
        if not real:
            results["images"] = "random-pixel 500x375 JPEGs (../shared is absent)"
            images = {"1": synthetic_jpegs(folder, args.images)}
        else:
            results["images"] = "real ImageNet JPEGs (median 500x375), repeated; xN: resized N× per side"
            images = {}
            for scale in args.scales.split(","):
                distinct = (
                    real if float(scale) == 1 else enlarged(real, tempfile.mkdtemp(dir=folder), float(scale))
                )
                images[scale] = (distinct * args.images)[: args.images]
        results["n_images"] = args.images
        for scale, paths in images.items():
            label = "" if scale == "1" else f"x{scale}_"
            for decoder in ("pil", "tensor"):
                models = four_models("cpu", 32, "fp32", decoder)
                results[f"{label}{decoder}_model_images_per_s"] = passes_compared(models, paths, args.workers)
                results[f"{label}{decoder}_parts_alone"] = parts_alone(models, paths, args.workers)
            results[f"{label}pil_worker_share"] = worker_share(models[0], paths)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
