"""imagenet_captions → caption_synset_similarity with materialize() on a crafted file."""

import json

import dagster as dg
import numpy as np
import polars as pl
import pytest

from laionet_assets.core.io.atomic import write_parquet_atomic
from laionet_assets.definitions import all_assets
from laionet_assets.profiles import resources_for, with_defaults
from laionet_assets.resources import ImageFolders
from laionet_assets.testing.fixtures import select


def test_caption_assets(tmp_path, synsets):
    rows = synsets.head(4)
    entries = [
        {"filename": f"{w}.JPEG", "wnid": w, "title": t, "tags": ["a", "b"], "description": "c"}
        for w, t in zip(rows["wnid"], rows["name"])
    ]
    entries += [entries[0], {"filename": "x.JPEG", "wnid": "n00000000", "title": "x"}]
    (tmp_path / "captions.json").write_text(json.dumps(entries))
    home = tmp_path / "home"
    write_parquet_atomic(synsets, home / "assets" / "imagenet_synsets.parquet")
    resources = resources_for("tiny", str(home))
    resources["image_folders"] = with_defaults(
        ImageFolders, imagenet_captions=str(tmp_path / "captions.json")
    )
    result = dg.materialize(
        all_assets,
        selection=select("imagenet_captions", "caption_synset_similarity"),
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    meta = result.asset_materializations_for_node("imagenet_captions")[0].metadata
    assert (
        meta["rows"].value,
        meta["dropped_duplicate_filename"].value,
        meta["dropped_unknown_wnid"].value,
    ) == (4, 1, 1)
    out = pl.read_parquet(home / "assets" / "caption_synset_similarity.parquet")
    encoder = resources["text_encoder"].load()
    texts = encoder.encode([f"{t} a b c" for t in rows["name"]])
    synset_vectors = encoder.encode(synsets["synset_text"].to_list())
    for i in range(4):
        sims = synset_vectors @ texts[i]
        own = sims[i]  # the first four synsets: class index i
        assert out["intended_similarity"][i] == pytest.approx(own, abs=1e-5)
        assert out["unintended_more_similar"][i] == int((np.delete(sims, i) > own).sum())
    assert (home / "reports" / "fig9_text_vs_synsets.png").read_bytes()[:4] == b"\x89PNG"
    bins = pl.read_parquet(home / "assets" / "caption_synset_bins.parquet")
    assert bins["n"].sum() == 4  # every text falls in one bin of Fig. 9(b)


def test_nearest_laion_captions_against_brute_force(tmp_path, synsets):
    from laionet_assets.testing.fixtures import SAMPLE_RELEASE, Release

    release = Release(tmp_path / "home", SAMPLE_RELEASE, synsets, profile="offline")
    for key in release.keys:
        assert release.materialize(["lemma_matches", "text_sims", "laion_caption_index"], key).success
    lemma = pl.concat([release.output("lemma_matches", k) for k in release.keys])
    indexed = pl.concat([release.output("laion_caption_index", k) for k in release.keys])
    texts = indexed.join(lemma.select("sample_id", "text"), on="sample_id")["text"].to_list()
    queries = ["goldfish in a round glass bowl on a table", "a tree frog on a branch", "IMG_0042 holiday"]
    entries = [
        {"filename": f"f{i}.JPEG", "wnid": w, "title": q, "tags": [], "description": ""}
        for i, (q, w) in enumerate(zip(queries, synsets["wnid"][:3]))
    ]
    (tmp_path / "captions.json").write_text(json.dumps(entries))
    release.resources["image_folders"] = with_defaults(
        ImageFolders, imagenet_captions=str(tmp_path / "captions.json")
    )
    result = release.materialize(
        ["imagenet_captions", "captions_nearest_laion"],
        run_config={"ops": {"captions_nearest_laion": {"config": {"threshold": 0.5}}}},
    )
    assert result.success
    encoder = release.resources["text_encoder"].load()
    sims = encoder.encode(queries) @ encoder.encode(texts).T
    expected = [(indexed["sample_id"][int(row.argmax())], float(row.max())) for row in sims]
    kept = [(s, v) for s, v in expected if v > 0.5]
    everything = release.output("captions_nearest_laion")
    assert everything.height == len(
        {s for s, _ in expected}
    )  # every LAION row that is some text's nearest, once
    out = everything.filter("selected")
    assert 0 < len(kept) < len(queries)  # the threshold keeps some and drops some
    assert out.select("sample_id").to_series().to_list() == [s for s, _ in kept]
    np.testing.assert_allclose(out["similarity"].to_numpy(), [v for _, v in kept], atol=1e-4)
    assert out["text"].null_count() == 0
    meta = result.asset_materializations_for_node("captions_nearest_laion")[0].metadata
    assert meta["search"].value == "exact" and meta["indexed_captions"].value == indexed.height
    # the FAISS shards persisted per part by laion_caption_index give the same answers; one lost
    # (a run that died) is rebuilt from the table before searching
    folder = next((release.home / "faiss").iterdir())
    assert sorted(p.name for p in folder.glob("*.part.json")) == sorted(
        f"{k}.part.json" for k in release.keys
    )
    (folder / f"{release.keys[0]}.part.json").unlink()
    faiss = {"threshold": 0.5, "engine": "faiss", "refine": 64}  # re-rank every stored caption
    result = release.materialize(
        ["imagenet_captions", "captions_nearest_laion"],
        run_config={"ops": {"captions_nearest_laion": {"config": faiss}}},
    )
    assert result.success and (folder / f"{release.keys[0]}.part.json").exists()
    meta = result.asset_materializations_for_node("captions_nearest_laion")[0].metadata
    assert meta["search"].value == "faiss" and meta["recall_at_1_vs_exact"].value == 1.0
    again = release.output("captions_nearest_laion")
    assert again["sample_id"].to_list() == everything["sample_id"].to_list()
    np.testing.assert_allclose(again["similarity"], everything["similarity"], atol=2e-3)  # float16 vectors


def test_appendix_assets_run_empty_without_imagenet_captions(tmp_path, synsets):
    """A deployment without ImageNet-Captions (or without images yet) runs the §4.3 and Appendix D
    assets to empty tables and figures instead of failing the refresh job."""
    from laionet_assets.defs.similarity.embeddings import EMBEDDED_SCHEMA

    home = tmp_path / "home"
    write_parquet_atomic(synsets, home / "assets" / "imagenet_synsets.parquet")
    # no LAION part has images yet; the reference datasets have none either
    write_parquet_atomic(
        pl.DataFrame(schema=EMBEDDED_SCHEMA), home / "assets" / "reference_image_embeddings.parquet"
    )
    write_parquet_atomic(
        pl.DataFrame(schema={"wnid": pl.String, "encoder": pl.String, "embedding": pl.List(pl.Float32)}),
        home / "assets" / "image_encoder_synset_embeddings.parquet",
    )
    empty_matches = pl.DataFrame(
        schema={
            "sample_id": pl.String,
            "wnid": pl.String,
            "similarity": pl.Float32,
            "imagenet_filename": pl.String,
            "selected": pl.Boolean,
            "url": pl.String,
            "text": pl.String,
            "threshold": pl.Float64,
        }
    )
    write_parquet_atomic(empty_matches, home / "assets" / "captions_nearest_laion.parquet")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("laion_releases", ["rel"])  # a release with no part yet
    resources = resources_for("tiny", str(home))
    home_wide = select("text_matched_images", "text_matched_intra_class")
    of_release = select("image_synset_similarity")
    for selection, release in ((home_wide, None), (of_release, "rel")):
        result = dg.materialize(
            all_assets, selection=selection, partition_key=release, resources=resources, instance=instance
        )
        assert result.success
    for asset in ("text_matched_images", "text_matched_intra_class"):
        assert pl.read_parquet(home / "assets" / f"{asset}.parquet").is_empty(), asset
    for asset in ("image_synset_similarity", "image_synset_similarity_images"):
        assert pl.read_parquet(home / "assets" / asset / "rel.parquet").is_empty(), asset
    sweep = pl.read_parquet(home / "assets" / "text_matched_sweep.parquet")
    assert sweep["classes_covered"].to_list() == [0] * sweep.height and sweep.height == 9
    for fig in (
        "fig10_text_matched_intra_class.png",
        "fig18_threshold_sweep.png",
        "rel/fig17_image_to_synset.png",
    ):
        assert (home / "reports" / fig).read_bytes()[:4] == b"\x89PNG"
