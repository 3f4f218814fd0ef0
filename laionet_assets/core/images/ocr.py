"""The OCR filter (paper §2): drop images whose recognised text contains their synset's name.

The paper used EAST detection and TrOCR recognition; we use RapidOCR (``rapidocr-onnxruntime``,
which bundles its detection and recognition models, so it runs offline).  The match rule is the
paper's: ASCII punctuation removed, lower-cased, whitespace collapsed and space-padded, the
synset name (``goldfish``, ``black grouse``) must occur inside the same normalisation of all the
text recognised in the image.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence

_PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "]")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    return " " + _SPACES.sub(" ", _PUNCTUATION.sub("", text).lower()).strip() + " "


def synset_name_in_text(name: str, text: str) -> bool:
    needle = normalize(name)
    return needle.strip() != "" and needle in normalize(text)


def ocr_version() -> str:
    from importlib.metadata import version

    return f"rapidocr-onnxruntime {version('rapidocr-onnxruntime')}"


def flag_from_text(name: str, text: str | None) -> bool | None:
    """The paper's rule on a recognised text; None when the image could not be read."""
    if text is None or text.startswith("error:"):
        return None
    return synset_name_in_text(name, text)


class OcrEngine:
    """RapidOCR behind a small interface: ``recognise(path) → text`` (lines joined by spaces)."""

    def __init__(self, min_score: float = 0.5):
        from rapidocr_onnxruntime import RapidOCR

        self.engine = RapidOCR()
        self.min_score = min_score
        self.version = ocr_version()

    def recognise(self, image) -> str:
        import numpy as np

        from laionet_assets.core.images.pixels import load_rgb

        array = np.asarray(load_rgb(image)) if not hasattr(image, "shape") else image
        result, _ = self.engine(array)
        return " ".join(text for _, text, score in (result or []) if float(score) >= self.min_score)


def recognise_texts(
    paths: Sequence[str], engine: OcrEngine, progress: Callable[[int], None] | None = None
) -> list[str]:
    """The recognised text of each image; ``"error: …"`` for an image that cannot be read."""
    texts: list[str] = []
    for path in paths:
        try:
            texts.append(engine.recognise(path))
        except Exception as e:  # noqa: BLE001 - an unreadable image is reported, never fatal
            texts.append(f"error: {type(e).__name__}: {e}"[:200])
        if progress is not None:
            progress(1)
    return texts


def flag_synset_names(
    paths: Sequence[str],
    names: Sequence[str],
    engine: OcrEngine,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[bool | None], list[str]]:
    """Per image: whether its recognised text contains its synset name (None when unreadable), and
    the text."""
    texts = recognise_texts(paths, engine, progress)
    return [flag_from_text(name, text) for name, text in zip(names, texts)], texts
