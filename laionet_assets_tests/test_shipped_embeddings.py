"""text_sims from the caption vectors a release ships: equal to encoding (to float16 precision)
while encoding no caption, guarded by the parity check and by the model's name."""

import numpy as np
import polars as pl
import pytest

from laionet_assets.cli.run import root_error_message
from laionet_assets.core.io.atomic import write_parquet_atomic
from laionet_assets.core.releases.read import read_part
from laionet_assets.core.releases.registry import ReleaseRegistry
from laionet_assets.core.releases.samples import canonical_rows, write_release
from laionet_assets.core.releases.scan import scan_release
from laionet_assets.profiles import resources_for
from laionet_assets.testing.fixtures import SAMPLE_RELEASE, Release, select

TINY_TAG = "tiny/random-seed0"  # how a release names the tiny profile's random CLIP


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return canonical_rows(
        pl.concat([read_part(p.to_json())[0] for p in scan_release(str(SAMPLE_RELEASE)).parts])
    )


def model_vectors(encoder, poison: bool = False):
    """A release's vectors from ``encoder`` (texts; images get random ones), optionally with a NaN
    row and a zero row."""

    def vectors(kind, dim, chunk):
        if kind != "text":
            return np.random.default_rng(0).standard_normal((chunk.height, encoder.dim))
        out = encoder.encode(chunk["text"].fill_null("").to_list())
        if poison:
            out[0], out[1] = np.nan, 0.0
        return out

    return vectors


def tiny_encoder(tmp_path, seed=0):
    if seed == 0:
        return resources_for("tiny", str(tmp_path / "scratch"))["text_encoder"].load()
    from laionet_assets.core.models.clip import Clip

    return Clip("tiny", None, "cpu", seed=seed)


def shipped_release(home, folder, synsets, source="release"):
    """The release registered as shipping the tiny CLIP's vectors, text_sims reading them."""
    return Release(home, folder, synsets, profile="tiny", embeddings_model=TINY_TAG, text_embeddings=source)


def failure(result) -> str:
    [event] = [e for e in result.all_events if e.is_step_failure]
    return root_error_message(event.step_failure_data.error)


def text_sims(release, key):
    result = release.materialize(["lemma_matches", "text_sims"], key)
    return result, release.output("text_sims", key) if result.success else None


def meta(result):
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path == ["text_sims"]]
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.mark.parametrize("layout", ["laion400m-emb", "datacomp"])
def test_text_sims_from_the_release_equal_encoding_and_encode_nothing(tmp_path, synsets, rows, layout):
    folder = tmp_path / "release"
    write_release(layout, folder, rows, vectors=model_vectors(tiny_encoder(tmp_path)))
    shipped = shipped_release(tmp_path / "a", folder, synsets)
    encoded = shipped_release(tmp_path / "b", folder, synsets, source="encode")
    for key in shipped.keys:
        result, from_release = text_sims(shipped, key)
        assert result.success, failure(result)
        facts = meta(result)
        assert facts["embedding_encoded"] == 0 and facts["embedding_from_release"] == from_release.height > 0
        assert facts["parity_check"][key]["passed"] and facts["parity_check"][key]["min_cosine"] > 0.999
        assert facts["embedding_source"][key].startswith(f"release: {TINY_TAG}")
        result, by_encoding = text_sims(encoded, key)
        assert result.success and meta(result)["embedding_encoded"] > 0
        assert from_release.select("sample_id", "wnid").equals(by_encoding.select("sample_id", "wnid"))
        np.testing.assert_allclose(from_release["text_similarity"], by_encoding["text_similarity"], atol=2e-3)


