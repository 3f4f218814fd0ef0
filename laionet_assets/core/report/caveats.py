"""What a report must say first about its inputs: numbers from random-init models, or from
synthetic images and captions, show that the pipeline runs, never a finding.

A model or encoder is random-init when its id or version says so (``timm:…:random``,
``open_clip:tiny:random-seed0``).  A release part or image folder is synthetic when it lies below
a folder holding a ``SYNTHETIC`` file (the bundled sample does).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

SYNTHETIC_MARKER = "SYNTHETIC"


def random_init(names: Iterable[str]) -> list[str]:
    """The model ids or versions among ``names`` whose weights are random."""
    return sorted({n for n in names if n and "random" in n.lower()})


@cache
def _marked(folder: Path) -> bool:
    return any((parent / SYNTHETIC_MARKER).is_file() for parent in (folder, *folder.parents))


def synthetic(locations: Iterable[str]) -> list[str]:
    """The local paths among ``locations`` that lie below a folder marked ``SYNTHETIC``."""
    out = []
    for location in locations:
        if location and "://" not in str(location) and _marked(Path(location).expanduser().resolve().parent):
            out.append(str(location))
    return sorted(set(out))


def caveats(models: Iterable[str], data: Iterable[str]) -> list[str]:
    """Sentences for the top of a page: which models are random-init, which inputs synthetic."""
    out = []
    random_models = random_init(models)
    if random_models:
        out.append(
            "The models have random weights (" + ", ".join(random_models) + "): every accuracy and "
            "similarity below is noise that shows the pipeline runs, not a finding."
        )
    fake = synthetic(data)
    if fake:
        shown = ", ".join(fake[:3]) + (f" and {len(fake) - 3} more" if len(fake) > 3 else "")
        out.append(
            f"The images and captions are synthetic ({shown}): the numbers say nothing about LAION "
            "or ImageNet."
        )
    return out
