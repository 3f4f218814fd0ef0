"""Reading LAION parts: good parts, and every kind of bad input with a clear error."""

import polars as pl
import pytest

from laionet_assets.core.laion import BadPartError, list_parts, local_path, partition_key, read_part
from laionet_assets.core.releases import ReleaseRegistry


def write(path, **columns):
    pl.DataFrame(columns).write_parquet(path)
    return path


def test_reads_laion_columns(tmp_path):
    p = write(
        tmp_path / "p.parquet",
        SAMPLE_ID=[7, 8],
        URL=["u1", "u2"],
        TEXT=["a dog", "a cat"],
        NSFW=["UNLIKELY", "NSFW"],
    )
    frame, counts = read_part(p, "r-p")
    assert frame["sample_id"].to_list() == ["7", "8"]
    assert frame["nsfw"].to_list() == ["UNLIKELY", "NSFW"]
    assert counts["part_rows"] == 2 and counts["has_nsfw_column"]


def test_without_sample_id_or_nsfw(tmp_path):
    p = write(tmp_path / "p.parquet", URL=["u1", "u2", "u3"], TEXT=["a", None, "c"])
    frame, counts = read_part(p, "rel-p0")
    assert frame["sample_id"].to_list() == ["rel-p0:0", "rel-p0:2"]
    assert frame["nsfw"].to_list() == [None, None] and not counts["has_nsfw_column"]


def test_null_empty_and_huge_captions_are_dropped_and_counted(tmp_path):
    huge = "lion " * 210_000  # ~1 MB
    p = write(tmp_path / "p.parquet", TEXT=["ok", None, "", "   ", huge, "ライオン"])
    frame, counts = read_part(p, "k", max_caption_bytes=65_536)
    assert frame["text"].to_list() == ["ok", "ライオン"]
    assert counts["dropped_null_or_empty_caption"] == 3
    assert counts["dropped_caption_too_long"] == 1 and counts["first_too_long_rows"] == [4]
    assert counts["non_ascii_captions"] == 1


def test_missing_text_column_names_file_and_columns(tmp_path):
    p = write(tmp_path / "no_text.parquet", URL=["u"], caption=["x"])
    with pytest.raises(BadPartError, match=r"no_text\.parquet: no TEXT column \(columns: URL, caption\)"):
        read_part(p, "k")


def test_non_string_text_column(tmp_path):
    p = write(tmp_path / "ints.parquet", TEXT=[1, 2])
    with pytest.raises(BadPartError, match=r"ints\.parquet: column TEXT has type Int64"):
        read_part(p, "k")


def test_unreadable_parquet(tmp_path):
    p = tmp_path / "broken.parquet"
    p.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(BadPartError, match=r"broken\.parquet: not a readable Parquet file"):
        read_part(p, "k")


def test_url_instead_of_path():
    with pytest.raises(
        BadPartError, match=r"https://.*a https:// URL where a local file or folder is expected"
    ):
        local_path("https://example.org/laion/part-00000.parquet")
    assert str(local_path("file:///tmp/x")) == "/tmp/x"


def test_partition_keys_are_slugs():
    assert partition_key("LAION-400M", "part-00000") == "laion-400m-part-00000"
    assert partition_key("my release!", "Part 1.snappy") == "my_release-part_1_snappy"
    with pytest.raises(ValueError):
        partition_key("!!!", "p")


def test_registry_registers_every_part(tmp_path):
    release = tmp_path / "laion400m"
    release.mkdir()
    for i in range(3):
        write(release / f"part-{i:05d}.parquet", TEXT=["x"])
    registry = ReleaseRegistry(tmp_path / "home")
    keys = registry.register(str(release))
    assert keys == ["laion400m-part-00000", "laion400m-part-00001", "laion400m-part-00002"]
    assert registry.part_path(keys[1]) == str((release / "part-00001.parquet").resolve())
    assert registry.register(str(release)) == keys  # idempotent
    with pytest.raises(KeyError, match="not registered"):
        registry.part_path("other-part")


def test_empty_release_folder(tmp_path):
    with pytest.raises(BadPartError, match="no .parquet parts"):
        list_parts(tmp_path)


def test_reads_a_part_from_an_fsspec_url():
    import io

    import fsspec

    buffer = io.BytesIO()
    pl.DataFrame({"TEXT": ["a lion", None]}).write_parquet(buffer)
    with fsspec.open("memory://laion/rel/p0.parquet", "wb") as fh:
        fh.write(buffer.getvalue())
    frame, counts = read_part("memory://laion/rel/p0.parquet", "rel-p0")
    assert frame["text"].to_list() == ["a lion"] and counts["dropped_null_or_empty_caption"] == 1
    with pytest.raises(BadPartError, match="memory://laion/rel/missing.parquet: file not found"):
        read_part("memory://laion/rel/missing.parquet", "k")
