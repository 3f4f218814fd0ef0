import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laionet_assets.core.analysis.captions import (
    binned_proportions,
    load_imagenet_captions,
    synset_rank_stats,
)

WNIDS = ["n01440764", "n01443537", "n01484850"]


def test_loader_joins_title_tags_description_and_counts_drops(tmp_path):
    entries = [
        {
            "filename": "a.JPEG",
            "wnid": WNIDS[0],
            "title": "Tench  caught",
            "tags": ["fish", "lake"],
            "description": "at dawn",
        },
        {"filename": "a.JPEG", "wnid": WNIDS[0], "title": "duplicate", "tags": [], "description": ""},
        {"filename": "b.JPEG", "wnid": WNIDS[1], "title": None, "tags": "goldfish bowl", "description": None},
        {"filename": "c.JPEG", "wnid": "n99999999", "title": "x", "tags": [], "description": ""},
        {"filename": "d.JPEG", "wnid": WNIDS[2], "title": "", "tags": [], "description": " "},
        "not an entry",
    ]
    (tmp_path / "captions.json").write_text(json.dumps(entries))
    frame, counts = load_imagenet_captions(str(tmp_path / "captions.json"), WNIDS)
    assert frame.rows() == [
        ("a.JPEG", WNIDS[0], "Tench caught fish lake at dawn"),
        ("b.JPEG", WNIDS[1], "goldfish bowl"),
    ]
    assert (
        counts["dropped_duplicate_filename"],
        counts["dropped_unknown_wnid"],
        counts["dropped_no_text"],
        counts["dropped_not_an_object"],
    ) == (1, 1, 1, 1)
    # also as a URL through fsspec
    frame2, _ = load_imagenet_captions((tmp_path / "captions.json").as_uri(), WNIDS)
    assert frame2.equals(frame)


def test_loader_bad_files(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not a readable ImageNet-Captions JSON"):
        load_imagenet_captions(str(tmp_path / "bad.json"), WNIDS)
    (tmp_path / "obj.json").write_text("{}")
    with pytest.raises(ValueError, match="expected a JSON list"):
        load_imagenet_captions(str(tmp_path / "obj.json"), WNIDS)


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 60), st.integers(2, 40), st.integers(1, 7), st.integers(0, 10_000))
def test_rank_stats_against_loop(n, k, chunk, seed):
    rng = np.random.default_rng(seed)
    texts, synsets = unit(rng.normal(size=(n, 8))), unit(rng.normal(size=(k, 8)))
    intended = rng.integers(0, k, n)
    own, more = synset_rank_stats(texts, synsets, intended, chunk=chunk)
    for i in range(n):
        sims = [float(texts[i] @ synsets[j]) for j in range(k)]
        assert own[i] == pytest.approx(sims[intended[i]], abs=1e-6)
        assert more[i] == sum(1 for j in range(k) if j != intended[i] and sims[j] > sims[intended[i]])


def test_binned_proportions_against_loop():
    rng = np.random.default_rng(0)
    s, p = rng.uniform(0, 1, 500), rng.uniform(0, 0.2, 500)
    edges = np.linspace(0, 1, 11)
    table = binned_proportions(s, p, edges)
    assert table.height == 10 and table["n"].sum() == 500
    for row in table.iter_rows(named=True):
        inside = p[(s >= row["low_edge"]) & (s < row["high_edge"])]
        assert row["n"] == inside.size
        assert row["mean"] == pytest.approx(inside.mean())
        half = 1.959963984540054 * inside.std(ddof=1) / np.sqrt(inside.size)
        assert row["ci_low"] == pytest.approx(inside.mean() - half) and row["ci_high"] == pytest.approx(
            inside.mean() + half
        )
    empty = binned_proportions(np.array([0.05]), np.array([0.1]), edges)
    assert empty["n"].to_list() == [1] + [0] * 9 and empty["ci_low"][0] is None
