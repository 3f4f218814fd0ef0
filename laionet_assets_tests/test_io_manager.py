"""Where a partition key becomes a file: a key that would leave its folder is refused before
anything is written (anyone who reaches the UI can add a dynamic partition).  What a step gets:
loaded frames, or lazy scans where its input is annotated ``pl.LazyFrame``."""

import dagster as dg
import polars as pl
import pytest

from laionet_assets.core.io.names import UnsafeName, check_key
from laionet_assets.defs.partitions import laion_parts
from laionet_assets.io_manager import parquet_io_manager
from laionet_assets.resources import LaionetStorage


@dg.asset(partitions_def=laion_parts)
def laionet_final(context: dg.AssetExecutionContext) -> pl.DataFrame:
    return pl.DataFrame({"sample_id": [context.partition_key]})


@pytest.mark.parametrize("key", ["../laionet_images/rel-part-00000", "../../../escape", "a/b", "..", "Rel"])
def test_a_key_that_is_no_safe_name_writes_nothing(tmp_path, key):
    home = tmp_path / "home"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(laion_parts.name, [key, "rel-part-00000"])
    resources = {"storage": LaionetStorage(home=str(home)), "io_manager": parquet_io_manager}
    assert dg.materialize(
        [laionet_final], partition_key="rel-part-00000", instance=instance, resources=resources
    ).success
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = dg.materialize(
        [laionet_final], partition_key=key, instance=instance, resources=resources, raise_on_error=False
    )
    assert not result.success
    errors = [e.step_failure_data.error.to_string() for e in result.all_events if e.is_step_failure]
    assert any("is not a safe name" in m for m in errors), errors
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_safe_keys_are_the_partition_rule():
    assert check_key("laion400m-part-00000") == "laion400m-part-00000"
    for key in ("", "a.b", "a b", "ü", None):
        with pytest.raises(UnsafeName):
            check_key(key)


def test_an_input_annotated_lazy_gets_scans_of_every_materialised_partition(tmp_path):
    """A step that gathers every part gets ``{key: LazyFrame}`` (nothing read until it asks);
    one annotated ``pl.DataFrame`` gets the loaded frames; a missing partition is skipped."""
    seen = {}

    @dg.asset(ins={"laionet_final": dg.AssetIn()})
    def gathered_lazily(laionet_final: dict[str, pl.LazyFrame]) -> None:
        seen["lazy"] = laionet_final

    @dg.asset(ins={"laionet_final": dg.AssetIn()})
    def gathered_eagerly(laionet_final: dict) -> None:
        seen["eager"] = laionet_final

    instance = dg.DagsterInstance.ephemeral()
    keys = ["rel-part-00000", "rel-part-00001", "rel-part-00002"]
    instance.add_dynamic_partitions(laion_parts.name, keys)
    resources = {"storage": LaionetStorage(home=str(tmp_path / "home")), "io_manager": parquet_io_manager}
    for key in keys[:2]:
        assert dg.materialize(
            [laionet_final], partition_key=key, instance=instance, resources=resources
        ).success
    both = [laionet_final, gathered_lazily, gathered_eagerly]
    selection = ["gathered_lazily", "gathered_eagerly"]
    assert dg.materialize(both, selection=selection, instance=instance, resources=resources).success
    assert sorted(seen["lazy"]) == sorted(seen["eager"]) == keys[:2]
    for key in keys[:2]:
        assert isinstance(seen["lazy"][key], pl.LazyFrame) and isinstance(seen["eager"][key], pl.DataFrame)
        assert seen["lazy"][key].collect().equals(seen["eager"][key])
        assert seen["eager"][key]["sample_id"].to_list() == [key]


def test_a_part_reads_its_own_releases_laionet_and_a_release_its_own_parts(tmp_path):
    """Across the two partitions definitions the registry decides: a per-part step (one part, or
    a range of them) gets the LAIONet of its parts' release; a release-level step gets exactly its
    release's parts."""
    from laionet_assets.defs.partitions import (
        RELEASE_LEVEL,
        laion_releases,
        of_part_release,
        of_release_parts,
    )
    from laionet_assets.testing.fixtures import register_parts

    seen = {}

    @dg.asset(**RELEASE_LEVEL)
    def laionet_clean(context: dg.AssetExecutionContext) -> pl.DataFrame:
        return pl.DataFrame({"release": [context.partition_key]})

    @dg.asset(partitions_def=laion_parts, ins={"laionet_clean": of_part_release()})
    def laionet_images(context: dg.AssetExecutionContext, laionet_clean: pl.DataFrame) -> None:
        seen.setdefault("parts", []).append((context.partition_keys, laionet_clean["release"].to_list()))

    @dg.asset(**RELEASE_LEVEL, ins={"laionet_final": of_release_parts()})
    def accuracy(context: dg.AssetExecutionContext, laionet_final: dict[str, pl.LazyFrame]) -> None:
        seen[context.partition_key] = sorted(laionet_final)

    home = tmp_path / "home"
    register_parts(home, "a", ["a-p0", "a-p1"])
    register_parts(home, "b", ["b-p0"])
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(laion_parts.name, ["a-p0", "a-p1", "b-p0"])
    instance.add_dynamic_partitions(laion_releases.name, ["a", "b"])
    resources = {"storage": LaionetStorage(home=str(home)), "io_manager": parquet_io_manager}
    assets = [laionet_clean, laionet_images, laionet_final, accuracy]

    def run(selection, key=None, tags=None):
        assert dg.materialize(
            assets, selection=selection, partition_key=key, tags=tags, instance=instance, resources=resources
        ).success

    for release in ("a", "b"):
        run(["laionet_clean"], release)
    for part in ("a-p0", "a-p1", "b-p0"):
        run(["laionet_final"], part)
    run(["laionet_images"], "b-p0")
    range_tags = {"dagster/asset_partition_range_start": "a-p0", "dagster/asset_partition_range_end": "a-p1"}
    run(["laionet_images"], tags=range_tags)
    assert seen["parts"] == [(["b-p0"], ["b"]), (["a-p0", "a-p1"], ["a"])]
    for release in ("a", "b"):
        run(["accuracy"], release)
    assert seen["a"] == ["a-p0", "a-p1"] and seen["b"] == ["b-p0"]
