"""The release registry: processes that register parts at once keep every entry (a local home
and an object-store home), keys that two folders would share are reported, and a home written
with the one-file registry is read as it is."""

import json
import multiprocessing

import pytest

from laionet_assets.core.io.names import UnsafeName
from laionet_assets.core.releases.registry import KeyClash, ReleaseRegistry
from laionet_assets.testing import fixtures

PARTS = 200
CONTEXT = multiprocessing.get_context("fork")


def write_release(folder, n):
    for i in range(n):
        fixtures.write_part(folder / f"part-{i:05d}.parquet", TEXT=[f"a lion {i}"])


def register(home, folder, name, start):
    start.wait(60)
    ReleaseRegistry(home).register(str(folder), name)


@pytest.fixture(params=["local", "s3"])
def home(request, tmp_path):
    if request.param == "local":
        yield str(tmp_path / "home")
        return
    from laionet_assets.testing.cluster import S3_BUCKET, moto_s3

    with moto_s3():
        yield f"s3://{S3_BUCKET}/home"


def test_processes_registering_at_once_keep_every_entry(home, tmp_path):
    for name in ("one", "two"):
        write_release(tmp_path / name, PARTS)
    start = CONTEXT.Event()
    workers = [
        CONTEXT.Process(target=register, args=(home, tmp_path / name, name, start)) for name in ("one", "two")
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(300)
        assert worker.exitcode == 0
    entries = ReleaseRegistry(home).load()
    assert len(entries) == 2 * PARTS
    assert entries["two-part-00199"]["path"].endswith("two/part-00199.parquet")


def test_a_key_two_folders_would_share_is_refused_naming_both(tmp_path):
    registry = ReleaseRegistry(str(tmp_path / "home"))
    write_release(tmp_path / "a" / "laion400m", 1)
    write_release(tmp_path / "b" / "LAION400M", 1)
    registry.register(str(tmp_path / "a" / "laion400m"))
    with pytest.raises(KeyClash, match="laion400m-part-00000.*another --name") as clash:
        registry.register(str(tmp_path / "b" / "LAION400M"))
    assert "a/laion400m/part-00000.parquet" in str(clash.value)
    assert "b/LAION400M/part-00000.parquet" in str(clash.value)
    registry.register(str(tmp_path / "b" / "LAION400M"), "upper")  # another name: no clash
    assert set(registry.load()) == {"laion400m-part-00000", "upper-part-00000"}
    registry.register(str(tmp_path / "a" / "laion400m"))  # the same folder again: fine


def test_a_home_with_the_one_file_registry_is_read(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "releases.json").write_text(json.dumps({"old-part-00000": {"path": "/data/old/p.parquet"}}))
    registry = ReleaseRegistry(str(home))
    write_release(tmp_path / "new", 1)
    registry.register(str(tmp_path / "new"))
    assert set(registry.load()) == {"old-part-00000", "new-part-00000"}
    assert registry.part_path("old-part-00000") == "/data/old/p.parquet"


def test_an_unsafe_key_is_refused():
    with pytest.raises(UnsafeName, match="only a-z, 0-9"):
        ReleaseRegistry("/tmp/nowhere").part("../laionet_images/x")
