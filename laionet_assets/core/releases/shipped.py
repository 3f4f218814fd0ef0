"""Embeddings a release ships beside its rows (LAION-400M's ViT-B/32 ``text_emb``/``img_emb``,
LAION-5B's ViT-L/14, DataComp's ``.npz``), used instead of encoding when they come from the
configured model: which array of a part matches the encoder (``choose_source``), its rows
(``read_rows``, memory-mapped), the rows that cannot be ranked (``unusable_rows``), and the parity
check of shipped against freshly encoded vectors (``parity``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from laionet_assets.core.choices import check_choice
from laionet_assets.core.vectors import unit_rows

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
        if not shipped:
            return None, f"encode: the part ships no {kind} vectors"
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


def choose_for_parts(
    source: str, parts: dict[str, dict | None], kind: str, tag: str | None
) -> tuple[dict[str, dict] | None, str]:
    """One source for a dataset whose rows span several parts (part key → registered part): the
    shipped arrays by part when every part has the configured model's, else None (encode), with
    why.  ``auto`` encodes the whole dataset when any part lacks them: one dataset never mixes
    vectors of two sources."""
    chosen = {key: choose_source(source, part, kind, tag) for key, part in parts.items()}
    handles = {key: handle for key, (handle, _) in chosen.items() if handle is not None}
    if not parts:
        return None, "encode: no release part"
    if len(handles) == len(parts):
        return handles, next(iter(chosen.values()))[1]
    if handles:
        return None, (
            f"encode: {len(parts) - len(handles)} of {len(parts)} parts ship no {kind} vectors of {tag}, "
            "and one dataset never mixes two sources"
        )
    return None, next(iter(chosen.values()))[1]


def _open_array(handle: dict) -> np.ndarray:
    from laionet_assets.core.io.storage import is_remote
    from laionet_assets.core.releases.scan import filesystem

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
    name = array_name(handle)
    try:
        array = _open_array(handle)
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= array.shape[0]):
            raise ShippedEmbeddingError(
                f"{name}: has {array.shape[0]} rows, rows {rows.min()}–{rows.max()} were asked for"
            )
        order = np.argsort(rows, kind="stable")  # read in file order, return in asked order
        out = np.empty((rows.size, array.shape[1]), np.float32)
        out[order] = array[rows[order]]
        return out
    except ShippedEmbeddingError:
        raise
    except (OSError, ValueError, KeyError, EOFError) as exc:  # a truncated file, a bad header
        raise ShippedEmbeddingError(f"{name}: cannot be read ({type(exc).__name__}: {exc})") from exc


def array_name(handle: dict) -> str:
    """A shipped array as messages name it: its file, and the member of an ``.npz``."""
    return handle["path"] + (f" [{handle['key']}]" if handle.get("key") else "")


def vector_key(handle: dict) -> pl.Expr:
    """The key a shipped row's vector is cached under (``release:<file digest>:<row>``), from
    ``part_row``: one file's row is one vector, whichever dataset it belongs to."""
    digest = hashlib.sha1(f"{handle['path']}|{handle.get('key')}|{handle.get('size')}".encode()).hexdigest()
    return pl.format("release:{}:{}", pl.lit(digest[:16]), pl.col("part_row"))


def read_frame_rows(frame: pl.DataFrame, handles: dict[str, dict]) -> tuple[pl.DataFrame, np.ndarray, int]:
    """The shipped vectors of a frame's rows (columns ``release_part``, ``part_row``), read part by
    part from ``handles`` (part key → shipped array): the rows with a usable vector, with its
    ``vector_key``; their unit vectors in the same order; and how many rows were dropped because
    their vector is NaN or zero."""
    frames, blocks, dropped = [], [], 0
    for (part,), rows in frame.group_by(["release_part"], maintain_order=True):
        handle = handles[part]
        vectors = read_rows(handle, rows["part_row"].to_numpy())
        bad = unusable_rows(vectors)
        dropped += int(bad.sum())
        frames.append(rows.filter(pl.Series(~bad)).with_columns(vector_key=vector_key(handle)))
        blocks.append(unit_rows(vectors[~bad]))
    if not frames:
        return frame.with_columns(vector_key=pl.lit(None, pl.String)), np.zeros((0, 1), np.float32), 0
    return pl.concat(frames), np.concatenate(blocks), dropped


def unusable_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows that cannot be ranked: any NaN or infinity, or a zero vector."""
    finite = np.isfinite(vectors).all(axis=1)
    norms = np.linalg.norm(np.where(finite[:, None], vectors, 0), axis=1)
    return ~finite | (norms < 1e-6)


def parity(
    shipped: np.ndarray, encoded: np.ndarray, minimum: float = PARITY_MIN_COSINE, statistic: str = "min"
) -> dict:
    """Cosine of shipped and freshly encoded vectors of the same rows: passes when the ``statistic``
    (``min``: every row, for captions; ``median``: for images, whose URL may serve other bytes
    today than when the release was embedded) is at least ``minimum``."""
    if shipped.shape != encoded.shape:
        return {
            "passed": False,
            "reason": f"dimension {shipped.shape[1]} shipped vs {encoded.shape[1]} encoded",
        }
    cosine = np.einsum("ij,ij->i", unit_rows(shipped, allow_zero=True), unit_rows(encoded, allow_zero=True))
    if statistic not in ("min", "median"):
        raise ValueError(f"parity statistic {statistic!r}; expected min or median")
    return {
        "passed": bool(cosine.size and getattr(np, statistic)(cosine) >= minimum),
        "statistic": statistic,
        "rows": int(cosine.size),
        "min_cosine": round(float(cosine.min()), 5) if cosine.size else None,
        "mean_cosine": round(float(cosine.mean()), 5) if cosine.size else None,
        "median_cosine": round(float(np.median(cosine)), 5) if cosine.size else None,
        "minimum_required": minimum,
    }


def parity_sample(n: int, size: int = PARITY_SAMPLE, seed: int = 0) -> np.ndarray:
    """A seeded sample of row positions (sorted) for the parity check."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(n, size), replace=False)) if n else np.zeros(0, np.int64)
