"""materialize() of the LAIONet creation graph on tiny releases, with the checks."""

import json
import re
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from laionet_assets.cli.run import root_error_message
from laionet_assets.core.columns import COLUMNS
from laionet_assets.core.releases.layouts import RELEASE_LAYOUTS
from laionet_assets.core.releases.registry import ReleaseRegistry
from laionet_assets.core.text.selection import LAIONET_COLUMNS
from laionet_assets.resources import QualityGates
from laionet_assets.testing.fixtures import DEFS, SAMPLE_RELEASE, Release, write_part


def checks_of(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def metadata(result, asset):
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def part(folder: Path, name: str, **columns) -> Path:
    write_part(folder / f"{name}.parquet", **columns)
    return folder


def test_whole_chain_on_the_bundled_sample(tmp_path):
    release = Release(tmp_path / "home", SAMPLE_RELEASE, min_classes=10)
    synsets_run = release.materialize(["imagenet_synsets"])
    assert synsets_run.success
    facts = metadata(synsets_run, "imagenet_synsets")
    assert (
        facts["paper_unique_lemmas"],
        facts["paper_usable_lemmas"],
        facts["paper_always_multilabel_classes"],
    ) == (1824, 1760, 27)
    parts = release.parts()
    for key, result in parts.items():
        assert result.success, key
    matches = pl.concat([release.output("lemma_matches", k) for k in release.keys])
    assert matches.columns == [
        "sample_id",
        "url",
        "text",
        "nsfw_tag",
        "unsafe_score",
        "language",
        "width",
        "height",
        "part_row",
        "lemmas",
        "wnids",
    ]
    assert set(matches["nsfw_tag"].unique()) == {"UNLIKELY", "UNSURE", "NSFW"}
    assert metadata(parts[release.keys[0]], "lemma_matches")["layout"] == "laion400m"
    sims = pl.concat([release.output("text_sims", k) for k in release.keys])
    assert sims.columns == ["sample_id", "part_row", "wnid", "text_similarity", "encoder", "source"]
    assert sims.height == matches.filter(pl.col("wnids").list.len() == 1).height
    result = release.laionet()
    assert result.success
    assert checks_of(result) == {
        "laionet_class_coverage": True,
        "laionet_nsfw_removed": True,
        "laionet_schema_and_ranges": True,
    }
    clean = release.output("laionet_clean")
    assert clean.columns == [*LAIONET_COLUMNS, "nsfw_missing"]
    assert (clean["nsfw_tag"] == "UNLIKELY").all() and (clean["text_similarity"] > 0.5).all()
    # The brand is not the animal: no shoe or bag survives as cougar (n02125311).
    cougars = clean.filter(pl.col("wnid") == "n02125311")["text"].to_list()
    assert cougars and not any("shoe" in t.lower() or "bag" in t.lower() or "PUMA" in t for t in cougars)
    # sea lion captions are multi-label in paper mode, never in LAIONet as sea lion.
    assert clean.filter(pl.col("wnid") == "n02077923").height == 0
    top = release.output("laionet_top50")
    assert top.group_by("wnid").len()["len"].max() <= 50 and top.height <= clean.height
    meta = metadata(result, "laionet_clean")
    assert meta["rows"] == clean.height and meta["classes"] == clean["wnid"].n_unique()
    for figure in ("fig3_coverage_vs_threshold.png", "fig4_class_frequencies.png"):
        assert (release.home / "reports" / release.release / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the figures' tables are assets of the same multi-asset, with Dagster's standard table metadata
    frequencies = release.output("class_frequencies")
    assert frequencies.filter(pl.col("count") > 0).height == clean["wnid"].n_unique()
    assert frequencies["count"].sum() == clean.height
    curve = release.output("coverage_vs_threshold")
    assert curve.height and metadata(result, "coverage_vs_threshold")["dagster/row_count"] == curve.height
    schema = metadata(result, "laionet_clean")["dagster/column_schema"]
    assert [c.name for c in schema.columns] == clean.columns
    # every column described, from the glossary
    assert all(c.description for c in schema.columns), [c.name for c in schema.columns if not c.description]
    assert {c.name: c.description for c in schema.columns}["text_similarity"] == COLUMNS["text_similarity"]
    # each figure is a picture in the metadata: a thumbnail PNG and, under it, the file
    shown = metadata(result, "laionet_clean")["fig3_coverage"]
    assert shown.startswith("![fig3_coverage_vs_threshold](data:image/png;base64,iVBOR")
    assert shown.endswith(
        f"`{release.home / 'reports' / release.release / 'fig3_coverage_vs_threshold.png'}`"
    )


def test_rematerialising_a_partition_is_idempotent(tmp_path, synsets):
    release = Release(tmp_path / "home", SAMPLE_RELEASE, synsets)
    key = release.keys[0]
    release.parts()
    first = release.output("text_sims", key)
    cache = release.resources["storage"].embedding_cache()
    encoder_id = first["encoder"][0]
    count = cache.count(encoder_id)
    again = release.materialize(["lemma_matches", "text_sims"], key)
    assert again.success
    assert release.output("text_sims", key).equals(first)
    assert cache.count(encoder_id) == count  # nothing embedded or stored twice
    assert metadata(again, "text_sims")["embedding_encoded"] == 0


def test_longest_mode_labels_sea_lion(tmp_path, synsets):
    folder = part(
        tmp_path / "rel",
        "p0",
        SAMPLE_ID=[1, 2],
        TEXT=["sea lion basking on the rocks", "Sea Lion pup"],
        NSFW=["UNLIKELY"] * 2,
    )
    release = Release(tmp_path / "home", folder, synsets)
    key = release.keys[0]
    assert release.materialize(
        ["lemma_matches"], key, {"ops": {"lemma_matches": {"config": {"mode": "longest"}}}}
    ).success
    assert release.output("lemma_matches", key)["wnids"].to_list() == [["n02077923"], ["n02077923"]]
    assert release.materialize(["lemma_matches"], key).success  # default: paper mode
    assert release.output("lemma_matches", key)["wnids"].to_list() == [["n02077923", "n02129165"]]


def test_coverage_check_fails_below_the_minimum(tmp_path, synsets):
    folder = part(
        tmp_path / "rel",
        "p0",
        SAMPLE_ID=[1, 2],
        TEXT=["Male lion with a big mane roaring", "cougar stalking prey in the forest"],
        NSFW=["UNLIKELY"] * 2,
    )
    release = Release(tmp_path / "home", folder, synsets, min_classes=3)
    release.parts()
    result = release.laionet(threshold=-1.0)
    assert not result.success
    assert checks_of(result)["laionet_class_coverage"] is False
    [evaluation] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "laionet_class_coverage"
    ]
    assert (
        evaluation.metadata["covered_classes"].value == 2
        and evaluation.metadata["missing_classes"].value == 998
    )


def test_nsfw_check_fails_when_rows_lack_a_verdict(tmp_path, synsets):
    folder = part(
        tmp_path / "rel",
        "p0",
        TEXT=["Male lion with a big mane roaring", "cougar stalking prey in the forest"],
        NSFW=[None, None],
    )
    release = Release(tmp_path / "home", folder, synsets)
    release.parts()
    paper = release.laionet(threshold=-1.0)  # auto = require_unlikely here: no verdict, no row
    assert checks_of(paper)["laionet_nsfw_removed"] is True and release.output("laionet_clean").height == 0
    assert metadata(paper, "laionet_clean")["dropped_nsfw_policy_no_signal"] == 2
    allowed = release.laionet(threshold=-1.0, nsfw_policy="allow_missing")
    assert checks_of(allowed)["laionet_nsfw_removed"] is False
    assert release.output("laionet_clean")["nsfw_missing"].to_list() == [True, True]


def test_schema_check_fails_on_duplicate_sample_ids(tmp_path, synsets):
    folder = part(
        tmp_path / "rel", "p0", SAMPLE_ID=[7], TEXT=["Male lion with a big mane roaring"], NSFW=["UNLIKELY"]
    )
    part(folder, "p1", SAMPLE_ID=[7], TEXT=["cougar stalking prey in the forest"], NSFW=["UNLIKELY"])
    release = Release(tmp_path / "home", folder, synsets)
    release.parts()
    result = release.laionet(threshold=-1.0)
    assert checks_of(result)["laionet_schema_and_ranges"] is False
    [evaluation] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "laionet_schema_and_ranges"
    ]
    assert evaluation.metadata["failed_expectations"].value == [
        "expect_column_values_to_be_unique(sample_id)"
    ]


