"""Embeddings a release ships beside its rows (LAION-400M's ViT-B/32 ``text_emb``/``img_emb``,
LAION-5B's ViT-L/14, DataComp's ``.npz``), used instead of encoding when they come from the
configured model: which array of a part matches the encoder (``choose_source``), its rows
(``read_rows``, memory-mapped), the rows that cannot be ranked (``unusable_rows``), and the parity
check of shipped against freshly encoded vectors (``parity``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from laionet_assets.core.choices import check_choice

SOURCES = ("encode", "release", "auto")
PARITY_MIN_COSINE = 0.99  # float16 storage of unit vectors costs < 1e-3; another model is far below
PARITY_SAMPLE = 64


class ShippedEmbeddingError(ValueError):
    """Shipped vectors that cannot be used as asked; the message names the file and the reason."""


def check_source(source: str) -> str:
    return check_choice(source, SOURCES, "embeddings source")


def encoder_tag(kind: str, model: str, pretrained: str | None, seed: int = 0) -> str | None:
    """How a release names the model behind its vectors (``ViT-B-32/openai``), for the configured
    encoder; None when it cannot be known (weights from a local file, sentence-transformers)."""
    if kind != "open_clip":
        return None
    if not pretrained:
        return f"{model}/random-seed{seed}"
    if "/" in pretrained or Path(pretrained).is_file():
        return None
    return f"{model}/{pretrained}"


def choose_source(source: str, part: dict | None, kind: str, tag: str | None) -> tuple[dict | None, str]:
    """The shipped array of ``kind`` (``text``/``image``) to use, or None to encode, with why.

    ``encode``: never shipped.  ``auto``: shipped when the part ships ``kind`` vectors of the
    configured model.  ``release``: shipped, and a part without them, or with another model's,
    is a ``ShippedEmbeddingError``: never a silent mix of two models."""
    check_source(source)
    shipped = [e for e in (part or {}).get("embeddings", []) if e["kind"] == kind]
    if source == "encode":
        return None, "encode: chosen"
    match = next((e for e in shipped if tag is not None and e["model"] == tag), None)
    if match is not None:
        return match, f"release: {match['model']} vectors shipped with the part"
    models = ", ".join(e["model"] for e in shipped) or "none"
    if source == "auto":
        return (
            None,
            f"encode: the part ships {kind} vectors of {models}, not of the configured {tag or 'encoder'}",
        )
    where = (part or {}).get("path", "this part")
    raise ShippedEmbeddingError(
        f"{where}: --{kind}-embeddings release, but the part ships {kind} vectors of {models} and the "
        f"configured encoder is {tag or 'not identifiable (local weights or not CLIP)'}; "
        f"configure that model, or use --{kind}-embeddings encode (or auto)"
    )


def _open_array(handle: dict) -> np.ndarray:
    from laionet_assets.core.laion import filesystem, is_remote

    location, key = handle["path"], handle.get("key")
    if key is not None or is_remote(location):  # an .npz member or a remote file: read whole
        import io

        fs, path, _ = filesystem(location)
        with fs.open(path, "rb") as fh:
            data = io.BytesIO(fh.read())
        loaded = np.load(data)
        return loaded[key] if key is not None else loaded
    return np.load(location, mmap_mode="r")


def read_rows(handle: dict, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` of a shipped array as float32 (memory-mapped: only those rows are read)."""
    where = handle["path"] + (f" [{handle['key']}]" if handle.get("key") else "")
    try:
        array = _open_array(handle)
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= array.shape[0]):
            raise ShippedEmbeddingError(
                f"{where}: has {array.shape[0]} rows, rows {rows.min()}–{rows.max()} were asked for"
            )
        order = np.argsort(rows, kind="stable")  # read in file order, return in asked order
        out = np.empty((rows.size, array.shape[1]), np.float32)
        out[order] = array[rows[order]]
        return out
    except ShippedEmbeddingError:
        raise
    except (OSError, ValueError, KeyError, EOFError) as exc:  # a truncated file, a bad header
        raise ShippedEmbeddingError(f"{where}: cannot be read ({type(exc).__name__}: {exc})") from exc


def unusable_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows that cannot be ranked: any NaN or infinity, or a zero vector."""
    finite = np.isfinite(vectors).all(axis=1)
    norms = np.linalg.norm(np.where(finite[:, None], vectors, 0), axis=1)
    return ~finite | (norms < 1e-6)


def normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def parity(shipped: np.ndarray, encoded: np.ndarray, minimum: float = PARITY_MIN_COSINE) -> dict:
    """Cosine of shipped and freshly encoded vectors of the same rows: passes when every one is at
    least ``minimum``."""
    if shipped.shape != encoded.shape:
        return {
            "passed": False,
            "reason": f"dimension {shipped.shape[1]} shipped vs {encoded.shape[1]} encoded",
        }
    cosine = np.einsum("ij,ij->i", normalise(shipped), normalise(encoded))
    return {
        "passed": bool(cosine.size and cosine.min() >= minimum),
        "rows": int(cosine.size),
        "min_cosine": round(float(cosine.min()), 5) if cosine.size else None,
        "mean_cosine": round(float(cosine.mean()), 5) if cosine.size else None,
        "minimum_required": minimum,
    }


def parity_sample(n: int, size: int = PARITY_SAMPLE, seed: int = 0) -> np.ndarray:
    """A seeded sample of row positions (sorted) for the parity check."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(n, size), replace=False)) if n else np.zeros(0, np.int64)
