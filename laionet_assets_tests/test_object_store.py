"""An object-store home: the chain from lemma_matches to laionet_clean and the image download,
with LAIONET_HOME an ``s3://`` URL on a local S3 server (moto in server mode on 127.0.0.1, a
thread of this process), compared output by output with the same chain on a local disk."""

import os
import subprocess
import sys

import dagster as dg
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from laionet_assets.cli import main
from laionet_assets.cli.demo import sample_web
from laionet_assets.core.images.pixels import load_rgb
from laionet_assets.core.io.atomic import write_atomic, write_bytes_atomic, write_parquet_atomic
from laionet_assets.core.io.storage import HomeUnreachable, check_home, home_path, read_parquet, scan_parquet
from laionet_assets.core.search.caption_index import CaptionIndex
from laionet_assets.resources import LaionetStorage
from laionet_assets.testing.cluster import S3_BUCKET as BUCKET
from laionet_assets.testing.cluster import free_port, moto_s3, wait_for
from laionet_assets.testing.fixtures import SAMPLE_RELEASE, sample_chain
from laionet_assets_tests.core.search.test_caption_index import clustered

TABLES = ["lemma_matches", "text_sims", "laionet_clean", "laionet_top50", "laionet_images"]


@pytest.fixture(scope="module")
def s3():
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def homes(s3, synsets, tmp_path_factory):
    local = home_path(tmp_path_factory.mktemp("object_store") / "home")
    remote = home_path(f"s3://{BUCKET}/runs/home")
    with sample_web() as rewrites:
        return {
            "local": sample_chain(local, synsets, rewrites),
            "s3": sample_chain(remote, synsets, rewrites),
        }


def test_every_output_on_s3_equals_the_local_disk_run(homes):
    local, remote = homes["local"].storage, homes["s3"].storage
    assert str(remote.root) == f"s3://{BUCKET}/runs/home"
    for table in TABLES:
        expected, got = local.read_asset(table), remote.read_asset(table)
        assert expected is not None and expected.height > 0, table
        fetched = [c for c in ("fetched_at",) if c in expected.columns]  # when, not what
        assert_frame_equal(got.drop(fetched), expected.drop(fetched), check_row_order=True)
    images = local.read_asset("laionet_images").filter(pl.col("status") == "ok")
    assert images.height > 50
    for relative in images["image_path"].to_list():  # the same bytes under the same content address
        assert (remote.images / relative).read_bytes() == (local.images / relative).read_bytes()
    assert remote.registry.load() == local.registry.load()
    # what the image side reads: a stored image, decoded from the bucket as from the disk
    first = images["image_path"][0]
    decoded = [np.asarray(load_rgb(str(home.images / first))) for home in (remote, local)]
    assert decoded[0].shape[0] > 1 and np.array_equal(*decoded)
    for figure in ("fig3_coverage_vs_threshold.png", "fig4_class_frequencies.png"):
        assert remote.report_path(figure, "rel").read_bytes().startswith(b"\x89PNG"), figure
    # the caption-embedding cache: LanceDB on the same bucket, the same captions
    encoder = homes["local"].resources["text_encoder"].load().encoder_id
    assert sorted(remote.embedding_cache().hashes(encoder)) == sorted(local.embedding_cache().hashes(encoder))
    assert remote.root.fs.exists(f"{BUCKET}/runs/home/lancedb")
    # where each output is, as `laionet where` prints it: the same relative names on both homes
    from laionet_assets.cli.where import outputs

    for asset in ("laionet_clean", "lemma_matches", "text_sims", "coverage_vs_threshold"):
        here, there = outputs(asset, local), outputs(asset, remote)
        assert here and [p.removeprefix(str(local.root)) for p in here] == [
            p.removeprefix(str(remote.root)) for p in there
        ], asset
        assert all(p.startswith(f"s3://{BUCKET}/runs/home/") for p in there)


def test_a_rerun_on_s3_fetches_nothing_already_stored(homes):
    release = homes["s3"]
    before = release.storage.read_asset("laionet_images")
    for key in release.keys:
        result = release.materialize(["laionet_images"], key)
        assert result.success
        [event] = result.get_asset_materialization_events()
        facts = event.materialization.metadata
        assert facts["fetched"].value == 0 and facts["reused_from_previous_run"].value > 0
    assert_frame_equal(release.storage.read_asset("laionet_images"), before)