def test_a_sample_id_repeated_within_a_part_is_read_once(tmp_path, synsets):
    """Three rows share an id: the first is kept and the others counted, so no join on the id
    can label one row's caption with another's class."""
    folder = part(
        tmp_path / "rel",
        "p0",
        SAMPLE_ID=[7, 7, 7, 8],
        TEXT=["a ripe pineapple on the table", "the old mosque at dusk", "a mosque", "a pineapple"],
        NSFW=["UNLIKELY"] * 4,
    )
    release = Release(tmp_path / "home", folder, synsets)
    [matched] = release.parts().values()
    facts = metadata(matched, "lemma_matches")
    assert facts["dropped_duplicate_sample_id"] == 2 and facts["first_duplicate_sample_ids"] == ["7"]
    release.laionet(threshold=-1.0)
    clean = release.output("laionet_clean")
    names = dict(synsets.select("wnid", "name").iter_rows())
    assert sorted(clean["sample_id"]) == ["7", "8"]
    assert {(r["sample_id"], names[r["wnid"]]) for r in clean.iter_rows(named=True)} == {
        ("7", "pineapple"),
        ("8", "pineapple"),
    }
    assert clean.filter(pl.col("sample_id") == "7")["text"].to_list() == ["a ripe pineapple on the table"]


