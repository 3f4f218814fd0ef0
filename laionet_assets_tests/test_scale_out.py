"""Several partitions materialised concurrently by separate Dagster run processes, each on the
multiprocess executor, give exactly the results of a serial run; the shared LanceDB cache stays
free of duplicate keys; the gpu pool serialises text_sims steps."""

import time

import polars as pl

from laionet_assets.defs.lib import GPU_SLOT_FREED, GPU_SLOT_HELD
from laionet_assets.testing.fixtures import Home, kill_group, split_sample


def run_all(home: Home, keys, concurrency: int, tmp_path, timeout: float = 600):
    pending, running, codes = list(keys), [], {}
    deadline = time.time() + timeout
    try:
        while pending or running:
            assert time.time() < deadline, f"runs still going after {timeout} s"
            while pending and len(running) < concurrency:
                key = pending.pop(0)
                running.append(
                    (
                        key,
                        home.popen("lemma_matches,text_sims", key, tmp_path / f"{home.root.name}-{key}.log"),
                    )
                )
            for key, proc in list(running):
                if proc.poll() is not None:
                    codes[key] = proc.returncode
                    running.remove((key, proc))
            time.sleep(0.5)
    finally:
        for _, proc in running:
            kill_group(proc)
    return codes


def test_concurrent_partition_runs_equal_serial_runs(tmp_path, synsets):
    release = split_sample(tmp_path / "rel")
    serial, parallel = Home(tmp_path / "serial", synsets), Home(tmp_path / "parallel", synsets)
    keys = serial.register(release, "rel")
    assert parallel.register(release, "rel") == keys
    assert run_all(serial, keys, 1, tmp_path) == {k: 0 for k in keys}
    started = time.perf_counter()
    codes = run_all(parallel, keys, 2, tmp_path)
    assert codes == {k: 0 for k in keys}, [
        (tmp_path / f"parallel-{k}.log").read_text()[-2000:] for k in keys if codes[k]
    ]
    for asset in ("lemma_matches", "text_sims"):
        for key in keys:
            assert pl.read_parquet(parallel.output(asset, key)).equals(
                pl.read_parquet(serial.output(asset, key))
            ), (asset, key)
    with parallel.instance() as instance:
        records = instance.get_run_records()
        assert len(records) == len(keys) and all(r.dagster_run.is_success for r in records)
        starts = sorted(r.start_time for r in records)
        ends = sorted(r.end_time for r in records)
        assert starts[1] < ends[0], "two runs overlapped in time"
        # ...while their text_sims steps, in the gpu pool (one slot), ran one at a time: the
        # times each step held and gave back the machine's gpu slot
        held = sorted(
            tuple(
                next(e.timestamp for e in logs if e.user_message.startswith(prefix))
                for prefix in (GPU_SLOT_HELD, GPU_SLOT_FREED)
            )
            for r in records
            for logs in [[e for e in instance.all_logs(r.dagster_run.run_id) if e.step_key == "text_sims"]]
        )
        assert len(held) == len(keys)
        assert all(later[0] >= earlier[1] for earlier, later in zip(held, held[1:])), held
    from laionet_assets.core.text.embedding_cache import EmbeddingCache

    cache = EmbeddingCache(str(parallel.root / "lancedb"))
    encoder_id = pl.read_parquet(parallel.output("text_sims", keys[0]))["encoder"][0]
    stored = cache.hashes(encoder_id)
    assert len(stored) == len(set(stored)) > 0
    print(f"{len(keys)} partitions, 2 concurrent runs: {time.perf_counter() - started:.1f} s")
