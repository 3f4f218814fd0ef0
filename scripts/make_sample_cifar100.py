"""Write the demo's second vocabulary sample (deterministic): a small LAION-like release whose
captions name CIFAR-100 classes, the images its URLs serve, and a CIFAR-100-test-like folder.

* ``data/sample/cifar100/laion_sample/part-00000.parquet``: hand-written alt-texts in the style
  of LAION (the sample release's columns), for a dozen CIFAR-100 classes, with multi-label
  captions, captions naming no class, an NSFW-tagged one and empty ones.
* ``data/sample/web/cifar100-sample/<row>.jpg``: what those URLs serve on the demo's local web (a
  404 and an HTML page among them), 32×32 like CIFAR's images.
* ``data/sample/cifar100/test/<class name>/<k>.jpg``: three images per class that LAIONet's sample
  covers, in CIFAR-100's own folder naming (class names, not ids).

The pixels are synthetic, as the ImageNet sample's (``make_sample_images.image``: class colour
plus noise, noisier for LAIONet), so the demo's intra-class comparison has the paper's shape.

    python scripts/make_sample_cifar100.py
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_sample_images import NOISE, ROOT, image  # noqa: E402

CIFAR = ROOT / "cifar100"
WEB = ROOT / "web" / "cifar100-sample"
SIZE = 32
CAPTIONS = [
    "red apple on a wooden board",
    "Fresh green apple with water drops - Stock Photo",
    "apple orchard in autumn, a basket full of apple",
    "Vintage bicycle leaning against a brick wall",
    "kids bicycle with training wheels | Etsy",
    "a bicycle parked by the canal in Amsterdam",
    "monarch butterfly on a purple flower",
    "Blue morpho butterfly wings close up",
    "butterfly garden in the summer",
    "Medieval castle on a hill in Bavaria",
    "sand castle on the beach at low tide",
    "Eilean Donan castle at sunset, Scotland",
    "bottlenose dolphin jumping out of the water",
    "A dolphin swimming next to the boat",
    "wild mushroom growing on a mossy log",
    "Fly agaric mushroom in the forest",
    "rocket launch at Cape Canaveral at night",
    "Toy rocket made of cardboard",
    "Single sunflower in a glass vase",
    "old red tractor in the farmyard",
    "Tractor ploughing at dawn",
    "humpback whale breaching off the coast",
    "A whale tail above the ocean surface",
    "pink tulip bouquet in a jug",
    "tulip fields in the Netherlands in spring",
    "Hand-painted ceramic bowl with blue glaze",
    "a wooden bowl of oranges",  # "oranges" is no lemma: the bowl only
    "butterfly resting on a sunflower",  # two classes: multi-label, dropped
    "field of sunflower under a blue sky",  # plain.n.01's "field" too: multi-label
    "dolphin pod swimming in the bay",
    "blue whale skeleton in the museum hall",
    "tulip bulbs ready for planting",
    "Space rocket on the launch pad",
    "rocket salad with parmesan shavings",  # rocket the plant: matched, as the paper's method would
    "clock tower in the old town square",
    "sunflower seeds in a wooden spoon",
    "Porcini mushroom on a cutting board",
    "John Deere tractor for sale",
    "glass bowl with fresh salad",
    "Wall clock with roman numerals",
    "a vintage alarm clock on the nightstand",
    "Abstract watercolour painting in blue and gold",
    "Wedding invitation card template",
    "Men's leather wallet, brown",
    "Best hiking trails near Denver",
    "Apple MacBook Pro 14-inch laptop",  # the brand, capitalised: paper mode (case-sensitive) skips it
    "",
    None,
]


def build() -> pl.DataFrame:
    rng = random.Random(20260415)
    texts = list(CAPTIONS)
    rng.shuffle(texts)
    n = len(texts)
    nsfw = ["UNLIKELY"] * n
    nsfw[[i for i, t in enumerate(texts) if t and "Toy rocket" in t][0]] = "NSFW"
    return pl.DataFrame(
        {
            "SAMPLE_ID": pl.Series(range(300_000_001, 300_000_001 + n), dtype=pl.Int64),
            "URL": [f"https://images.example.org/cifar100-sample/{i:05d}.jpg" for i in range(n)],
            "TEXT": texts,
            "HEIGHT": [SIZE] * n,
            "WIDTH": [SIZE] * n,
            "LICENSE": ["?"] * n,
            "NSFW": nsfw,
            "similarity": [round(rng.uniform(0.3, 0.45), 6) for _ in range(n)],
        },
        schema_overrides={"TEXT": pl.String},
    )


def main() -> None:
    from laionet_assets.core.text.matching import match_captions
    from laionet_assets.core.text.vocabularies import load_vocabulary

    classes = load_vocabulary("cifar100")
    frame = build()
    release = CIFAR / "laion_sample"
    shutil.rmtree(CIFAR, ignore_errors=True)
    shutil.rmtree(WEB, ignore_errors=True)
    release.mkdir(parents=True)
    WEB.mkdir(parents=True)
    frame.write_parquet(release / "part-00000.parquet", statistics=False)
    matches = match_captions(frame["TEXT"], classes, "paper")
    single = matches.filter(pl.col("wnids").list.len() == 1)
    label = dict(zip(single["row"], single["wnids"].list.first()))
    covered: list[str] = []
    for i, url in enumerate(frame["URL"]):
        wnid = label.get(i, "cifar100:none")
        if i == 5:
            continue  # a 404 on the demo's web
        page = b"<!DOCTYPE html><html>moved</html>"
        data = page if i == 9 else image(wnid, NOISE["laionet"], 7_000 + i, SIZE)
        (WEB / url.rsplit("/", 1)[1]).write_bytes(data)
        if i in label and wnid not in covered:
            covered.append(wnid)
    names = dict(zip(classes["wnid"], classes["class_name"]))
    for j, wnid in enumerate(sorted(covered)):
        folder = CIFAR / "test" / names[wnid]
        folder.mkdir(parents=True)
        for k in range(3):
            (folder / f"{k}.jpg").write_bytes(image(wnid, NOISE["imagenet_val"], 90_000 + 10 * j + k, SIZE))
    served = len(list(WEB.iterdir()))
    print(f"{frame.height} captions, {served} web images, {len(covered)} classes under {CIFAR}")


if __name__ == "__main__":
    main()
