"""The loop every image model runs: decode a list of files once per group of models that share
their input (``decode_groups``), run each model's forward pass on every batch, collect outputs per
image, and report a failed image or a model that cannot run without stopping the others.  Which
decoder a model gets is ``chosen_decoder``; the decoders are ``core.images.decoders``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from laionet_assets.core.choices import check_choice
from laionet_assets.core.images.decoders import (
    PRECISIONS,
    STAGED_DECODERS,
    check_decoder,
    decode_workers,
    iter_image_batches,
    precision_autocast,
)
from laionet_assets.core.images.preprocess import (
    Preprocessing,
    describe,
)
from laionet_assets.core.models.specs import LabelSpaceError

# What a model may raise on a batch that means "this model cannot run here", not "this image is bad".
MODEL_ERRORS = (LabelSpaceError, RuntimeError, ValueError)


class ImageModel:
    """One image model: its transform, device, batch size and precision, and ``forward`` on a
    preprocessed batch; ``run`` over files."""

    name: str
    version: str
    device: str
    batch_size: int
    transform = None
    input_shape: tuple[int, ...] = (3, 224, 224)
    precision: str = "fp32"
    decoder: str = "auto"
    # The input layout its forward pass runs fastest on (a torch memory format's name).
    memory_format: str = "contiguous_format"

    def forward(self, batch):  # pragma: no cover - interface
        raise NotImplementedError

    def configure(self, precision: str = "fp32", decoder: str = "auto") -> ImageModel:
        """Set how it runs: ``precision`` (``bf16``: autocast, named in ``version``) and ``decoder``."""
        self.precision = check_choice(precision, PRECISIONS, "precision")
        self.decoder = check_decoder(decoder)
        self._fp32_version = getattr(self, "_fp32_version", self.version)
        suffix = f" [{precision} autocast]" if precision != "fp32" else ""
        self.version = self._fp32_version + suffix
        return self

    def autocast(self):
        return precision_autocast(self.precision, self.device)

    @property
    def preprocessing(self) -> Preprocessing | None:
        return describe(self.transform)

    def run(self, paths: Sequence[str], workers: int = -1, progress: Callable[[int], None] | None = None):
        """(outputs [n, k] float32 with NaN rows for failures, errors per image or "")."""
        ran = run_models([self], paths, workers, progress)
        if ran.failures:
            raise ran.failures[0][1]
        return ran.outputs[0], ran.errors


def decode_key(model: ImageModel) -> tuple:
    """Models with equal keys see identical input batches (one decode pass serves them all)."""
    preprocessing = model.preprocessing
    return (
        model.device,
        model.batch_size,
        model.decoder,
        preprocessing if preprocessing is not None else f"own transform of {id(model)}",
    )


def decode_groups(models: Sequence[ImageModel]) -> list[list[int]]:
    """Indices of ``models`` grouped by ``decode_key``, in first-seen order."""
    groups: dict[tuple, list[int]] = {}
    for i, model in enumerate(models):
        groups.setdefault(decode_key(model), []).append(i)
    return list(groups.values())


def chosen_decoder(model: ImageModel) -> str:
    """``pil``, ``tensor`` or ``nvimgcodec``: what ``model.decoder`` means for this model
    (``auto``: tensor on CUDA when the transform is a plain resize-crop-normalise)."""
    if model.preprocessing is None or model.decoder == "pil":
        return "pil"
    if model.decoder in STAGED_DECODERS:
        return model.decoder
    return "tensor" if model.device.startswith("cuda") else "pil"


def group_memory_format(models: Sequence[ImageModel]) -> str:
    """The layout a decode group's batches are made in: the one its models share (timm's
    channels-last), else contiguous, so a shared batch is laid out once, not once per model."""
    formats = {model.memory_format for model in models}
    return formats.pop() if len(formats) == 1 else "contiguous_format"


def decoded_batches(models: Sequence[ImageModel], paths: Sequence[str], workers: int = -1):
    """(tensor on the models' device, indices, errors) per batch of ``paths``, as a decode group
    (``decode_groups``) takes them: by the first model's ``chosen_decoder``, in
    ``group_memory_format``."""
    model, memory_format = models[0], group_memory_format(models)
    decoder = chosen_decoder(model)
    n_workers = decode_workers(workers, model.device)
    if decoder in STAGED_DECODERS:
        staged = STAGED_DECODERS[decoder]
        return staged(paths, model.preprocessing, model.batch_size, model.device, n_workers, memory_format)
    return iter_image_batches(
        paths, model.transform, model.input_shape, model.batch_size, model.device, n_workers, memory_format
    )


@dataclass
class Ran:
    """What ``run_models`` gives: per model its outputs (``None`` where it failed), per image its
    error, and ``(model index, exception)`` for models that could not run."""

    outputs: list[np.ndarray | None]
    errors: list[str]
    failures: list[tuple[int, Exception]]
    decoder: str


def run_models(
    models: Sequence[ImageModel],
    paths: Sequence[str],
    workers: int = -1,
    progress: Callable[[int], None] | None = None,
) -> Ran:
    """Decode ``paths`` once and run every model (one ``decode_groups`` group) on each batch.  A
    model raising one of ``MODEL_ERRORS`` stops there and is reported; the others go on."""
    import torch

    assert len({decode_key(m) for m in models}) == 1, "models of one run must share a decode key"
    decoder = chosen_decoder(models[0])
    batches = decoded_batches(models, paths, workers)
    outputs: list[np.ndarray | None] = [None] * len(models)
    errors = [""] * len(paths)
    failures: dict[int, Exception] = {}
    with torch.inference_mode():
        for tensor, indices, batch_errors in batches:
            bad = [j for j, e in enumerate(batch_errors) if e]
            for k, model in enumerate(models):
                if k in failures:
                    continue
                try:
                    with model.autocast():
                        out = model.forward(tensor).float().cpu().numpy()
                except MODEL_ERRORS as e:
                    failures[k] = e
                    outputs[k] = None
                    continue
                if outputs[k] is None:
                    outputs[k] = np.full((len(paths), out.shape[1]), np.nan, dtype=np.float32)
                out[bad] = np.nan
                outputs[k][indices] = out
            for i, err in zip(indices, batch_errors):
                errors[i] = err
            if progress is not None:
                progress(len(indices))
    for k in range(len(models)):
        if outputs[k] is None and k not in failures:
            outputs[k] = np.zeros((0, 0), dtype=np.float32)
    return Ran(outputs, errors, sorted(failures.items()), decoder)
