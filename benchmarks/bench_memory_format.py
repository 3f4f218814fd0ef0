"""Channels-last (NHWC) against NCHW for timm classifiers' forward passes (``TimmClassifier`` runs
channels-last): images/s of the same random-weight model on the same batch (32) in the same run,
alternating the two layouts for ``--rounds`` rounds of ``--seconds`` each and keeping each one's
best round (the CPU's noise between rounds is larger than the difference for some models), and
the largest logit difference relative to the logits' scale.

    python -m benchmarks.bench_memory_format [--rounds 5] [--seconds 1] [--device cpu] [--precision fp32]
        [--batch 32] [--models a,b]
"""

from __future__ import annotations

import argparse
import json
import time

MODELS = [
    "mobilenetv3_small_050",
    "mobilenetv3_small_100",
    "lcnet_050",
    "efficientnet_b0",
    "resnet18",
    "vit_tiny_patch16_224",
]


def images_per_s(model, batch, seconds: float, sync) -> float:
    """Batches for about ``seconds`` after one warm-up batch."""
    model(batch)
    sync()
    start, done = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < seconds or done < 2:
        model(batch)
        sync()
        done += 1
    return len(batch) * done / elapsed


def compare(
    name: str, device: str, rounds: int, seconds: float, precision: str = "fp32", batch_size: int = 32
) -> dict:
    import timm
    import torch

    from laionet_assets.core.images.decoders import precision_autocast

    sync = torch.cuda.synchronize if device.startswith("cuda") else lambda: None
    torch.manual_seed(0)
    nchw = timm.create_model(name, pretrained=False).eval().to(device)
    nhwc = timm.create_model(name, pretrained=False).eval()
    nhwc.load_state_dict(nchw.state_dict())
    nhwc = nhwc.to(device, memory_format=torch.channels_last)
    batch = torch.randn(batch_size, 3, 224, 224, device=device)
    batch_nhwc = batch.contiguous(memory_format=torch.channels_last)
    best = {"nchw": 0.0, "channels_last": 0.0}
    with torch.inference_mode(), precision_autocast(precision, device):
        for _ in range(rounds):
            best["nchw"] = max(best["nchw"], images_per_s(nchw, batch, seconds, sync))
            best["channels_last"] = max(best["channels_last"], images_per_s(nhwc, batch_nhwc, seconds, sync))
        reference = nchw(batch)
        difference = (reference - nhwc(batch_nhwc)).float().abs().max() / reference.float().abs().max()
    return {
        "nchw_images_per_s": round(best["nchw"], 1),
        "channels_last_images_per_s": round(best["channels_last"], 1),
        "speedup": round(best["channels_last"] / best["nchw"], 2),
        "max_relative_logit_difference": float(f"{difference.item():.2g}"),
    }


def main() -> dict:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="per layout per round")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    results: dict = {
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "batch": args.batch,
        "precision": args.precision,
    }
    for name in args.models.split(","):
        results[name] = compare(name, args.device, args.rounds, args.seconds, args.precision, args.batch)
        print(name, results[name], flush=True)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