def test_a_bad_part_does_not_take_the_good_ones_down(tmp_path, synsets):
    folder = part(
        tmp_path / "rel",
        "good",
        SAMPLE_ID=[1, 2, 3, 4],
        TEXT=["Male lion with a big mane roaring", None, "", "lion " * 210_000],
        NSFW=["UNLIKELY"] * 4,
    )
    part(folder, "numbers", TEXT=[5, 6])
    part(folder, "with_npy", TEXT=["a lion"])
    (folder / "corrupt.parquet").write_bytes(b"PAR1 garbage")
    registry = ReleaseRegistry(tmp_path / "home")
    scan = registry.register(str(folder), "rel")
    assert list(scan.unreadable) == [str(folder / "corrupt.parquet")]  # skipped at registration, named
    # a registry entry that claims shipped embeddings whose rows do not match the part's
    npy = folder / "emb.npy"
    np.save(npy, np.zeros((3, 512), np.float16))
    entries = registry.load()
    entries["rel-with_npy"]["embeddings"] = [
        {"kind": "text", "model": "ViT-B-32/openai", "dim": 512, "path": str(npy), "key": None, "size": 1}
    ]
    release = Release(tmp_path / "home", folder, synsets)
    (registry.folder / "rel-with_npy.json").write_text(json.dumps(entries["rel-with_npy"]))
    results = release.parts()
    assert results["rel-good"].success
    for key, expected in (
        ("rel-numbers", r"numbers\.parquet: column 'TEXT' \(the caption\) has type Int64, expected strings"),
        ("rel-with_npy", r"emb\.npy: shape \(3, 512\), expected \(1, 512\)"),
    ):
        assert not results[key].success
        [failure] = [e for e in results[key].all_events if e.is_step_failure]
        assert failure.step_key == "lemma_matches"
        assert re.search(expected, root_error_message(failure.step_failure_data.error))
    meta = metadata(results["rel-good"], "lemma_matches")
    assert (
        meta["part_rows"],
        meta["dropped_null_or_empty_caption"],
        meta["dropped_caption_too_long"],
        meta["matched_rows"],
    ) == (4, 2, 1, 1)
    result = release.laionet(threshold=-1.0)
    assert result.success
    assert release.output("laionet_clean")["release_part"].to_list() == ["rel-good"]


