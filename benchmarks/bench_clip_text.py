"""CLIP ViT-B/32 text tower on CPU: length-bucketed batches vs padding to 77, same captions.

    python -m benchmarks.bench_clip_text [--captions 512]
Weights are random (no hub here); speed and exactness do not depend on them.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from benchmarks.common import seed_captions
from laionet_assets.core.models.clip import Clip


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--captions", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    texts = (seed_captions() * 10)[: args.captions]
    bucketed = Clip("ViT-B-32", pretrained=None, device="cpu", batch_size=args.batch_size)
    padded = Clip(
        "ViT-B-32", pretrained=None, device="cpu", batch_size=args.batch_size, length_bucketing=False
    )
    padded.model.load_state_dict(bucketed.model.state_dict())
    results = {
        "captions": len(texts),
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
    }
    outputs = {}
    for name, encoder in (("padded_to_77", padded), ("length_bucketed", bucketed)):
        encoder.encode(texts[:8])  # warm-up
        start = time.perf_counter()
        outputs[name] = encoder.encode(texts)
        seconds = time.perf_counter() - start
        results[f"{name}_captions_per_s"] = round(len(texts) / seconds, 1)
    results["max_abs_difference"] = float(np.abs(outputs["padded_to_77"] - outputs["length_bucketed"]).max())
    results["speedup"] = round(
        results["length_bucketed_captions_per_s"] / results["padded_to_77_captions_per_s"], 2
    )
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
