"""Reading parts and registering releases: captions dropped by reason, keys, the registry, fsspec."""

import io

import fsspec
import polars as pl
import pytest

from laionet_assets.core.releases.layouts import BadPartError
from laionet_assets.core.releases.read import read_part
from laionet_assets.core.releases.registry import ReleaseRegistry
from laionet_assets.core.releases.scan import partition_key, scan_release
from laionet_assets.testing.fixtures import write_part


def test_reads_the_laion_columns_into_the_canonical_schema(tmp_path):
    p = write_part(
        tmp_path / "part-00000.parquet", SAMPLE_ID=[7, 8], TEXT=["a dog", "a cat"], NSFW=["UNLIKELY", "NSFW"]
    )
    frame, counts = read_part(str(p))
    assert frame["sample_id"].to_list() == ["7", "8"] and frame["part_row"].to_list() == [0, 1]
    assert frame["nsfw_tag"].to_list() == ["UNLIKELY", "NSFW"] and frame["unsafe_score"].null_count() == 2
    assert counts["part_rows"] == 2


def test_null_empty_and_huge_captions_are_dropped_and_counted(tmp_path):
    huge = "lion " * 210_000  # ~1 MB
    p = write_part(tmp_path / "p.parquet", TEXT=["ok", None, "", "   ", huge, "ライオン"])
    frame, counts = read_part(str(p), max_caption_bytes=65_536)
    assert frame["text"].to_list() == ["ok", "ライオン"] and frame["part_row"].to_list() == [0, 5]
    assert counts["dropped_null_or_empty_caption"] == 3
    assert counts["dropped_caption_too_long"] == 1 and counts["first_caption_too_long_rows"] == [4]
    assert counts["non_ascii_captions"] == 1


def test_unreadable_parquet_is_named(tmp_path):
    p = tmp_path / "broken.parquet"
    p.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(
        BadPartError, match=r"broken\.parquet: no readable parts \(.*broken\.parquet: not a readable"
    ):
        read_part(str(p))


def test_partition_keys_are_slugs():
    assert partition_key("LAION-400M", "part-00000") == "laion-400m-part-00000"
    assert partition_key("my release!", "Part 1.snappy") == "my_release-part_1_snappy"
    with pytest.raises(ValueError):
        partition_key("!!!", "p")


def test_registry_registers_every_part_with_its_layout(tmp_path):
    release = tmp_path / "laion400m"
    for i in range(3):
        write_part(
            release / f"part-{i:05d}-5b54c5d5-bbcf-484d-a2ce-0d6f73df1a36-c000.snappy.parquet", TEXT=["x"]
        )
    registry = ReleaseRegistry(tmp_path / "home")
    keys = [p.key for p in registry.register(str(release)).parts]
    assert keys == ["laion400m-part-00000", "laion400m-part-00001", "laion400m-part-00002"]
    entry = registry.part(keys[1])
    assert entry["path"] == str(next(release.glob("part-00001-*"))) and entry["layout"] == "laion400m"
    assert entry["file"] == "part-00001-5b54c5d5-bbcf-484d-a2ce-0d6f73df1a36-c000.snappy.parquet"
    assert entry["columns"]["width"] == "HEIGHT" and entry["safety"] == "tags"
    assert [p.key for p in registry.register(str(release)).parts] == keys  # idempotent
    with pytest.raises(KeyError, match="not registered"):
        registry.part_path("other-part")


def test_empty_release_folder(tmp_path):
    with pytest.raises(BadPartError, match="no .parquet or .tsv parts"):
        scan_release(str(tmp_path))
    with pytest.raises(BadPartError, match="no such release file or folder"):
        scan_release(str(tmp_path / "absent"))


def test_reads_a_part_from_an_fsspec_url():
    buffer = io.BytesIO()
    pl.DataFrame(
        {"SAMPLE_ID": [1, 2], "URL": ["u", "v"], "TEXT": ["a lion", None], "NSFW": ["UNLIKELY"] * 2}
    ).write_parquet(buffer)
    with fsspec.open("memory://laion/rel/part-00000.parquet", "wb") as fh:
        fh.write(buffer.getvalue())
    [part] = scan_release("memory://laion/rel").parts
    assert part.key == "rel-part-00000" and part.path == "memory://laion/rel/part-00000.parquet"
    frame, counts = read_part(part.to_json())
    assert frame["text"].to_list() == ["a lion"] and counts["dropped_null_or_empty_caption"] == 1
    with pytest.raises(BadPartError, match="memory://laion/rel/missing.parquet: no such release file"):
        scan_release("memory://laion/rel/missing.parquet")


def test_a_release_over_http_reads(tmp_path):
    from laionet_assets.testing.web import ImageServer

    write_part(tmp_path / "web" / "part-00000.parquet", TEXT=["a lion", "a tiger"])
    with ImageServer(folder=tmp_path / "web") as server:
        url = server.url("part-00000.parquet")
        [part] = scan_release(url, "web").parts
        assert part.path == url and part.key == "web-part-00000"
        frame, _ = read_part(part.to_json())
    assert frame["text"].to_list() == ["a lion", "a tiger"]


@pytest.mark.parametrize(
    "flag, url",
    [
        ("--release", "http://reader:hunter2@127.0.0.1:9/laion/part-00000.parquet"),
        ("--release", "s3://AKIAEXAMPLE:hunter2@laion/part-00000.parquet"),
        ("--home", "s3://AKIAEXAMPLE:hunter2@bucket/laionet"),
    ],
)
def test_a_url_with_credentials_is_refused_in_one_line(tmp_path, capsys, monkeypatch, flag, url):
    from laionet_assets.cli import main

    monkeypatch.setenv("LAIONET_INSTANCES", str(tmp_path / "instances"))
    args = {"--release": str(tmp_path / "nothing"), "--home": str(tmp_path / "home"), flag: url}
    code = main(["run", "--profile", "offline", *(x for pair in args.items() for x in pair)])
    captured = capsys.readouterr()
    assert code == 2 and "hunter2" not in captured.out + captured.err
    [line] = captured.err.strip().splitlines()
    assert "***@" in line and "credentials never go in a URL" in line and "~/.netrc" in line
    assert not list((tmp_path / "home").rglob("*.json"))  # nothing registered


def test_tsv_lines_with_a_nul_byte_or_invalid_utf8_are_dropped_and_named(tmp_path):
    tsv = tmp_path / "cc12m" / "cc12m.tsv"
    tsv.parent.mkdir()
    tsv.write_bytes(
        b"http://a/1.jpg\ta lion\n"
        b"http://a/2.jpg\ta ti\x00ger\n"
        b"http://a/3.jpg\ta \xff\xfe zebra\n"
        b"http://a/4.jpg\ta sea lion\n"
    )
    frame, counts = read_part(str(tsv))
    assert frame["text"].to_list() == ["a lion", "a sea lion"]
    assert counts["dropped_unreadable_line"] == 2 and counts["first_unreadable_lines"] == [2, 3]
