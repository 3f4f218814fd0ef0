"""ImageNet-Captions (Fang et al. 2022) and the paper's §4.2: can text alone explain selection?

``load_imagenet_captions`` reads the release's JSON list of ``{filename, wnid, title,
description, tags}`` (a local path or any fsspec URL).  The text of an image is its title, tags
and description joined by spaces (tags may be a list or a string); entries that are not objects,
lack a known wnid, or have no text are dropped and counted by reason; a filename seen before is a
duplicate, dropped and counted.

``synset_rank_stats`` gives, per text, its similarity to its own synset text and the number of
the other 999 synset texts that are more similar (one chunked matrix product of unit vectors;
never a 1000-column frame), and ``binned_proportions`` the paper's Fig. 9(b): per bin of the
intended similarity, the mean proportion of unintended synsets more similar, with a 95% interval.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import polars as pl

Z95 = 1.959963984540054
CAPTIONS_SCHEMA = {"filename": pl.String, "wnid": pl.String, "text": pl.String}


def _open(source: str):
    import fsspec

    return fsspec.open(source, "rt", encoding="utf-8").open()


def _join(*parts) -> str:
    out = []
    for part in parts:
        if isinstance(part, (list, tuple)):
            part = " ".join(str(p) for p in part if p is not None)
        if part is not None and str(part).strip():
            out.append(" ".join(str(part).split()))
    return " ".join(out)


def load_imagenet_captions(source: str, imagenet_wnids: Sequence[str]) -> tuple[pl.DataFrame, dict]:
    """``filename``, ``wnid``, ``text`` per image, and counts of what was dropped and why."""
    try:
        with _open(source) as f:
            entries = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(
            f"{source}: not a readable ImageNet-Captions JSON file ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(entries, list):
        raise ValueError(f"{source}: expected a JSON list of entries, found {type(entries).__name__}")
    known = set(imagenet_wnids)
    counts = {
        "entries": len(entries),
        "dropped_not_an_object": 0,
        "dropped_unknown_wnid": 0,
        "dropped_no_text": 0,
        "dropped_duplicate_filename": 0,
    }
    seen: set[str] = set()
    rows = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            counts["dropped_not_an_object"] += 1
            continue
        if entry.get("wnid") not in known:
            counts["dropped_unknown_wnid"] += 1
            continue
        text = _join(entry.get("title"), entry.get("tags"), entry.get("description"))
        if not text:
            counts["dropped_no_text"] += 1
            continue
        if entry["filename"] in seen:
            counts["dropped_duplicate_filename"] += 1
            continue
        seen.add(entry["filename"])
        rows.append((entry["filename"], entry["wnid"], text))
    frame = pl.DataFrame(rows, schema=CAPTIONS_SCHEMA, orient="row")
    counts["rows"] = frame.height
    counts["classes"] = frame["wnid"].n_unique()
    return frame, counts


def synset_rank_stats(
    texts: np.ndarray, synsets: np.ndarray, intended: np.ndarray, chunk: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Per text (unit rows): similarity to its intended synset, and how many other synsets are
    strictly more similar.  ``intended`` holds row indices into ``synsets``."""
    n = texts.shape[0]
    intended_sim = np.empty(n, dtype=np.float32)
    more_similar = np.empty(n, dtype=np.int64)
    for start in range(0, n, chunk):
        block = texts[start : start + chunk] @ synsets.T  # [chunk, 1000]
        rows = np.arange(block.shape[0])
        own = block[rows, intended[start : start + chunk]]
        intended_sim[start : start + chunk] = own
        more_similar[start : start + chunk] = (block > own[:, None]).sum(axis=1)
    return intended_sim, more_similar


def binned_proportions(
    intended_similarity: np.ndarray, proportion: np.ndarray, edges: np.ndarray
) -> pl.DataFrame:
    """Per bin [edge_i, edge_i+1) of intended similarity: n, mean proportion, sd and the 95%
    interval of the mean (mean ± 1.96·sd/√n; a single text gives no interval)."""
    frame = pl.DataFrame({"s": intended_similarity.astype(np.float64), "p": proportion.astype(np.float64)})
    index = np.clip(np.searchsorted(edges, frame["s"].to_numpy(), side="right") - 1, 0, len(edges) - 2)
    stats = (
        frame.with_columns(bin=pl.Series(index))
        .group_by("bin")
        .agg(n=pl.len(), mean=pl.col("p").mean(), sd=pl.col("p").std(ddof=1))
    )
    bins = pl.DataFrame({"bin": np.arange(len(edges) - 1), "low_edge": edges[:-1], "high_edge": edges[1:]})
    out = bins.join(stats, on="bin", how="left").with_columns(pl.col("n").fill_null(0).cast(pl.Int64))
    half = Z95 * out["sd"] / out["n"].cast(pl.Float64).sqrt()
    return out.with_columns(ci_low=out["mean"] - half, ci_high=out["mean"] + half).drop("bin")
