"""Image model sources, written as one string each so a list fits in an environment variable,
a CLI flag or the launchpad (paper §3.1: the model families evaluated):

* ``timm:<architecture>``: timm with ``pretrained=True`` (timm downloads the weights);
* ``timm:<architecture>:random``: the same architecture with random weights (tests, demos);
* ``timm:<architecture>:<checkpoint file>``: a local state dict (``.pth``, ``.pt``, ``.safetensors``);
* ``torchscript:<model file>[:<class order file>]``: a TorchScript classifier whose 1000 outputs
  follow the class order file (one wnid per line, or 1000 class names in the standard ImageNet
  order; default the standard order);
* ``clip:<architecture>[:<pretrained tag or checkpoint file>]``: CLIP zero-shot, the image against
  all 1000 synset texts; ``clip:tiny`` is a random-init tiny CLIP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from laionet_assets.core.models.loading import looks_like_path

SOURCES = ("timm", "torchscript", "clip")
WNID = re.compile(r"^n\d{8}$")


class LabelSpaceError(ValueError):
    """A model whose outputs are not the 1000 ImageNet-1k classes."""


@dataclass(frozen=True)
class ModelSpec:
    source: str
    model: str
    weights: str | None = None  # timm: None (hub), "random" or a file; clip: a tag or a file
    classes: str | None = None  # torchscript: the class order file

    @property
    def name(self) -> str:
        if self.source == "torchscript":
            return f"torchscript:{Path(self.model).stem}"
        return f"{self.source}:{self.model}" + (f":{Path(self.weights).name}" if self.weights else "")


def parse_model_spec(text: str, check_architecture: bool = True) -> ModelSpec:
    """One spec string, its files checked; with ``check_architecture`` also the architecture name
    against timm's or open_clip's registry (importing timm costs ~15 s, so resource validation,
    which runs in every step process, leaves it to the step that loads the models)."""
    source, _, rest = text.strip().partition(":")
    if source not in SOURCES or not rest:
        raise ValueError(
            f"model {text!r}: expected '<source>:<model>[:<weights>]' with source one of {SOURCES}"
        )
    model, _, extra = rest.partition(":")
    extra = extra or None
    if source == "torchscript":
        if not Path(model).expanduser().is_file():
            raise ValueError(f"model {text!r}: TorchScript file {model!r} does not exist")
        if extra and not Path(extra).expanduser().is_file():
            raise ValueError(f"model {text!r}: class order file {extra!r} does not exist")
        return ModelSpec(source, model, classes=extra)
    if extra and extra != "random" and looks_like_path(extra):
        if not Path(extra).expanduser().is_file():
            raise ValueError(f"model {text!r}: checkpoint file {extra!r} does not exist")
    if check_architecture:
        check_architecture_name(text, source, model)
    return ModelSpec(source, model, extra)


def check_architecture_name(text: str, source: str, model: str) -> None:
    if source == "timm":
        import timm

        if model not in timm.list_models():
            raise ValueError(f"model {text!r}: timm has no architecture {model!r}")
    if source == "clip" and model != "tiny":
        import open_clip

        if model not in open_clip.list_models():
            raise ValueError(f"model {text!r}: open_clip has no architecture {model!r}")


def parse_model_list(text: str | Sequence[str], check_architecture: bool = True) -> list[ModelSpec]:
    items = text.split(",") if isinstance(text, str) else list(text)
    specs = [parse_model_spec(t, check_architecture) for t in items if t.strip()]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"model list names a model twice: {names}")
    return specs


def read_class_order(path: str | None, imagenet_wnids: Sequence[str]) -> list[str]:
    """The wnid of each output of a model: a file of wnids, or of 1000 names in standard order."""
    if path is None:
        return list(imagenet_wnids)
    lines = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if lines and all(WNID.match(line.split()[0]) for line in lines):
        wnids = [line.split()[0] for line in lines]
        unknown = sorted(set(wnids) - set(imagenet_wnids))
        if unknown or len(wnids) != 1000:
            raise LabelSpaceError(
                f"{path}: {len(wnids)} classes, {len(unknown)} not in ImageNet-1k (e.g. {unknown[:3]})"
            )
        return wnids
    if len(lines) != 1000:
        raise LabelSpaceError(f"{path}: {len(lines)} class names; an ImageNet-1k class order has 1000")
    return list(imagenet_wnids)
