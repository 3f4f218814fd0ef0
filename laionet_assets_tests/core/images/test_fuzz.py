"""Mutated real images never make the image check raise, nor take more memory than the decoding
budget allows (``laionet_assets.testing.fuzz``, in a process of its own with an address-space
limit; ``benchmarks/bench_fuzz`` runs many more cases)."""

import json
import subprocess
import sys

from laionet_assets.testing.fixtures import shared_path


def test_mutated_images_never_escape_the_check_nor_its_memory_budget():
    images = shared_path("data", "imagenet_sample")
    out = subprocess.run(
        [sys.executable, "-m", "laionet_assets.testing.fuzz", "--images", str(images), "--cases", "10000"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["cases"] == sum(report["statuses"].values()) == 10000
    assert report["escaped"] == [] and report["out_of_memory"] == []
    # the mutations reach every outcome: decoded, refused by format, by damage and by size
    assert {"ok", "corrupt", "not_image", "too_large"} <= set(report["statuses"])
