"""Choosing and reading shipped embeddings: sources, rows in any order, bad files and rows."""

import numpy as np
import pytest

from laionet_assets.core.releases.shipped import (
    ShippedEmbeddingError,
    choose_source,
    encoder_tag,
    parity,
    read_rows,
    unusable_rows,
)

PART = {
    "path": "/r/metadata_0.parquet",
    "embeddings": [
        {"kind": "text", "model": "ViT-B-32/openai", "dim": 512, "path": "t.npy", "key": None},
        {"kind": "image", "model": "ViT-B-32/openai", "dim": 512, "path": "i.npy", "key": None},
    ],
}


def test_encoder_tags():
    assert encoder_tag("open_clip", "ViT-B-32", "openai") == "ViT-B-32/openai"
    assert encoder_tag("open_clip", "tiny", "") == "tiny/random-seed0"
    assert encoder_tag("open_clip", "ViT-B-32", "/weights/b32.pt") is None  # a file: unknown weights
    assert encoder_tag("sentence_transformers", "all-mpnet-base-v2", "") is None


@pytest.mark.parametrize(
    "source, tag, expected",
    [
        ("encode", "ViT-B-32/openai", None),
        ("auto", "ViT-B-32/openai", "t.npy"),
        ("auto", "ViT-L-14/openai", None),
        ("auto", None, None),
        ("release", "ViT-B-32/openai", "t.npy"),
    ],
)
def test_choose_source(source, tag, expected):
    handle, why = choose_source(source, PART, "text", tag)
    assert (handle["path"] if handle else None) == expected and why.startswith(
        "release" if expected else "encode"
    )


def test_release_never_mixes_models():
    with pytest.raises(
        ShippedEmbeddingError, match="ships text vectors of ViT-B-32/openai and the configured"
    ):
        choose_source("release", PART, "text", "ViT-L-14/openai")
    with pytest.raises(ShippedEmbeddingError, match="ships image vectors of none"):
        choose_source("release", {"path": "p", "embeddings": []}, "image", "ViT-B-32/openai")
    with pytest.raises(ValueError, match="unknown embeddings source"):
        choose_source("shipped", PART, "text", None)


def test_read_rows_in_any_order_equals_indexing(tmp_path):
    array = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float16)
    np.save(tmp_path / "a.npy", array)
    rows = np.array([7, 3, 3, 49, 0])
    out = read_rows({"path": str(tmp_path / "a.npy")}, rows)
    assert out.dtype == np.float32 and np.array_equal(out, array[rows].astype(np.float32))
    np.savez(tmp_path / "b.npz", b32_txt=array)
    assert np.array_equal(read_rows({"path": str(tmp_path / "b.npz"), "key": "b32_txt"}, rows), out)
    with pytest.raises(ShippedEmbeddingError, match=r"a\.npy: has 50 rows, rows 0–50 were asked for"):
        read_rows({"path": str(tmp_path / "a.npy")}, np.array([0, 50]))


def test_truncated_npy_is_named(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((100, 64), np.float16))
    data = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "a.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(ShippedEmbeddingError, match=r"a\.npy: cannot be read"):
        read_rows({"path": str(tmp_path / "a.npy")}, np.array([1]))


def test_unusable_rows_and_parity():
    v = np.eye(4, dtype=np.float32)
    v[1] = np.nan
    v[2] = 0
    assert unusable_rows(v).tolist() == [False, True, True, False]
    good = np.random.default_rng(1).standard_normal((10, 16)).astype(np.float32)
    assert parity(good.astype(np.float16).astype(np.float32), good)["passed"]
    other = np.random.default_rng(2).standard_normal((10, 16)).astype(np.float32)
    assert not parity(other, good)["passed"] and not parity(good[:, :8], good)["passed"]
