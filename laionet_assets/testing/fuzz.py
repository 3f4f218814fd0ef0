"""Fuzzing the image check with mutated real images, under an address-space limit.

``python -m laionet_assets.testing.fuzz --images DIR --cases N`` re-encodes real images small in
every format ``core.images.validation`` opens, then checks ``N`` seeded mutations of them (bits
flipped, bytes overwritten, cut short, spliced, header fields set large).  Before the first case it
limits its own address space to what it uses once warmed up plus the decoding budget
(``max_pixels`` × the most bytes per pixel decoding takes), so a case that tries to allocate more
fails with ``MemoryError`` instead of taking the machine.  It prints one JSON line: the cases, the
statuses they got, the exceptions that escaped ``check_image`` and the cases that ran out of
memory (both must be empty).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from laionet_assets.core.images.validation import IMAGE_FORMATS, PEAK_BYTES_PER_PIXEL, check_image

SLACK = 64 * 2**20  # allocator and interpreter headroom above the measured baseline


def seeds(folder: Path, images: int, side: int = 96) -> list[bytes]:
    """``images`` real images, shrunk to ``side`` pixels and encoded in each image format."""
    out = []
    for path in sorted(folder.glob("*.JPEG"))[:images]:
        with Image.open(path) as image:
            small = image.convert("RGB")
            small.thumbnail((side, side))
        for fmt in IMAGE_FORMATS:
            buffer = io.BytesIO()
            (small.convert("P") if fmt == "GIF" else small).save(buffer, fmt)
            out.append(buffer.getvalue())
    return out


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One seeded mutation of ``data``."""
    buf = bytearray(data)
    kind = rng.integers(5)
    if kind == 0:  # flip bits
        for position in rng.integers(0, len(buf), rng.integers(1, 24)):
            buf[position] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # overwrite a run with random bytes
        start = int(rng.integers(len(buf)))
        run = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        buf[start : start + len(run)] = run
    elif kind == 2:  # cut short
        del buf[int(rng.integers(1, len(buf))) :]
    elif kind == 3:  # splice a copy of one part into another place
        start, end = sorted(rng.integers(0, len(buf), 2))
        at = int(rng.integers(len(buf)))
        buf[at:at] = buf[start:end]
    else:  # large values in the header, where sizes and counts live
        for position in rng.integers(0, min(64, len(buf)), rng.integers(1, 6)):
            buf[position] = int(rng.choice([0x00, 0x7F, 0x80, 0xFF]))
    return bytes(buf)


def address_space() -> int:
    """This process's virtual memory size in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def run(folder: Path, cases: int, seed: int, max_pixels: int, images: int) -> dict:
    warnings.simplefilter("ignore")  # PIL warns about most mutated files
    corpus = seeds(folder, images)
    for data in corpus:  # warm up every decoder before the baseline
        check_image(data, max_pixels=max_pixels)
    baseline = address_space()
    limit = baseline + max_pixels * PEAK_BYTES_PER_PIXEL + SLACK
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rng = np.random.default_rng(seed)
    statuses, escaped, out_of_memory = Counter(), [], []
    started = time.perf_counter()
    for case in range(cases):
        data = mutate(corpus[case % len(corpus)], rng)
        try:
            checked = check_image(data, max_pixels=max_pixels)
        except BaseException as e:  # noqa: BLE001 - what the fuzzer is looking for
            escaped.append(f"case {case}: {type(e).__name__}: {e}"[:300])
            continue
        statuses[checked.status] += 1
        if checked.error == "out of memory while decoding":
            out_of_memory.append(case)
    return {
        "cases": cases,
        "seed": seed,
        "max_pixels": max_pixels,
        "baseline_mib": round(baseline / 2**20, 1),
        "limit_mib": round(limit / 2**20, 1),
        "seconds": round(time.perf_counter() - started, 2),
        "statuses": dict(statuses),
        "escaped": escaped,
        "out_of_memory": out_of_memory,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="a folder of real *.JPEG images")
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-pixels", type=int, default=4_000_000)
    parser.add_argument("--seed-images", type=int, default=8, help="real images the mutations start from")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.images, args.cases, args.seed, args.max_pixels, args.seed_images)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
