"""A backfill of a range of partitions, launched by the Dagster daemon as in production:
every partition in the range is materialised exactly once, none outside it."""

import subprocess
import time

import dagster as dg

from laionet_assets import DEFINITIONS_MODULE
from laionet_assets.testing.fixtures import DAGSTER, REPO, Home, kill_group, split_sample


def test_backfill_a_partition_range(tmp_path, synsets):
    release = split_sample(tmp_path / "rel")
    home = Home(tmp_path / "home", synsets)
    keys = home.register(release, "rel")
    with home.instance() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("imagenet_synsets"))
    in_range = keys[1:4]
    subprocess.run(
        [
            DAGSTER,
            "job",
            "backfill",
            "-m",
            DEFINITIONS_MODULE,
            "-j",
            "laion_part_job",
            "--from",
            in_range[0],
            "--to",
            in_range[-1],
            "--noprompt",
        ],
        cwd=REPO,
        env=home.env,
        check=True,
        timeout=180,
        capture_output=True,
    )
    daemon = subprocess.Popen(
        [DAGSTER.replace("/dagster", "/dagster-daemon"), "run", "-m", DEFINITIONS_MODULE],
        cwd=REPO,
        env=home.env,
        stdout=open(tmp_path / "daemon.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 900  # three runs of three steps each, on 2 cores
        with home.instance() as instance:
            while True:
                runs = instance.get_runs()
                if len(runs) == len(in_range) and all(r.is_finished for r in runs):
                    break
                assert time.time() < deadline, (
                    f"runs: {[(r.tags.get('dagster/partition'), r.status) for r in runs]}"
                )
                time.sleep(2)
            assert sorted(r.tags["dagster/partition"] for r in runs) == in_range
            assert all(r.is_success for r in runs)
            for asset in ("lemma_matches", "text_sims", "laion_caption_index"):
                records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
                partitions = sorted(r.asset_materialization.partition for r in records)
                assert partitions == in_range, asset  # each once, nothing outside the range
    finally:
        kill_group(daemon)
    assert not home.output("lemma_matches", keys[0]).exists()
