"""The release sensor (cursor, rewritten and unreadable parts) and the refresh schedule."""

import io
import json
import os

import dagster as dg
import polars as pl
import pytest

from laionet_assets.core.releases import samples as release_samples
from laionet_assets.core.releases.layouts import RELEASE_LAYOUTS
from laionet_assets.core.releases.read import read_part
from laionet_assets.core.releases.registry import ReleaseRegistry
from laionet_assets.core.releases.scan import scan_release
from laionet_assets.defs.creation.sensors import laion_release_sensor, laionet_refresh_schedule
from laionet_assets.resources import LaionetStorage
from laionet_assets.testing import fixtures
from laionet_assets.testing.fixtures import SAMPLE_RELEASE


def write_part(path, texts):
    fixtures.write_part(path, TEXT=texts)


@pytest.fixture
def env(tmp_path, monkeypatch):
    root = tmp_path / "releases"
    root.mkdir()
    monkeypatch.setenv("LAIONET_RELEASES_ROOT", str(root))
    instance = dg.DagsterInstance.ephemeral()
    storage = LaionetStorage(home=str(tmp_path / "home"))
    return root, instance, storage


def evaluate(instance, storage, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"storage": storage})
    result = laion_release_sensor(context)
    # Apply partition requests as the daemon would, so later evaluations see them.
    for request in getattr(result, "dynamic_partitions_requests", None) or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def keys_of(result):
    return sorted(r.partition_key for r in (getattr(result, "run_requests", None) or []))


def test_new_part_same_part_rewritten_part(env):
    root, instance, storage = env
    write_part(root / "laion400m" / "part-00000.parquet", ["a lion"])
    write_part(root / "laion400m" / "part-00001.parquet", ["a tiger"])
    first = evaluate(instance, storage)
    assert keys_of(first) == ["laion400m-part-00000", "laion400m-part-00001"]
    assert sorted(first.dynamic_partitions_requests[0].partition_keys) == keys_of(first)
    assert (
        ReleaseRegistry(storage.root)
        .part_path("laion400m-part-00001")
        .endswith("laion400m/part-00001.parquet")
    )

    again = evaluate(instance, storage, first.cursor)
    assert keys_of(again) == [] and "no new or rewritten parts" in again.skip_reason.skip_message

    path = root / "laion400m" / "part-00000.parquet"
    write_part(path, ["a lion", "a sea lion"])
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))
    rewritten = evaluate(instance, storage, first.cursor)
    assert keys_of(rewritten) == ["laion400m-part-00000"]
    assert rewritten.dynamic_partitions_requests == []  # the partition exists already
    run_keys = {r.run_key for r in first.run_requests} | {r.run_key for r in rewritten.run_requests}
    assert len(run_keys) == 3  # a rewritten part gets a new run key


def test_unreadable_part_and_unknown_release_are_skipped_until_rewritten(env, caplog):
    root, instance, storage = env
    write_part(root / "rel" / "good.parquet", ["a lion"])
    (root / "rel" / "broken.parquet").write_bytes(b"PAR1 half-written")
    (root / "other").mkdir()
    pl.DataFrame({"caption": ["x"]}).write_parquet(root / "other" / "no_text.parquet")
    result = evaluate(instance, storage)
    assert keys_of(result) == ["rel-good"]
    problems = json.loads(result.cursor)["problems"]
    assert set(problems) == {str(root / "rel" / "broken.parquet"), str(root / "other")}
    assert "match no known release layout" in problems[str(root / "other")]
    again = evaluate(instance, storage, result.cursor)
    assert keys_of(again) == []
    write_part(root / "rel" / "broken.parquet", ["a tiger"])
    os.utime(root / "rel" / "broken.parquet", (0, 2_000_000_000))
    assert keys_of(evaluate(instance, storage, result.cursor)) == ["rel-broken"]


