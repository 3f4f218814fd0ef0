"""An image model's preprocessing as data, and the same preprocessing as tensor operations.

Every model the project runs preprocesses the same way: resize the shorter side (with
antialiasing), centre-crop a square, scale to [0, 1], normalise by a mean and std.  Only the
numbers differ (timm: resize ⌊224 / crop_pct⌋, bicubic; open_clip: 224, bicubic, CLIP's mean and
std; TorchScript: 256, bilinear).  ``describe`` reads them off a torchvision ``Compose``; two
models with equal :class:`Preprocessing` see identical input tensors, so they can share one
decode pass (``core.models.runner.run_models``), and ``resize_crop`` then ``to_model_input`` (with
``Preprocessing.normalize``) apply it to decoded ``uint8`` tensors on any device (the tensor
decoder's path).

``resize_crop`` follows torchvision's PIL semantics: the output size of ``Resize`` and the crop
offsets come from the same torchvision functions, the resize runs on ``uint8`` with antialiasing
and rounds back to ``uint8`` as PIL does.  What remains different from the PIL path is the
resampling arithmetic (PIL's fixed point against torch's float kernels: at most a few grey levels
on some pixels) and, on CUDA, nvJPEG's IDCT against libjpeg-turbo's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Steps that leave an RGB PIL image's pixels as they are: load_rgb already gives RGB, and the
# tensor conversion is part of every Preprocessing.
_TO_TENSOR = frozenset({"ToTensor", "MaybeToTensor"})
_NEUTRAL_STEPS = _TO_TENSOR | {"MaybeConvertMode", "_convert_to_rgb"}
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


def _shortest(values) -> str:
    """float32 numbers in the fewest digits that give them back: [0.485, 0.456, 0.406]."""
    return "[" + ", ".join(str(np.float32(v)) for v in values) + "]"


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side to ``resize`` (``interpolation``, antialiased), centre-crop
    ``crop`` × ``crop``, scale to [0, 1], normalise by ``mean`` and ``std`` (per channel)."""

    resize: int
    crop: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        # mean and std as the float32 numbers normalisation computes with: timm gives float32
        # tensors (0.48500001…), TorchScript models Python floats (0.485), equal once in float32;
        # CLIP's eight digits (0.48145466) survive, so ``normalize`` is the transform's own step.
        for name in ("mean", "std"):
            object.__setattr__(self, name, tuple(float(np.float32(v)) for v in getattr(self, name)))

    def normalize(self):
        """Its normalisation as the torchvision ``Normalize`` step ``to_model_input`` finishes a
        batch with (a transform's own step computes with the same float32 numbers)."""
        from torchvision import transforms

        return transforms.Normalize(self.mean, self.std)

    def __str__(self) -> str:
        return (
            f"resize {self.resize} {self.interpolation}, crop {self.crop}, "
            f"mean {_shortest(self.mean)}, std {_shortest(self.std)}"
        )


def _square(size) -> int | None:
    size = [size] if isinstance(size, int) else list(size)
    return int(size[0]) if len(size) == 1 or (len(size) == 2 and size[0] == size[1]) else None


def _name(step) -> str:
    return getattr(step, "__name__", type(step).__name__)


def describe(transform) -> Preprocessing | None:
    """The preprocessing of a torchvision ``Compose`` of Resize(shorter side), CenterCrop(square),
    a tensor conversion and Normalize, in that order; ``None`` for anything else (such a model
    decodes alone, through its own transform)."""
    steps = getattr(transform, "transforms", None)
    if not steps:
        return None
    found: dict = {}
    for step in steps:
        name = _name(step)
        if name == "Resize" and not found:
            size = step.size
            if getattr(step, "max_size", None) is not None or not (isinstance(size, int) or len(size) == 1):
                return None  # an exact (h, w) resize or a capped one: not a shorter-side resize
            interpolation = getattr(step.interpolation, "value", str(step.interpolation))
            if interpolation not in INTERPOLATIONS:
                return None
            found.update(resize=_square(size), interpolation=interpolation)
        elif name == "CenterCrop" and set(found) == {"resize", "interpolation"}:
            found["crop"] = _square(step.size)
            if found["crop"] is None:
                return None
        elif name == "Normalize" and "crop" in found and "mean" not in found:
            found.update(mean=tuple(step.mean), std=tuple(step.std))
        elif name not in _NEUTRAL_STEPS:
            return None
    return Preprocessing(**found) if len(found) == 5 else None


def resize_crop(image, preprocessing: Preprocessing, device: str = "cpu"):
    """A decoded ``uint8 [3, h, w]`` tensor (on any device) resized and cropped on ``device``, as
    ``uint8 [3, crop, crop]``."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    p = preprocessing
    resized = F.resize(
        image.to(device, non_blocking=True),
        [p.resize],
        interpolation=InterpolationMode(p.interpolation),
        antialias=True,
    )
    return F.center_crop(resized, [p.crop, p.crop])


def split_at_tensor(transform):
    """A transform ``describe`` reads whose last two steps are the tensor conversion and
    ``Normalize``, split there: ``(its PIL steps as one Compose, its Normalize)``; else ``None``.
    The PIL steps give the pixels ``to_model_input`` finishes (the pil decoder's workers send
    those, a quarter of float32's bytes)."""
    from torchvision import transforms

    if describe(transform) is None:
        return None
    steps = list(transform.transforms)
    names = [_name(step) for step in steps]
    if names[-1] == "Normalize" and names[-2] in _TO_TENSOR and not _TO_TENSOR & set(names[:-2]):
        return transforms.Compose(steps[:-2]), steps[-1]
    return None


def to_model_input(pixels, normalize, memory_format: str = "contiguous_format"):
    """``uint8 [n, 3, h, w]`` pixels (any strides) → what a transform gives for each: its tensor
    conversion (to the default float type ÷ 255, as torchvision's ``to_tensor``) and its
    ``normalize`` step, on the pixels' device, once for the batch, laid out in ``memory_format``
    (a ``torch`` memory format's name; the layout is set on the uint8 pixels, a quarter of
    float32's bytes to move).  Equal bit for bit to the transform on CPU, in either layout.  The
    one place every decoder turns pixels into model input."""
    import torch

    pixels = pixels.contiguous(memory_format=getattr(torch, memory_format))
    return normalize(pixels.to(torch.get_default_dtype()).div(255))
