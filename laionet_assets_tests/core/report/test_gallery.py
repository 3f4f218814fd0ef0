"""The gallery's strips and the rating study's trials against loops, and thumbnails of bad bytes."""

import collections

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from laionet_assets.core.report.gallery import (
    TRIAL_SCHEMA,
    rating_trials,
    sample_strips,
    thumbnail_name,
    write_gallery,
    write_thumbnail,
)


def crafted(seed: int, dim: int = 5):
    """Images of two datasets over a few classes: some classes in one dataset only, some with
    a single image; unit vectors per dataset."""
    rng = np.random.default_rng(seed)
    rows, vectors = [], {}
    for dataset in ("laionet", "imagenet_val"):
        n = int(rng.integers(0, 40))
        wnids = rng.choice([f"n{c:08d}" for c in range(6)], n).tolist()
        rows += [
            {
                "dataset": dataset,
                "wnid": w,
                "image_id": f"{dataset}-{i}",
                "path": f"/{dataset}/{i}.jpg",
                "row": i,
            }
            for i, w in enumerate(wnids)
        ]
        x = rng.normal(size=(n, dim))
        vectors[dataset] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    schema = {
        "dataset": pl.String,
        "wnid": pl.String,
        "image_id": pl.String,
        "path": pl.String,
        "row": pl.UInt32,
    }
    return pl.DataFrame(rows, schema=schema), vectors


def strips_by_loop(images: pl.DataFrame, per_class: int, seed: int) -> dict:
    """The same seeded sample, written as the obvious loop: one random key per row in sorted
    order, and per class present in both datasets, each dataset's ``per_class`` smallest keys."""
    rows = sorted(images.iter_rows(named=True), key=lambda r: (r["dataset"], r["wnid"], r["image_id"]))
    keys = np.random.default_rng(seed).random(len(rows))
    groups = collections.defaultdict(list)
    for key, r in zip(keys, rows, strict=True):
        groups[(r["wnid"], r["dataset"])].append((key, r["image_id"]))
    both = (
        {w for w, _ in groups}
        & {w for w, d in groups if d == "laionet"}
        & {w for w, d in groups if d != "laionet"}
    )
    return {g: [i for _, i in sorted(v)[:per_class]] for g, v in groups.items() if g[0] in both}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), per_class=st.integers(1, 6))
def test_strips_are_the_seeded_sample_of_classes_both_datasets_have(seed, per_class):
    images, _ = crafted(seed)
    strips = sample_strips(images, per_class, seed)
    ordered = strips.group_by("wnid", "dataset").agg(pl.col("image_id").sort_by("position"))
    got = {(w, d): ids for w, d, ids in ordered.iter_rows()}
    assert got == strips_by_loop(images, per_class, seed)
    # the row order of the input does not matter
    assert sample_strips(images.sample(fraction=1.0, shuffle=True, seed=seed), per_class, seed).equals(strips)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), trials=st.integers(1, 5))
def test_trials_pair_distinct_images_of_one_class_and_balance_sides(seed, trials):
    images, vectors = crafted(seed)
    strips = sample_strips(images, 4, seed)
    table = rating_trials(strips, vectors, trials, seed)
    assert table.schema == pl.Schema(TRIAL_SCHEMA)
    counts = strips.group_by("wnid", "dataset").len()
    eligible = {
        w for w in counts["wnid"] if counts.filter((pl.col("wnid") == w) & (pl.col("len") >= 2)).height == 2
    }
    assert sorted(table["trial"].to_list()) == list(range(table.height))
    assert table.height == trials * len(eligible)
    strip_of = {
        (d, i): (w, r) for d, w, i, r in strips.select("dataset", "wnid", "image_id", "row").iter_rows()
    }
    for t in table.iter_rows(named=True):
        sides = {t[f"{s}_dataset"]: s for s in ("left", "right")}
        assert set(sides) == {"laionet", "imagenet_val"} and t["laionet_side"] == sides["laionet"]
        for side in ("left", "right"):
            dataset, a, b = t[f"{side}_dataset"], t[f"{side}_image_a"], t[f"{side}_image_b"]
            assert a != b and strip_of[(dataset, a)][0] == strip_of[(dataset, b)][0] == t["wnid"]
            expected = float(
                np.dot(
                    vectors[dataset][strip_of[(dataset, a)][1]], vectors[dataset][strip_of[(dataset, b)][1]]
                )
            )
            assert t[f"{side}_similarity"] == pytest.approx(expected, abs=1e-6)
    left = (table["laionet_side"] == "left").sum()
    assert abs(2 * left - table.height) <= 1
    for wnid in eligible:  # within every class too
        per_class = table.filter(pl.col("wnid") == wnid)
        assert abs(2 * (per_class["laionet_side"] == "left").sum() - per_class.height) <= 1
    assert rating_trials(strips, vectors, trials, seed).equals(table)


def test_thumbnails_of_bad_bytes_are_errors_and_good_ones_fit(tmp_path):
    good, bad = tmp_path / "good.png", tmp_path / "bad.jpg"
    Image.new("RGB", (300, 120), (200, 10, 10)).save(good)
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    assert write_thumbnail(str(good), tmp_path / "t" / "good.jpg", 64) == ""
    with Image.open(tmp_path / "t" / "good.jpg") as im:
        assert im.size == (64, 26) and im.format == "JPEG"
    error = write_thumbnail(str(bad), tmp_path / "t" / "bad.jpg", 64)
    assert "UnidentifiedImageError" in error and not (tmp_path / "t" / "bad.jpg").exists()
    assert write_thumbnail(str(tmp_path / "gone.jpg"), tmp_path / "t" / "m.jpg", 64).startswith(
        "FileNotFound"
    )
    names = {
        thumbnail_name(d, p, n)
        for d in ("laionet", "imagenet_val")
        for p in ("a/b", "a/c")
        for n in (64, 128)
    }
    assert len(names) == 8 and all(n.endswith(".jpg") and n.count("/") == 1 for n in names)


def test_gallery_page_shows_each_class_with_its_strips_and_figures(tmp_path):
    strips = pl.DataFrame(
        {
            "wnid": ["n1", "n1", "n1", "n2"],
            "dataset": ["laionet", "laionet", "imagenet_val", "laionet"],
            "position": [1, 0, 0, 0],
            "image_id": ["l2", "l1", "i1", "l<3>"],
            "thumbnail": ["t/l2.jpg", "t/l1.jpg", "t/i1.jpg", "t/l3.jpg"],
        }
    )
    classes = pl.DataFrame(
        {"wnid": ["n2", "n1"], "name": ["cat & dog", "tench"], "difference": [None, -0.1234]}
    )
    page = write_gallery(
        tmp_path / "g.html", "Gallery", classes, strips, {"laionet": "LAIONet", "imagenet_val": "ImageNet"}
    )
    text = page.read_text()
    assert text.index("n2") < text.index("n1'")  # the classes' order
    assert (
        text.index("t/l1.jpg") < text.index("t/l2.jpg") < text.index("t/i1.jpg")
    )  # positions, then datasets
    assert "cat &amp; dog" in text and "l&lt;3&gt;" in text and "difference: -0.123" in text