def test_a_failed_write_leaves_no_object_and_the_old_one_whole(s3):
    target = home_path(f"s3://{BUCKET}/atomic/table.bin")
    write_bytes_atomic(target, b"complete")

    def half_then_die(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(b"par")
        raise OSError("the writer died")

    with pytest.raises(OSError, match="the writer died"):
        write_atomic(target, half_then_die)
    assert target.read_bytes() == b"complete"
    fresh = home_path(f"s3://{BUCKET}/atomic/never.bin")
    with pytest.raises(OSError):
        write_atomic(fresh, half_then_die)
    assert not fresh.exists()
    assert target.fs.ls(f"{BUCKET}/atomic") == [f"{BUCKET}/atomic/table.bin"]  # no temp debris


def test_a_bucket_that_does_not_exist_is_named_before_any_work(s3, tmp_path, capsys):
    with pytest.raises(HomeUnreachable, match="s3://no-such-bucket/home: the bucket does not exist"):
        check_home("s3://no-such-bucket/home")
    with pytest.raises(HomeUnreachable, match="nosuch://bucket/home: cannot be reached"):
        check_home("nosuch://bucket/home/")
    storage = LaionetStorage(home="s3://no-such-bucket/home")
    with pytest.raises(dg.DagsterResourceFunctionError) as failed:  # a step's resource set-up
        with dg.build_resources({"storage": storage}):
            pass
    assert isinstance(failed.value.__cause__, HomeUnreachable)
    code = main(["run", "--release", str(SAMPLE_RELEASE), "--home", "s3://no-such-bucket/home"])
    assert code == 2
    assert "s3://no-such-bucket/home: the bucket does not exist" in capsys.readouterr().err


def test_refused_credentials_are_named_before_any_work(tmp_path):
    """A second S3 server that checks signatures (moto's auth from the first request): any key
    is unknown to it."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    server = subprocess.Popen(
        ["timeout", "120", sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _answers(port), "moto server", 60, [server])
        code = (
            "import os, sys; from laionet_assets.core.io.storage import check_home\n"
            "try:\n    check_home('s3://laionet/home')\n"
            "except ValueError as e:\n    print(e); sys.exit(2)\n"
        )
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "wrong",
            "AWS_SECRET_ACCESS_KEY": "wrong",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.returncode == 2, out.stderr
        assert "LAIONET_HOME s3://laionet/home: the credentials are refused" in out.stdout
    finally:
        server.terminate()
        server.wait(30)


def _answers(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_read_parquet_reads_both_kinds_of_location(s3, tmp_path):
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    for path in (home_path(tmp_path / "t.parquet"), home_path(f"s3://{BUCKET}/read/t.parquet")):
        write_parquet_atomic(frame, path)
        assert_frame_equal(read_parquet(path, columns=["b"]), frame.select("b"))


def test_scan_parquet_reads_lazily_from_every_kind_of_home(s3, tmp_path):
    """Local and ``s3://`` files through polars' own reader, other fsspec homes through a pyarrow
    dataset: each with the columns and rows a query asks for."""
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    homes = (tmp_path / "t.parquet", f"s3://{BUCKET}/scan/t.parquet", "memory://scan/t.parquet")
    for location in homes:
        path = home_path(location)
        write_parquet_atomic(frame, path)
        lazy = scan_parquet(path)
        assert isinstance(lazy, pl.LazyFrame)
        got = lazy.filter(pl.col("a") > 1).select("b").collect(engine="streaming")
        assert_frame_equal(got, frame.filter(pl.col("a") > 1).select("b"))
    plan = scan_parquet(home_path(homes[1])).select("b").explain()
    assert "s3://" in plan and "PROJECT 1/2 COLUMNS" in plan, plan  # read by polars itself


def test_the_cli_runs_on_an_s3_home(s3, tmp_path, monkeypatch, capsys):
    for name in ("LAIONET_HOME", "DAGSTER_HOME", "LAIONET_PROFILE"):  # prepare_home exports them
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("LAIONET_INSTANCES", str(tmp_path / "instances"))
    home = f"s3://{BUCKET}/cli/home"
    args = ["run", "--release", str(SAMPLE_RELEASE), "--home", home, "--profile", "tiny"]
    assert main([*args, "--select", "lemma_matches"]) == 0
    out = capsys.readouterr().out
    assert f"home {home}" in out
    storage = LaionetStorage(home=home)
    assert storage.read_asset("lemma_matches").height == 240
    assert set(storage.registry.load()) == {"laion_sample-part-00000", "laion_sample-part-00001"}
    # the run's Dagster instance is local (LAIONET_INSTANCES), named after the URL
    [instance] = (tmp_path / "instances").iterdir()
    assert instance.name == "s3_laionet_cli_home" and (instance / "dagster" / "dagster.yaml").exists()


def test_the_caption_index_and_its_faiss_shards_on_s3_answer_as_on_a_disk(s3, tmp_path):
    """§4.3's caption search with the home on the bucket: LanceDB's table and the FAISS shards
    there (re-ranking reads only the candidates' float16 rows, by ranged requests)."""
    vectors = clustered(4000, seed=2)
    queries = clustered(200, seed=3)
    answers = {}
    for name, uri in (("local", str(tmp_path / "lancedb")), ("s3", f"s3://{BUCKET}/search/lancedb")):
        index = CaptionIndex(uri, "enc")
        index.add_part("p0", [str(i) for i in range(2500)], vectors[:2500])
        index.add_part("p1", [str(i) for i in range(2500, 4000)], vectors[2500:])
        answers[name] = {engine: index.nearest(queries, engine=engine) for engine in ("faiss", "exact")}
        shards = index.shards_folder
    for engine in ("faiss", "exact"):
        assert_frame_equal(answers["s3"][engine], answers["local"][engine])
    assert str(shards).startswith(f"s3://{BUCKET}/search/faiss/")
    names = {p.name for p in shards.iterdir()}
    assert {"trained.faiss", "p0.faiss", "p0.f16", "p0.ids.parquet", "p1.part.json"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
