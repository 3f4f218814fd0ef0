import os
from pathlib import Path

import polars as pl
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLE_RELEASE = REPO / "data" / "sample" / "laion_sample"


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test with the reason when ../shared is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: ../shared (real LAION captions, ImageNet images) is beside the repo only in CI and dev checkouts")
    return path


@pytest.fixture(scope="session")
def synsets() -> pl.DataFrame:
    from laionet_assets.core.synsets import load_imagenet_synsets

    return load_imagenet_synsets()


@pytest.fixture(scope="session")
def laion_1k() -> pl.Series:
    return pl.read_parquet(shared_path("data", "laion_sample", "captions_1k.parquet"))["TEXT"]