def test_every_layout_and_an_embeddings_shard_once_all_its_files_are_there(env):
    root, instance, storage = env
    rows = release_samples.canonical_rows(
        pl.concat([read_part(p.to_json())[0] for p in scan_release(str(SAMPLE_RELEASE)).parts])
    )
    for layout in RELEASE_LAYOUTS:
        release_samples.write_release(layout, root / layout, rows)
    npy = root / "laion400m-emb" / "img_emb" / "img_emb_1.npy"
    held = npy.read_bytes()
    npy.unlink()
    first = evaluate(instance, storage)
    requested = {r.partition_key: r.tags["laionet/layout"] for r in first.run_requests}
    assert set(requested.values()) == set(RELEASE_LAYOUTS)
    assert (
        requested["laion400m-emb-emb-0000"] == "laion400m-emb" and "laion400m-emb-emb-0001" not in requested
    )
    assert requested["relaion5b-part-00001"] == "relaion5b" and requested["cc12m-cc12m"] == "cc12m"
    npy.write_bytes(held)  # the shard's last file lands: one new partition, requested once
    second = evaluate(instance, storage, first.cursor)
    assert keys_of(second) == ["laion400m-emb-emb-0001"]
    assert keys_of(evaluate(instance, storage, second.cursor)) == []
    assert ReleaseRegistry(storage.root).part("laion400m-emb-emb-0001")["embeddings"][1]["kind"] == "image"


def test_missing_root_and_files_outside_a_release_folder(env, tmp_path, monkeypatch):
    root, instance, storage = env
    write_part(root / "stray.parquet", ["a lion"])  # not inside a release folder
    write_part(root / "rel" / ".part-00000.parquet", ["a lion"])  # hidden: being written
    assert keys_of(evaluate(instance, storage)) == []
    monkeypatch.setenv("LAIONET_RELEASES_ROOT", str(tmp_path / "nowhere"))
    skip = evaluate(instance, storage)
    assert isinstance(skip, dg.SkipReason) and "does not exist" in skip.skip_message


def test_fsspec_releases_root(env, monkeypatch):
    import fsspec

    _, instance, storage = env
    buffer = io.BytesIO()
    pl.DataFrame({"SAMPLE_ID": [1], "URL": ["u"], "TEXT": ["a lion"], "punsafe": [0.1]}).write_parquet(buffer)
    with fsspec.open("memory://bucket/releases/laion5b/part-7.parquet", "wb") as fh:
        fh.write(buffer.getvalue())
    monkeypatch.setenv("LAIONET_RELEASES_ROOT", "memory://bucket/releases")
    result = evaluate(instance, storage)
    assert keys_of(result) == ["laion5b-part-00007"]
    entry = ReleaseRegistry(storage.root).part("laion5b-part-00007")
    assert entry["path"] == "memory://bucket/releases/laion5b/part-7.parquet" and entry["layout"] == "laion5b"


def test_the_refresh_schedule_builds_each_release_once_its_parts_are_newer(env):
    """One run per release whose parts' text_sims are newer than its LAIONet, that release as
    the run's partition: a second release never rebuilds the first's LAIONet."""
    root, _, storage = env
    with dg.instance_for_test() as instance:
        check_refresh_schedule(root, instance, storage)


def check_refresh_schedule(root, instance, storage):
    write_part(root / "laion400m" / "part-00000.parquet", ["a lion"])
    write_part(root / "relaion5b" / "part-00000.parquet", ["a tiger"])
    evaluate(instance, storage)

    def tick():
        # entered and left, as the daemon does: the context sets and resets the instance's state
        with dg.build_schedule_context(instance=instance, resources={"storage": storage}) as context:
            result = laionet_refresh_schedule(context)
        return result if isinstance(result, dg.SkipReason) else sorted(r.partition_key for r in result)

    assert "no text_sims partition yet" in tick().skip_message
    for key in ("laion400m-part-00000", "relaion5b-part-00000"):
        instance.report_runless_asset_event(dg.AssetMaterialization("text_sims", partition=key))
    assert tick() == ["laion400m", "relaion5b"]
    instance.report_runless_asset_event(dg.AssetMaterialization("laionet_clean", partition="laion400m"))
    assert tick() == ["relaion5b"]
    instance.report_runless_asset_event(dg.AssetMaterialization("laionet_clean", partition="relaion5b"))
    assert isinstance(tick(), dg.SkipReason)
    # a new part of one release: that release's LAIONet again, not the other's
    instance.report_runless_asset_event(
        dg.AssetMaterialization("text_sims", partition="relaion5b-part-00000")
    )
    assert tick() == ["relaion5b"]