def test_auto_uses_shipped_vectors_only_of_the_configured_model(tmp_path, synsets, rows):
    folder = tmp_path / "release"
    write_release("laion400m-emb", folder, rows)  # 512-d vectors, as the layout says: ViT-B-32/openai
    # the configured encoder is the tiny CLIP: auto encodes, release refuses the mix
    auto = Release(tmp_path / "auto", folder, synsets, profile="tiny")
    key = auto.keys[0]
    result, _ = text_sims(auto, key)
    assert result.success and meta(result)["embedding_encoded"] > 0
    assert "not of the configured tiny/random-seed0" in meta(result)["embedding_source"][key]
    forced = Release(tmp_path / "forced", folder, synsets, profile="tiny", text_embeddings="release")
    result, _ = text_sims(forced, key)
    assert not result.success
    assert "ships text vectors of ViT-B-32/openai and the configured encoder is tiny/random-seed0" in failure(
        result
    )


def test_parity_check_fails_on_another_models_vectors(tmp_path, synsets, rows):
    folder = tmp_path / "release"
    write_release("laion400m-emb", folder, rows, vectors=model_vectors(tiny_encoder(tmp_path, seed=1)))
    release = shipped_release(tmp_path / "home", folder, synsets)
    result, _ = text_sims(release, release.keys[0])
    assert not result.success
    assert "text_emb_0.npy: parity check failed" in failure(result)


def test_nan_and_zero_vectors_are_dropped_and_counted(tmp_path, synsets, rows):
    folder = tmp_path / "release"
    matched = rows.filter(pl.col("text").str.contains("lion|tiger|cat|fox|dog"))  # rows 0, 1 match
    write_release(
        "laion400m-emb", folder, matched, parts=1, vectors=model_vectors(tiny_encoder(tmp_path), True)
    )
    release = shipped_release(tmp_path / "home", folder, synsets)
    result, sims = text_sims(release, release.keys[0])
    assert result.success, failure(result)
    lemma = release.output("lemma_matches", release.keys[0])
    single = lemma.filter(pl.col("wnids").list.len() == 1)
    bad = single.filter(pl.col("part_row").is_in([0, 1])).height
    assert meta(result)["embedding_dropped_unusable_vector"] == bad > 0
    assert sims.height == single.height - bad and sims["text_similarity"].is_finite().all()


def test_caption_index_all_finds_a_caption_no_lemma_matches(tmp_path, synsets, rows):
    import json

    from laionet_assets.profiles import with_defaults
    from laionet_assets.resources import ImageFolders

    unmatched = "a bowl of steaming ramen noodles with chopsticks"  # no ImageNet lemma in it
    extra = rows.head(1).with_columns(id=pl.lit(999_999, pl.Int64), text=pl.lit(unmatched))
    folder = tmp_path / "release"
    write_release(
        "laion400m-emb", folder, pl.concat([rows, extra]), vectors=model_vectors(tiny_encoder(tmp_path))
    )
    release = Release(tmp_path / "home", folder, synsets, profile="tiny", embeddings_model=TINY_TAG)
    for key in release.keys:
        result = release.materialize(["lemma_matches", "text_sims", "laion_caption_index"], key)
        assert result.success
        facts = {
            k: v.value
            for k, v in result.asset_materializations_for_node("laion_caption_index")[0].metadata.items()
        }
        assert facts["captions"] == "all" and facts["vector_source"].startswith("release: tiny/random-seed0")
        assert facts["indexed"] == facts["part_captions"] and facts["encoded"] == 0
    lemma = pl.concat([release.output("lemma_matches", k) for k in release.keys])
    assert unmatched not in lemma["text"].to_list()
    entries = [
        {"filename": "f0.JPEG", "wnid": synsets["wnid"][0], "title": unmatched, "tags": [], "description": ""}
    ]
    (tmp_path / "captions.json").write_text(json.dumps(entries))
    release.resources["image_folders"] = with_defaults(
        ImageFolders, imagenet_captions=str(tmp_path / "captions.json")
    )
    assert release.materialize(["imagenet_captions", "captions_nearest_laion"]).success
    nearest = release.output("captions_nearest_laion")
    assert nearest.row(0, named=True)["sample_id"] == "000999999" and nearest["text"][0] == unmatched
    assert nearest["similarity"][0] > 0.99 and nearest["selected"][0]


