"""text_sims' caption vectors read from a release's shipped .npy vs encoded with the same model.

    python -m benchmarks.bench_shipped [--rows 1000000] [--captions 256]

Reading: the rows' float16 vectors from a memory-mapped ``text_emb`` .npy of ``--rows`` × 512
(``shipped.read_rows``: every row, in a shuffled order), normalised, and their cosine with a
synset vector each, as ``text_sims`` does.  Encoding: CLIP ViT-B/32 (random weights; no hub
here) on this machine's CPU, length-bucketed, on real LAION captions.  Same run, same machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import seed_captions
from laionet_assets.core.models.clip import Clip
from laionet_assets.core.releases.shipped import read_rows
from laionet_assets.core.text.similarity import rowwise_cosine
from laionet_assets.core.vectors import unit_rows


def write_vectors(path: Path, rows: int, dim: int = 512, chunk: int = 262_144) -> None:
    array = np.lib.format.open_memmap(path, "w+", np.float16, (rows, dim))
    rng = np.random.default_rng(0)
    for start in range(0, rows, chunk):
        block = rng.standard_normal((min(chunk, rows - start), dim), dtype=np.float32)
        array[start : start + block.shape[0]] = block / np.linalg.norm(block, axis=1, keepdims=True)
    array.flush()
    del array


def gpu_ratio(shipped_rows_per_s: float) -> dict:
    """Reading against encoding on a GPU: the CLIP ViT-B/32 text tower's captions/s recorded in
    benchmarks/results_gpu.json, with the card it ran on."""
    gpu = json.loads((Path(__file__).with_name("results_gpu.json")).read_text())
    rate = gpu["clip_vit_b32_text_captions_per_s"]
    return {
        "gpu_encode_captions_per_s": rate,
        "gpu_encode_device": gpu["device"],
        "ratio_vs_gpu_encoding": round(shipped_rows_per_s / rate, 1),
    }


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--captions", type=int, default=256)
    args = parser.parse_args()
    results = {"rows": args.rows, "torch_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        npy = Path(tmp) / "text_emb_0.npy"
        write_vectors(npy, args.rows)
        results["npy_mib"] = round(npy.stat().st_size / 2**20)
        rows = np.random.default_rng(1).permutation(args.rows)
        synsets = unit_rows(np.random.default_rng(2).standard_normal((1000, 512)).astype(np.float32))
        classes = np.random.default_rng(3).integers(0, 1000, args.rows)
        start = time.perf_counter()
        vectors = unit_rows(read_rows({"path": str(npy)}, rows))
        sims = rowwise_cosine(vectors, synsets[classes])
        seconds = time.perf_counter() - start
        assert sims.shape == (args.rows,)
        results["shipped_rows_per_s"] = round(args.rows / seconds)
        results["shipped_seconds"] = round(seconds, 2)
    texts = (seed_captions() * 10)[: args.captions]
    clip = Clip("ViT-B-32", pretrained=None, device="cpu", batch_size=64)
    clip.encode(texts[:8])
    start = time.perf_counter()
    clip.encode(texts)
    results["encode_captions_per_s"] = round(len(texts) / (time.perf_counter() - start), 1)
    results["encode_device"] = "cpu"  # the baseline of "ratio": encoding on this machine's CPU
    results["ratio"] = round(results["shipped_rows_per_s"] / results["encode_captions_per_s"])
    results |= gpu_ratio(results["shipped_rows_per_s"])
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
