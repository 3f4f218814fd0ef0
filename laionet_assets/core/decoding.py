"""Decoding and batching: image files → tensors in DataLoader workers, so decoding overlaps the
forward pass, and the loop every image model runs (decode, forward, collect outputs per image,
report failures per image, never fatal).  Batches go to the GPU from pinned memory when CUDA is
available."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from laionet_assets.core.images import load_rgb


class ImageFiles:
    """A torch-style dataset of image files → (tensor, index, error); bad files give error text."""

    def __init__(self, paths: Sequence[str], transform, shape: tuple[int, ...]):
        self.paths, self.transform, self.shape = list(paths), transform, shape

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        import torch

        try:
            return self.transform(load_rgb(self.paths[i])), i, ""
        except Exception as e:  # noqa: BLE001 - any decode failure is reported per image
            return torch.zeros(self.shape), i, f"{Path(self.paths[i]).name}: {type(e).__name__}: {e}"[:300]


def _collate(batch):
    import torch

    return torch.stack([b[0] for b in batch]), [b[1] for b in batch], [b[2] for b in batch]


def decode_workers(requested: int, device: str) -> int:
    """``requested`` ≥ 0 as is; −1 (auto): none on CPU (the forward pass needs the cores), and
    when a GPU does the forward pass all cores but two, at most 12 (decoding is the bottleneck: on
    a 16-core H100 host 12 workers fed CLIP ViT-B/32 2,130 images/s, one process 149)."""
    import os

    if requested >= 0:
        return requested
    return 0 if not device.startswith("cuda") else max(1, min(12, (os.cpu_count() or 1) - 2))


def worker_context(transform):
    """The decode workers' start method: forkserver (LanceDB and CUDA runtimes in the parent do
    not survive a fork), with torch, PIL and the transform's modules imported once in the fork
    server, so each worker forks ready instead of importing them itself (on an H100 host, 12
    workers each importing torch took 60 s to deliver a first batch)."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    steps = getattr(transform, "transforms", [transform])
    context.set_forkserver_preload(
        sorted(
            {"torch", "torchvision.transforms", "PIL.Image", __name__, *(type(t).__module__ for t in steps)}
        )
    )
    return context


def iter_image_batches(paths: Sequence[str], transform, shape, batch_size: int, device: str, workers: int):
    """(tensor on device, indices, errors) per batch, decoded in ``workers`` processes."""
    from torch.utils.data import DataLoader

    loader = DataLoader(
        ImageFiles(paths, transform, shape),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=device.startswith("cuda"),
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
        multiprocessing_context=worker_context(transform) if workers else None,
    )
    for tensor, indices, errors in loader:
        yield tensor.to(device, non_blocking=True), indices, errors


class ImageModel:
    """Common loop: decode, forward, collect outputs per image, count failures."""

    name: str
    version: str
    device: str
    batch_size: int
    transform = None
    input_shape: tuple[int, ...] = (3, 224, 224)

    def forward(self, batch):  # pragma: no cover - interface
        raise NotImplementedError

    def run(self, paths: Sequence[str], workers: int = -1, progress: Callable[[int], None] | None = None):
        """(outputs [n, k] float32 with NaN rows for failures, errors per image or "")."""
        import torch

        outputs: np.ndarray | None = None
        errors = [""] * len(paths)
        with torch.inference_mode():
            for tensor, indices, batch_errors in iter_image_batches(
                paths,
                self.transform,
                self.input_shape,
                self.batch_size,
                self.device,
                decode_workers(workers, self.device),
            ):
                out = self.forward(tensor).float().cpu().numpy()
                if outputs is None:
                    outputs = np.full((len(paths), out.shape[1]), np.nan, dtype=np.float32)
                outputs[indices] = out
                for i, err in zip(indices, batch_errors):
                    if err:
                        errors[i] = err
                        outputs[i] = np.nan
                if progress is not None:
                    progress(len(indices))
        if outputs is None:
            outputs = np.zeros((0, 0), dtype=np.float32)
        return outputs, errors
