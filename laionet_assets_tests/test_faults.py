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