# ------------------------------------------------------------------------- image vectors (item 3)

IMAGE_SIDE_INPUTS = ["imagenet_val", "imagenetv2_a", "imagenetv2_b", "imagenetv2_c"]


def image_vectors(text_encoder, encoder, files):
    """A release's vectors: texts from ``text_encoder``, images from ``encoder``'s image tower over
    one of ``files`` per row (chosen by the row's id, so a test knows which)."""
    embedded, errors = encoder.run([str(f) for f in files], workers=0)
    assert not any(errors)
    texts = model_vectors(text_encoder)

    def vectors(kind, dim, chunk):
        if kind == "text":
            return texts(kind, dim, chunk)
        return embedded[chunk["id"].to_numpy() % len(files)]

    return vectors


@pytest.fixture(scope="module")
def photos():
    from laionet_assets.testing.fixtures import shared_path

    return sorted(shared_path("data", "imagenet_sample").glob("*.JPEG"))[:6]


def laionet_release(tmp_path, synsets, rows, photos, seed=0, **settings):
    folder = tmp_path / "release"
    encoder = resources_for("tiny", str(tmp_path / "scratch"))["image_encoder"].load()
    if seed:
        from laionet_assets.core.models.clip import ClipImageEncoder

        encoder = ClipImageEncoder("tiny", None, "cpu", seed=seed)
    texts = tiny_encoder(tmp_path)
    write_release("laion400m-emb", folder, rows, vectors=image_vectors(texts, encoder, photos))
    release = Release(
        tmp_path / "home", folder, synsets, profile="tiny", embeddings_model=TINY_TAG, **settings
    )
    for key in release.keys:
        assert release.materialize(["lemma_matches", "text_sims"], key).success
    assert release.laionet().success
    no_text_matches(release)
    return release


def no_text_matches(release):
    """An empty §4.3 download table: the tests here are about LAIONet's images."""
    columns = ("sample_id", "wnid", "status", "image_path", "image_sha256")
    empty = pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    write_parquet_atomic(empty, release.home / "assets" / "text_matched_images.parquet")


def image_side(release):
    """The run that failed or the last one, and image_embeddings' facts per part: ``{key: {part:
    value}}`` for its source, rows, parity check and counts."""
    selection = select(
        *IMAGE_SIDE_INPUTS, "image_embeddings", "reference_image_embeddings", "intra_class_stats"
    )
    results = release.run([a for a in selection if a not in ("laionet_images", "laionet_final")])
    result = results[-1]
    if not result.success:
        return result, None
    facts: dict = {}
    for r in results:
        for event in r.asset_materializations_for_node("image_embeddings"):
            part = r.dagster_run.tags["dagster/partition"]
            for key in ("image_source", "laionet_rows_from", "parity_check", "per_set"):
                value = event.metadata[key].value
                facts.setdefault(key, {})[part] = value.get(part, value) if isinstance(value, dict) else value
    return result, facts


