"""Generate the demo's synthetic images (deterministic): what the sample release's URLs serve,
and small ImageNet-val and ImageNetV2-like folders.

Images of class k are its colour plus noise: LAIONet's images are noisier (more diverse) than
ImageNet's, and ImageNetV2 b, a, c sit in between in the order of their MTurk selection
frequency, so the demo's figures have the paper's shape.  They stand in for real photographs,
which cannot be bundled; point the pipeline at real folders for real numbers.

    python scripts/make_sample_images.py
"""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

ROOT = Path(__file__).resolve().parents[1] / "data" / "sample"
SIZE = 40
NOISE = {
    "laionet": 0.55,
    "imagenet_val": 0.2,
    "imagenetv2_b": 0.5,
    "imagenetv2_a": 0.35,
    "imagenetv2_c": 0.25,
}


def colour(wnid: str) -> np.ndarray:
    digest = hashlib.sha256(wnid.encode()).digest()
    return np.frombuffer(digest[:3], dtype=np.uint8).astype(np.float64) / 255


def image(wnid: str, noise: float, seed: int, size: int = SIZE) -> bytes:
    rng = np.random.default_rng(seed)
    base = colour(wnid)
    pattern = np.linspace(0, 1, size)[None, :, None] * colour(wnid[::-1])
    pixels = np.clip(base * 0.6 + pattern * 0.4 + rng.normal(0, noise, (size, size, 3)), 0, 1)
    buffer = io.BytesIO()
    Image.fromarray((pixels * 255).astype(np.uint8)).save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def main() -> None:
    from laionet_assets.core.text.matching import match_captions
    from laionet_assets.core.text.synsets import load_imagenet_synsets

    synsets = load_imagenet_synsets()
    wnids = synsets["wnid"].to_list()
    parts = pl.concat([pl.read_parquet(p) for p in sorted((ROOT / "laion_sample").glob("*.parquet"))])
    matches = match_captions(parts["TEXT"], synsets, "paper")
    label = dict(zip(matches["row"], matches["wnids"].list.first()))
    web = ROOT / "web" / "laion-sample"
    shutil.rmtree(ROOT / "web", ignore_errors=True)
    web.mkdir(parents=True)
    classes: list[str] = []
    for i, url in enumerate(parts["URL"]):
        name = url.rsplit("/", 1)[1]
        wnid = label.get(i, "n00000000")
        if i % 41 == 7:
            continue  # a 404 on the demo's web
        data = b"<!DOCTYPE html><html>moved</html>" if i % 53 == 11 else image(wnid, NOISE["laionet"], i)
        (web / name).write_bytes(data)
        if wnid in wnids and wnid not in classes:
            classes.append(wnid)
    for dataset in ("imagenet_val", "imagenetv2_a", "imagenetv2_b", "imagenetv2_c"):
        folder = ROOT / dataset
        shutil.rmtree(folder, ignore_errors=True)
        chosen = classes if dataset == "imagenet_val" else classes[:24]
        for j, wnid in enumerate(chosen):
            sub = folder / (wnid if dataset == "imagenet_val" else str(wnids.index(wnid)))
            sub.mkdir(parents=True)
            for k in range(3):
                (sub / f"{k}.jpg").write_bytes(
                    image(
                        wnid,
                        NOISE[dataset],
                        10_000 * (j + 1) + k + int(hashlib.sha256(dataset.encode()).hexdigest()[:4], 16),
                    )
                )
    write_imagenet_captions(synsets.filter(pl.col("wnid").is_in(classes)), ROOT / "imagenet_captions.json")
    print(f"{len(list(web.iterdir()))} web images, {len(classes)} classes in the folders under {ROOT}")


def write_imagenet_captions(synsets: pl.DataFrame, path: Path) -> None:
    """An ImageNet-Captions-shaped sample: per class a descriptive text, a terse one, and a
    Flickr-style one that says little (the heavy tail of Fig. 9), plus a duplicate filename and an
    entry of an unknown wnid (both dropped and counted)."""
    import json

    entries = []
    for i, row in enumerate(synsets.iter_rows(named=True)):
        lemma = row["lemmas"][0].replace("_", " ")
        entries += [
            {
                "filename": f"{row['wnid']}_{i}_1.JPEG",
                "wnid": row["wnid"],
                "title": f"A {lemma} photographed outdoors",
                "tags": [lemma, "nature", "photo"],
                "description": row["definition"],
            },
            {
                "filename": f"{row['wnid']}_{i}_2.JPEG",
                "wnid": row["wnid"],
                "title": lemma,
                "tags": [],
                "description": "",
            },
            {
                "filename": f"{row['wnid']}_{i}_3.JPEG",
                "wnid": row["wnid"],
                "title": f"IMG_{1000 + i}",
                "tags": ["vacation", str(2005 + i % 5)],
                "description": "uploaded from my phone",
            },
        ]
    entries.append(dict(entries[0]))  # a duplicate filename
    entries.append(
        {"filename": "unknown.JPEG", "wnid": "n00000000", "title": "mystery", "tags": [], "description": ""}
    )
    path.write_text(json.dumps(entries, indent=0, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
