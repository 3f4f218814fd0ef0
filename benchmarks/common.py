"""Shared benchmark inputs (captions from ../shared's real LAION sample, or the bundled sample) and
the measurement of a child process's peak memory."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_CAPTIONS = REPO.parent / "shared" / "data" / "laion_sample" / "captions_1k.parquet"
SAMPLE = REPO / "data" / "sample" / "laion_sample"


def seed_captions() -> list[str]:
    import polars as pl

    if SHARED_CAPTIONS.exists():
        texts = pl.read_parquet(SHARED_CAPTIONS)["TEXT"].drop_nulls().to_list()
    else:
        texts = pl.read_parquet(SAMPLE / "*.parquet")["TEXT"].drop_nulls().to_list()
    return [t for t in texts if t.strip()]


def synthetic_captions(n: int, seed: int = 0) -> list[str]:
    """``n`` LAION-like captions: real captions, each with words shuffled in from another one."""
    rng = random.Random(seed)
    base = seed_captions()
    words = [w for t in base for w in t.split()]
    out = []
    for _ in range(n):
        caption = rng.choice(base).split()
        caption.insert(rng.randrange(len(caption) + 1), rng.choice(words))
        out.append(" ".join(caption))
    return out


def synthetic_jpegs(folder, n: int, seed: int = 0) -> list[str]:
    """``n`` JPEGs of 500×375 random pixels (quality 85) in ``folder``; their paths."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = Path(folder) / f"{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (375, 500, 3), dtype=np.uint8)).save(path, quality=85)
        paths.append(str(path))
    return paths


def run_child(code: str, *args: str) -> dict:
    """``code`` run in a fresh Python process (its peak memory its own) with ``args``: the JSON
    object its last line prints, or ``{"error": …}`` with its last error line."""
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1][:200]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares intercept and slope (GiB, GiB per million candidates)."""
    x, y = np.array(points).T
    slope, intercept = np.polyfit(x, y, 1) if len(x) > 1 else (0.0, float(y[0]))
    return round(float(intercept), 3), round(float(slope), 4)