def test_a_new_folder_is_a_new_release_and_a_new_part_grows_its_release(env, capfd):
    root, instance, storage = env
    write_part(root / "laion400m" / "part-00000.parquet", ["a lion"])
    first = evaluate(instance, storage)
    assert instance.get_dynamic_partitions("laion_releases") == ["laion400m"]
    assert "new release laion400m: 1 part(s)" in capfd.readouterr().err
    write_part(root / "laion400m" / "part-00001.parquet", ["a tiger"])
    write_part(root / "relaion5b" / "part-00000.parquet", ["a cat"])
    second = evaluate(instance, storage, first.cursor)
    assert keys_of(second) == ["laion400m-part-00001", "relaion5b-part-00000"]
    assert sorted(instance.get_dynamic_partitions("laion_releases")) == ["laion400m", "relaion5b"]
    assert "release laion400m grows: 1 new or rewritten part(s)" in capfd.readouterr().err
    assert storage.registry.releases() == {
        "laion400m": ["laion400m-part-00000", "laion400m-part-00001"],
        "relaion5b": ["relaion5b-part-00000"],
    }
    # a release folder that disappears keeps its registry and outputs, and is said once
    import shutil

    shutil.rmtree(root / "relaion5b")
    third = evaluate(instance, storage, second.cursor)
    fourth = evaluate(instance, storage, third.cursor)
    assert capfd.readouterr().err.count("release relaion5b: its folder is gone") == 1
    assert "relaion5b" in storage.registry.releases() and keys_of(fourth) == []


AMBIGUOUS = {  # columns that satisfy both the DataComp and the COYO-700M layouts
    "uid": ["a1"],
    "id": [1],
    "url": ["https://example.org/1.jpg"],
    "text": ["a lion"],
    "nsfw_score_gantman": [0.1],
    "nsfw_score_opennsfw2": [0.1],
}


def test_one_folder_that_fails_never_stops_the_others(env):
    """A file matching two layouts, a non-ASCII folder name, and two folders whose parts would
    share keys (LAION400M beside laion400m): each is reported once, every other part runs."""
    root, instance, storage = env
    (root / "both").mkdir()
    pl.DataFrame(AMBIGUOUS).write_parquet(root / "both" / "part-00000.parquet")
    write_part(root / "Überblick" / "part-00000.parquet", ["a lion"])
    write_part(root / "laion400m" / "part-00000.parquet", ["a lion"])
    write_part(root / "LAION400M" / "part-00000.parquet", ["a tiger"])
    write_part(root / "zebra" / "part-00000.parquet", ["a zebra"])
    first = evaluate(instance, storage)
    assert keys_of(first) == ["berblick-part-00000", "laion400m-part-00000", "zebra-part-00000"]
    problems = json.loads(first.cursor)["problems"]
    assert "datacomp and coyo700m" in problems[str(root / "both")]
    assert "--layout datacomp" in problems[str(root / "both")]
    # the folder listed first holds the key; the other's part is reported, never registered
    registered = ReleaseRegistry(storage.root).part_path("laion400m-part-00000")
    other = str(root / "laion400m" / "part-00000.parquet")
    assert registered == str(root / "LAION400M" / "part-00000.parquet")
    assert "another --name" in problems[other] and registered in problems[other]
    again = evaluate(instance, storage, first.cursor)
    assert keys_of(again) == [] and json.loads(again.cursor)["problems"] == problems
