"""The CUDA code paths against the CPU's, at the tolerances the manual states (The image side: how
close ``tensor`` is to ``pil``; exact nearest-caption search in float16).  They run where CUDA is
there (the GPU script runs them) and skip elsewhere."""

import numpy as np
import pytest
import torch

from laionet_assets.core.images.decoders import STAGED_DECODERS, iter_image_batches
from laionet_assets.core.images.nvimagecodec import available as nvimgcodec_available
from laionet_assets.core.images.preprocess import describe
from laionet_assets.core.models.classifiers import torchscript_transform
from laionet_assets.core.search.nearest import exact_nearest, tie_tolerance
from laionet_assets.core.vectors import unit_rows
from laionet_assets.testing.fixtures import shared_path

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
DECODERS = [
    "tensor",
    "tensor+cpu",
    pytest.param(
        "nvimgcodec",
        marks=pytest.mark.skipif(
            not nvimgcodec_available(), reason="NVIDIA nvImageCodec (the nvimgcodec extra) is not installed"
        ),
    ),
]


@pytest.fixture(scope="module")
def real_images() -> list[str]:
    return [str(p) for p in sorted(shared_path("data", "imagenet_sample").glob("*.JPEG"))]


def _all(iterator) -> tuple[torch.Tensor, list[str]]:
    tensors, errors = [], []
    for tensor, _, batch_errors in iterator:
        tensors.append(tensor.float().cpu())
        errors += batch_errors
    return torch.cat(tensors), errors


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_cuda_decoder_is_within_nvjpegs_stated_tolerance_of_pil(real_images, decoder):
    """Mean difference under 0.5 grey levels (0.23 measured on an H100), under 2% of values more
    than 2 apart (0.5% measured), the same images decoded, with the same errors."""
    transform = torchscript_transform()
    preprocessing = describe(transform)
    pil, pil_errors = _all(iter_image_batches(real_images, transform, (3, 224, 224), 32, "cpu", 0))
    cuda, cuda_errors = _all(STAGED_DECODERS[decoder](real_images, preprocessing, 32, "cuda", 2))
    levels = ((pil - cuda) * torch.tensor(preprocessing.std).view(1, 3, 1, 1) * 255).abs()
    assert cuda_errors == pil_errors == [""] * len(real_images)
    assert levels.mean() < 0.5 and (levels > 2).float().mean() < 0.02, (levels.mean(), levels.max())


def test_float16_exact_search_on_cuda_finds_the_brute_force_nearest():
    """float16 products on the GPU: the nearest stored vector of every query whose best product
    leads the runner-up by more than two float16 ties, and its similarity within float16's step."""
    rng = np.random.default_rng(7)
    stored = unit_rows(rng.normal(size=(20_000, 128)), np.float32)
    queries = unit_rows(stored[rng.choice(20_000, 300)] + 0.3 * rng.normal(size=(300, 128)), np.float32)
    index, sims = exact_nearest(queries, [stored[:7_000], stored[7_000:]], "cuda", precision="fp16")
    brute = queries.astype(np.float64) @ stored.T.astype(np.float64)
    ordered = np.sort(brute, axis=1)
    clear = ordered[:, -2] < ordered[:, -1] - 2 * tie_tolerance(torch.float16)
    assert clear.mean() > 0.9
    assert (index[clear] == brute.argmax(axis=1)[clear]).all()
    np.testing.assert_allclose(sims, brute[np.arange(300), index], atol=2e-3)
