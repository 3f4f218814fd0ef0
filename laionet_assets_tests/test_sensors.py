"""The release sensor (cursor, rewritten and unreadable parts) and the refresh schedule."""

import io
import json
import os

import dagster as dg
import polars as pl
import pytest

from laionet_assets.core.releases import ReleaseRegistry
from laionet_assets.resources import LaionetStorage
from laionet_assets.sensors import laion_release_sensor, laionet_refresh_schedule


def write_part(path, texts):
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"TEXT": texts, "NSFW": ["UNLIKELY"] * len(texts)}).write_parquet(path)


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
    return sorted(r.partition_key for r in result.run_requests)


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
    assert isinstance(again, dg.SkipReason) or not again.run_requests

    path = root / "laion400m" / "part-00000.parquet"
    write_part(path, ["a lion", "a sea lion"])
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))
    rewritten = evaluate(instance, storage, first.cursor)
    assert keys_of(rewritten) == ["laion400m-part-00000"]
    assert rewritten.dynamic_partitions_requests == []  # the partition exists already
    run_keys = {r.run_key for r in first.run_requests} | {r.run_key for r in rewritten.run_requests}
    assert len(run_keys) == 3  # a rewritten part gets a new run key


def test_unreadable_part_is_skipped_until_rewritten(env):
    root, instance, storage = env
    write_part(root / "rel" / "good.parquet", ["a lion"])
    (root / "rel" / "broken.parquet").write_bytes(b"PAR1 half-written")
    pl.DataFrame({"caption": ["x"]}).write_parquet(root / "rel" / "no_text.parquet")
    result = evaluate(instance, storage)
    assert keys_of(result) == ["rel-good"]
    assert set(json.loads(result.cursor)) == {"rel-good", "rel-broken", "rel-no_text"}
    assert isinstance(evaluate(instance, storage, result.cursor), dg.SkipReason)
    write_part(root / "rel" / "broken.parquet", ["a tiger"])
    os.utime(root / "rel" / "broken.parquet", (0, 2_000_000_000))
    assert keys_of(evaluate(instance, storage, result.cursor)) == ["rel-broken"]


def test_missing_root_and_files_outside_a_release_folder(env, tmp_path, monkeypatch):
    root, instance, storage = env
    write_part(root / "stray.parquet", ["a lion"])  # not inside a release folder
    write_part(root / "rel" / ".part-00000.parquet", ["a lion"])  # hidden: being written
    assert isinstance(evaluate(instance, storage), dg.SkipReason)
    monkeypatch.setenv("LAIONET_RELEASES_ROOT", str(tmp_path / "nowhere"))
    skip = evaluate(instance, storage)
    assert isinstance(skip, dg.SkipReason) and "does not exist" in skip.skip_message


def test_fsspec_releases_root(env, monkeypatch):
    import fsspec

    _, instance, storage = env
    buffer = io.BytesIO()
    pl.DataFrame({"TEXT": ["a lion"]}).write_parquet(buffer)
    with fsspec.open("memory://bucket/releases/laion5b/part-7.parquet", "wb") as fh:
        fh.write(buffer.getvalue())
    monkeypatch.setenv("LAIONET_RELEASES_ROOT", "memory://bucket/releases")
    result = evaluate(instance, storage)
    assert keys_of(result) == ["laion5b-part-7"]
    assert (
        ReleaseRegistry(storage.root).part_path("laion5b-part-7")
        == "memory://bucket/releases/laion5b/part-7.parquet"
    )


def test_refresh_schedule_runs_only_after_new_parts():
    with dg.instance_for_test() as instance:
        check_refresh_schedule(instance)


def check_refresh_schedule(instance):
    def tick():
        return laionet_refresh_schedule(dg.build_schedule_context(instance=instance))

    assert isinstance(tick(), dg.SkipReason)
    instance.add_dynamic_partitions("laion_parts", ["rel-p0"])
    instance.report_runless_asset_event(dg.AssetMaterialization("text_sims", partition="rel-p0"))
    assert isinstance(tick(), dg.RunRequest)
    instance.report_runless_asset_event(dg.AssetMaterialization("laionet_clean"))
    assert isinstance(tick(), dg.SkipReason)