def test_text_sims_over_a_partition_range_equals_one_run_per_part(tmp_path, synsets):
    serial = Release(tmp_path / "serial", SAMPLE_RELEASE, synsets, profile="tiny")
    assert all(r.success for r in serial.parts().values())
    batched = Release(tmp_path / "batched", SAMPLE_RELEASE, synsets, profile="tiny")
    for key in batched.keys:
        assert batched.materialize(["lemma_matches"], key).success
    first, last = batched.keys[0], batched.keys[-1]
    result = dg.materialize(
        DEFS,
        selection=["text_sims"],
        instance=batched.instance,
        resources=batched.resources,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )
    assert result.success
    events = result.get_asset_materialization_events()
    assert sorted(e.partition for e in events) == sorted(batched.keys)  # one run, every part materialised
    assert metadata_of_first(events)["parts_in_run"] == len(batched.keys)
    for key in batched.keys:
        assert batched.output("text_sims", key).equals(serial.output("text_sims", key))


def metadata_of_first(events):
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


RELEASE_SAMPLES = SAMPLE_RELEASE.parent / "releases"


@pytest.fixture(scope="module")
def laion400m_laionet(tmp_path_factory, synsets):
    """LAIONet (texts) from the LAION-400M sample: what every release with NSFW tags must give."""
    release = Release(tmp_path_factory.mktemp("home"), RELEASE_SAMPLES / "laion400m", synsets, profile="tiny")
    release.parts()
    assert release.laionet().success
    return release.output("laionet_clean")


@pytest.mark.parametrize("layout", list(RELEASE_LAYOUTS))
def test_lemma_matches_to_laionet_clean_on_each_release_layout(tmp_path, synsets, layout, laion400m_laionet):
    release = Release(tmp_path / "home", RELEASE_SAMPLES / layout, synsets, profile="tiny")
    parts = release.parts()
    assert all(r.success for r in parts.values())
    meta = metadata(parts[release.keys[0]], "lemma_matches")
    assert meta["layout"] == layout and meta["safety_signal"] == RELEASE_LAYOUTS[layout].safety
    assert meta["file_name"].startswith(("part-", "metadata_", "cc12m", "0000"))
    result = release.laionet()
    clean = release.output("laionet_clean") if result.success else None
    signal = RELEASE_LAYOUTS[layout].safety
    if signal == "none":  # refused until the policy is an explicit choice
        [failure] = [e for e in result.all_events if e.is_step_failure]
        assert "no safety signal" in root_error_message(failure.step_failure_data.error)
        release.resources["quality_gates"] = QualityGates(nsfw_policy_required="none")
        result = release.laionet(nsfw_policy="none")
        clean = release.output("laionet_clean")
        assert metadata(result, "laionet_clean")["nsfw_policy"] == "none"
        assert set(laion400m_laionet["text"]) < set(clean["text"])
    assert result.success and all(checks_of(result).values())
    if signal == "tags":
        assert clean.select("text", "wnid").equals(laion400m_laionet.select("text", "wnid"))
    if signal == "scores":  # the sample's scores follow its tags: UNLIKELY < 0.3, UNSURE 0.3–0.6
        assert set(laion400m_laionet["text"]) <= set(clean["text"])
        assert (clean["unsafe_score"] <= 0.5).all()
