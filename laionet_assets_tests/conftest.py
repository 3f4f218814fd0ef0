import atexit
import os
import shutil
import tempfile

import polars as pl
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Every process of the suite (this one and those it starts) reaches only loopback: other
# connections and name lookups are refused in-process and recorded (laionet_assets.testing.network).
from laionet_assets.testing import network  # noqa: E402

_GUARD = network.site_folder(tempfile.mkdtemp(prefix="laionet-network-guard-"))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(_GUARD), os.environ.get("PYTHONPATH")) if p)
os.environ[network.LOG_VARIABLE] = str(_GUARD / "attempts.jsonl")
network.install()
atexit.register(shutil.rmtree, _GUARD, ignore_errors=True)

from laionet_assets.testing.fixtures import shared_path  # noqa: E402, F401 - re-exported for fixtures


@pytest.fixture(scope="session")
def synsets() -> pl.DataFrame:
    from laionet_assets.core.text.synsets import load_imagenet_synsets

    return load_imagenet_synsets()


@pytest.fixture(scope="session")
def laion_1k() -> pl.Series:
    return pl.read_parquet(shared_path("data", "laion_sample", "captions_1k.parquet"))["TEXT"]


@pytest.fixture
def network_attempts():
    """The attempts to reach beyond the machine that the guard refused while the test ran (from
    every process), as ``{"kind": "connect" | "lookup", "target": …}``."""
    before = len(network.recorded())
    return lambda: [{k: a[k] for k in ("kind", "target")} for a in network.recorded()[before:]]


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory):
    """``laionet demo --profile tiny`` run once for the session (the whole graph on the bundled
    sample, a second release compared with it, then CIFAR-100's): its home and what it printed.
    Tests read it; the UI test adds runs."""
    import subprocess
    import sys

    from laionet_assets.settings import SETTINGS

    home = tmp_path_factory.mktemp("demo") / "home"
    names = {"DAGSTER_HOME", *(s.env for s in SETTINGS if s.env)}
    env = {k: v for k, v in os.environ.items() if k not in names}
    done = subprocess.run(
        [sys.executable, "-m", "laionet_assets.cli", "demo", "--home", str(home), "--profile", "tiny"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return home, done.stdout
