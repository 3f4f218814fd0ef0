"""CLIP (open_clip), both towers, one loader (paper §2: ViT-B/32 with OpenAI weights for the
caption↔synset-text similarity; §3.2: its image tower for intra-class similarity).

``Clip(model, pretrained)``: ``model`` an open_clip architecture (``ViT-B-32``) or ``tiny`` (a
random-init CLIP with a 2-layer text tower and CLIP's real tokenizer, for tests); ``pretrained``
an open_clip tag (``openai``, ``laion2b_s34b_b79k``; open_clip downloads it), a local checkpoint
file, or ``None`` for random weights.  One ``encoder_id`` names model and weights for both towers
(a local file by its fingerprint), so vectors of two checkpoints never mix in a cache.

Text: captions are sorted by token length and each batch runs the transformer over the batch's
longest sequence only.  This is exact for CLIP: the text tower's attention mask is causal and its
output is read at the end-of-text token, so positions after it never influence the result (tested
against ``encode_text``).  Images: :class:`ClipImageEncoder` runs the image tower over files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from laionet_assets.core.models.loading import file_fingerprint, resolve_device
from laionet_assets.core.models.runner import ImageModel

TINY = "tiny"


def open_clip_architectures() -> list[str]:
    """open_clip's model names, read from its bundled configs without importing torch."""
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(list(spec.submodule_search_locations)[0]) / "model_configs"
    return sorted(p.stem for p in folder.glob("*.json"))


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


class Clip:
    """An open_clip model: ``encode`` (texts → unit vectors, the text-encoder protocol),
    ``encode_image_batch`` (image tensors → unit vectors), ``transform`` and ``input_shape``."""

    def __init__(
        self,
        model_name: str = "ViT-B-32",
        pretrained: str | None = "openai",
        device: str = "auto",
        batch_size: int = 256,
        seed: int = 0,
        length_bucketing: bool = True,
    ):
        import open_clip

        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.length_bucketing = length_bucketing
        if model_name == TINY:
            self.model = tiny_clip(seed)
            self.transform = open_clip.image_transform(
                32, is_train=False, mean=open_clip.OPENAI_DATASET_MEAN, std=open_clip.OPENAI_DATASET_STD
            )
            source = f"random-seed{seed}"
        else:
            if pretrained and "/" in pretrained and not Path(pretrained).is_file():
                raise FileNotFoundError(f"CLIP checkpoint {pretrained!r} does not exist")
            self.model, _, self.transform = open_clip.create_model_and_transforms(
                model_name, pretrained=pretrained or None, device="cpu"
            )
            local = bool(pretrained) and Path(pretrained).is_file()
            source = file_fingerprint(pretrained) if local else pretrained or f"random-seed{seed}"
        size = self.model.visual.image_size
        size = size if isinstance(size, int) else size[0]
        self.input_shape = (3, size, size)
        self.model = self.model.eval().to(self.device)
        self.tokenizer = open_clip.get_tokenizer("ViT-B-32" if model_name == TINY else model_name)
        self.encoder_id = f"open_clip:{model_name}:{source}"
        self.dim = int(self.model.text_projection.shape[-1])
        self.version = f"open_clip {open_clip.__version__} {model_name} ({source})"

    # ------------------------------------------------------------------ text tower

    def tokenize(self, texts: Sequence[str]):
        return self.tokenizer(list(texts))

    def _bucketable(self) -> bool:
        m = self.model
        return (
            self.length_bucketing
            and all(
                hasattr(m, a) for a in ("token_embedding", "positional_embedding", "transformer", "ln_final")
            )
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
        """Unit text embeddings [n, dim] float32, in the order of ``texts``."""
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

    # ------------------------------------------------------------------ image tower

    def encode_image_batch(self, batch):
        """Unit image embeddings of a preprocessed batch on the model's device."""
        return self.model.encode_image(batch, normalize=True)


class ClipImageEncoder(ImageModel):
    """The image tower over files: ``run(paths)`` → unit embeddings and errors per image; the
    text tower of the same model is ``clip`` (the synset texts of Appendix D)."""

    def __init__(
        self,
        model: str = "ViT-B-32",
        pretrained: str | None = "openai",
        device: str = "auto",
        batch_size: int = 64,
        seed: int = 0,
    ):
        self.clip = Clip(model, pretrained, device, batch_size, seed)
        self.device, self.batch_size = self.clip.device, batch_size
        self.transform, self.input_shape = self.clip.transform, self.clip.input_shape
        self.encoder_id = self.name = self.clip.encoder_id
        self.dim, self.version = self.clip.dim, self.clip.version

    def configure(self, precision: str = "fp32", decoder: str = "auto") -> ClipImageEncoder:
        """As ``ImageModel.configure``; bf16 vectors get their own ``encoder_id`` (cache key), so
        they never mix with float32 ones."""
        super().configure(precision, decoder)
        suffix = f":{self.precision}" if self.precision != "fp32" else ""
        self.encoder_id = self.name = self.clip.encoder_id + suffix
        return self

    def forward(self, batch):
        return self.clip.encode_image_batch(batch)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.clip.encode(texts)
