"""What every model loader shares: the device a model runs on and the identity of a local
weights file (part of an encoder's id, so embeddings of two checkpoints never mix in a cache)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def resolve_device(device: str = "auto") -> str:
    """``auto`` → CUDA when available; a CUDA device without CUDA → CPU."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        return "cpu"
    return device


def file_fingerprint(path: str | Path) -> str:
    """``<name>@<hash of path, size and mtime>``: names a local checkpoint without reading it."""
    path = Path(path)
    stat = path.stat()
    digest = hashlib.blake2b(
        f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode(), digest_size=6
    ).hexdigest()
    return f"{path.name}@{digest}"


def looks_like_path(value: str) -> bool:
    """A weights argument that names a local file rather than a hub tag."""
    return "/" in value or value.startswith("~") or value.endswith((".pt", ".pth", ".bin", ".safetensors"))
