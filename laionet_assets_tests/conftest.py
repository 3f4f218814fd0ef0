import os

import polars as pl
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from laionet_assets.testing.fixtures import shared_path  # noqa: F401 - re-exported for fixtures below


@pytest.fixture(scope="session")
def synsets() -> pl.DataFrame:
    from laionet_assets.core.text.synsets import load_imagenet_synsets

    return load_imagenet_synsets()


@pytest.fixture(scope="session")
def laion_1k() -> pl.Series:
    return pl.read_parquet(shared_path("data", "laion_sample", "captions_1k.parquet"))["TEXT"]


@pytest.fixture(autouse=True, scope="session")
def only_loopback_downloads():
    """Tests fetch images from 127.0.0.1 only: any other URL (the sample release's
    images.example.org included) is answered ``bad_url`` without touching the network."""
    from urllib.parse import urlparse

    from laionet_assets.core.images import download as images

    real = images._fetch_once

    async def guarded(session, url, settings):
        if urlparse(url).hostname not in ("127.0.0.1", "localhost"):
            return images.Fetched("bad_url", error=f"tests reach only 127.0.0.1, not {url}")
        return await real(session, url, settings)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(images, "_fetch_once", guarded)
        yield
