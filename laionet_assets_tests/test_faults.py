"""SIGKILL in the middle of text_sims, once it has stored its first chunk of embeddings: the
partition keeps its old complete file, the LanceDB cache holds that chunk and no duplicate key,
and the re-run completes, reusing what was embedded before."""

import inspect

import polars as pl

from laionet_assets.core.text.embedding_cache import EmbeddingCache, encode_with_cache
from laionet_assets.testing import fixtures
from laionet_assets.testing.fixtures import Home, kill_group
from laionet_assets.testing.fixtures import run_to_end as run
from laionet_assets.testing.pause import ChunkPause

# encode_with_cache stores new vectors a chunk at a time; the rewritten part needs two chunks
CHUNK = inspect.signature(encode_with_cache).parameters["chunk_size"].default
ROWS = CHUNK + 3_000


def write_part(path, n):
    texts = [f"a lion number {i} resting on the savanna near the river" for i in range(n)]
    fixtures.write_part(path, TEXT=texts)


def test_sigkill_during_text_sims_leaves_old_output_and_consistent_cache(tmp_path, synsets):
    home = Home(tmp_path / "home", synsets)
    release = tmp_path / "rel"
    release.mkdir()
    part = release / "p0.parquet"
    write_part(part, 300)
    [key] = home.register(release, "rel")
    run(home, "lemma_matches,text_sims", key, tmp_path / "first.log")
    old = home.output("text_sims", key).read_bytes()
    encoder_id = pl.read_parquet(home.output("text_sims", key))["encoder"][0]
    cache = EmbeddingCache(str(home.root / "lancedb"))
    assert cache.count(encoder_id) == 300 + 1000  # captions and synset texts

    write_part(part, ROWS)  # the part is rewritten, larger than one chunk of embeddings
    home.register(release, "rel")
    run(home, "lemma_matches", key, tmp_path / "matches.log")
    pause = ChunkPause(tmp_path / "pause")
    pause.arm()
    home.env = pause.env(home.env)
    proc = home.popen("text_sims", key, tmp_path / "killed.log")
    try:
        pause.wait(300, [proc])  # the step has stored its first chunk and waits
    finally:
        kill_group(proc)  # SIGKILL to the run and its step process

    assert home.output("text_sims", key).read_bytes() == old  # the old complete file, untouched
    # The dead run still holds the gpu pool's only slot until it is recovered.
    with home.instance() as instance:
        assert instance.event_log_storage.get_concurrency_info("gpu").active_slot_count == 1
        from laionet_assets.recovery import recover_dead_runs

        assert len(recover_dead_runs(instance)) == 1
        assert instance.event_log_storage.get_concurrency_info("gpu").active_slot_count == 0
    stored = cache.hashes(encoder_id)
    assert len(stored) == len(set(stored))
    partial = len(stored)
    # the 1000 synset texts, the first 300 captions, and exactly the one chunk stored before the kill
    assert partial == 1300 + CHUNK

    run(home, "text_sims", key, tmp_path / "rerun.log")
    sims = pl.read_parquet(home.output("text_sims", key))
    assert sims.height == ROWS and sims["sample_id"].n_unique() == ROWS
    stored = cache.hashes(encoder_id)
    assert len(stored) == len(set(stored)) == ROWS + 1000
    with home.instance() as instance:
        event = instance.get_latest_materialization_event(__import__("dagster").AssetKey("text_sims"))
        hits = event.asset_materialization.metadata["embedding_cache_hits"].value
    assert hits == partial - 1000  # everything embedded before the kill was reused


def test_sigkill_during_laionet_images_resumes_from_its_checkpoint(tmp_path, synsets):
    """Images fetched before the kill are in the part's checkpoint; the re-run fetches only the
    rest, and its table is the whole part."""
    import json

    from laionet_assets.cli.demo import SAMPLE, SAMPLE_RELEASE, SAMPLE_WEB_PREFIX
    from laionet_assets.testing.web import ImageServer

    home = Home(tmp_path / "home", synsets)
    key = home.register(SAMPLE_RELEASE, "sample")[0]
    with ImageServer(folder=SAMPLE / "web") as server:
        home.env.update(
            LAIONET_URL_REWRITES=json.dumps({SAMPLE_WEB_PREFIX: server.url("")}),
            LAIONET_DOWNLOAD_ALLOW="127.0.0.1",
            LAIONET_DOWNLOAD_CONCURRENCY="1",
            LAIONET_DOWNLOAD_CHECKPOINT_ROWS="3",
            LAIONET_OCR="false",
        )
        run(home, "lemma_matches,text_sims", key, tmp_path / "text.log")
        laionet = "laionet_clean,class_frequencies,coverage_vs_threshold,laionet_top50"
        run(home, laionet, "sample", tmp_path / "laionet.log")
        wanted = pl.read_parquet(home.output("laionet_clean", "sample")).height
        assert wanted > 10
        server.hold_after(7)  # the 8th request waits: two checkpoints (6 rows) are written
        proc = home.popen("laionet_images", key, tmp_path / "killed.log")
        try:
            assert server.held.wait(300), (tmp_path / "killed.log").read_text()[-3000:]
        finally:
            kill_group(proc)
        server.release()
        checkpoint = home.root / "checkpoints" / "laionet_images" / f"{key}.parquet"
        saved = pl.read_parquet(checkpoint)
        assert saved.height == 6 and saved["fetched_at"].null_count() == 0
        assert not home.output("laionet_images", key).exists()
        before = dict(server.hits)
        run(home, "laionet_images", key, tmp_path / "rerun.log")
    table = pl.read_parquet(home.output("laionet_images", key))
    assert table.height == wanted and table["sample_id"].n_unique() == wanted
    path = lambda url: "/" + url.removeprefix(SAMPLE_WEB_PREFIX)  # noqa: E731
    for url in saved["url"]:
        assert server.hits[path(url)] == before[path(url)] == 1, url  # not fetched again
    assert sum(server.hits.values()) - sum(before.values()) == wanted - 6
    assert not checkpoint.exists()
    with home.instance() as instance:
        event = instance.get_latest_materialization_event(__import__("dagster").AssetKey("laionet_images"))
        assert event.asset_materialization.metadata["resumed_rows"].value == 6