def test_intra_class_similarity_from_shipped_image_vectors_downloads_nothing(tmp_path, synsets, rows, photos):
    release = laionet_release(tmp_path, synsets, rows, photos, image_embeddings="release")
    result, facts = image_side(release)
    assert result.success, failure(result)
    clean = release.output("laionet_clean")
    assert not (release.home / "assets" / "laionet_images").exists()
    assert len(facts["image_source"]) == len(release.keys) == 2
    assert all(s.startswith(f"release: {TINY_TAG}") for s in facts["image_source"].values())
    assert all(s.startswith("laionet_clean") for s in facts["laionet_rows_from"].values())
    assert all("skipped" in check for check in facts["parity_check"].values())
    counts = facts["per_set"].values()
    assert (
        sum(c["embedded"] for c in counts) == 0 and sum(c["from_release"] for c in counts) == clean.height > 0
    )
    # each class's mean against the pair loop over the vectors read straight from the .npy files
    files = {key: part["embeddings"] for key, part in ReleaseRegistry(release.home).load().items()}
    stats = release.output("intra_class_stats").filter(
        (pl.col("dataset") == "laionet") & (pl.col("interval") == "jackknife")
    )
    assert stats.height > 0
    for row in stats.head(5).iter_rows(named=True):
        members = clean.filter(pl.col("wnid") == row["wnid"])
        vectors = []
        for part, part_row in members.select("release_part", "part_row").iter_rows():
            [image] = [e for e in files[part] if e["kind"] == "image"]
            v = np.load(image["path"])[part_row].astype(np.float32)
            vectors.append(v / np.linalg.norm(v))
        pairs = [vectors[i] @ vectors[j] for i in range(len(vectors)) for j in range(i + 1, len(vectors))]
        assert row["n"] == len(vectors) and row["mean"] == pytest.approx(np.mean(pairs), abs=2e-3)
    # encoding instead needs the downloads, and says so
    release.resources["image_encoder"] = resources_for(
        "tiny", str(release.home), {"image_embeddings": "encode"}
    )["image_encoder"]
    result, _ = image_side(release)
    assert not result.success and "no image was downloaded: materialise laionet_final first" in failure(
        result
    )


def downloaded(release, photos):
    """laionet_final as if every LAIONet row's image had downloaded: the photo its row was given."""
    import shutil

    from laionet_assets.core.models.image_embeddings import file_sha256

    clean = release.output("laionet_clean")
    (release.home / "images").mkdir(parents=True, exist_ok=True)
    for k, photo in enumerate(photos):
        shutil.copy(photo, release.home / "images" / f"{k}.jpg")
    index = (clean["sample_id"].cast(pl.Int64) % len(photos)).cast(pl.String)
    final = clean.with_columns(
        image_path=index + ".jpg",
        image_sha256=index.replace_strict({str(k): file_sha256(str(p)) for k, p in enumerate(photos)}),
    )
    for part in release.keys:
        write_parquet_atomic(
            final.filter(pl.col("release_part") == part), release.storage.asset_path("laionet_final", part)
        )
    return final


def test_image_parity_check_passes_on_the_models_vectors_and_fails_on_anothers(
    tmp_path, synsets, rows, photos
):
    release = laionet_release(tmp_path / "same", synsets, rows, photos, image_embeddings="release")
    final = downloaded(release, photos)
    result, facts = image_side(release)
    assert result.success, failure(result)
    assert all(s.startswith("laionet_final") for s in facts["laionet_rows_from"].values())
    for part, check in facts["parity_check"].items():
        part_rows = final.filter(pl.col("release_part") == part).height
        assert check["passed"] and check["median_cosine"] > 0.999 and check["rows"] == min(part_rows, 64)
    other = laionet_release(tmp_path / "other", synsets, rows, photos, seed=1, image_embeddings="auto")
    downloaded(other, photos)
    result, _ = image_side(other)
    assert not result.success and "parity check failed: the shipped image vectors" in failure(result)


def test_auto_encodes_images_when_the_release_ships_another_models(tmp_path, synsets, rows, photos):
    folder = tmp_path / "release"
    write_release("laion400m-emb", folder, rows)  # ViT-B-32/openai vectors, the tiny CLIP configured
    release = Release(tmp_path / "home", folder, synsets, profile="tiny")
    for key in release.keys:
        assert release.materialize(["lemma_matches", "text_sims"], key).success
    assert release.laionet().success
    downloaded_rows = downloaded(release, photos)
    no_text_matches(release)
    result, facts = image_side(release)
    assert result.success, failure(result)
    assert all(
        s.startswith("encode (encode: the part ships image vectors of ViT-B-32")
        for s in facts["image_source"].values()
    )
    counts = facts["per_set"].values()  # the second part finds the shared photos in the cache
    assert sum(c["embedded"] + c["cache_hits"] for c in counts) == len(downloaded_rows)
    assert all(c["embedded"] + c["cache_hits"] == c["images"] > 0 for c in counts)
