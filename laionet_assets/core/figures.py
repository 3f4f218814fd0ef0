"""PNG figures a person can open (matplotlib, Agg backend). Writes are atomic."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import polars as pl


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    os.replace(tmp, path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def coverage_figure(similarities: np.ndarray, curve: pl.DataFrame, threshold: float, encoder: str, path: Path) -> Path:
    """Paper Fig. 3: (a) similarity density, (b) classes covered and (c) rows kept vs threshold."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    if len(similarities):
        axes[0].hist(similarities, bins=50, density=True, color="tab:blue", alpha=0.8)
    else:
        axes[0].text(0.5, 0.5, "no single-label candidates", ha="center", transform=axes[0].transAxes)
    axes[0].set(xlabel="caption ↔ synset text similarity", ylabel="density", title="(a) similarities")
    axes[1].plot(curve["threshold"], curve["classes_covered"], color="tab:green")
    axes[1].set(xlabel="threshold", ylabel="ImageNet classes covered", title="(b) class coverage")
    axes[2].plot(curve["threshold"], curve["rows_kept"], color="tab:orange")
    axes[2].set(xlabel="threshold", ylabel="rows kept", yscale="symlog", title="(c) dataset size")
    for ax in axes:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
    fig.suptitle(f"LAIONet selection by text similarity ({encoder}); dashed: threshold {threshold}")
    return _save(fig, path)


def class_frequency_figure(frequencies: pl.DataFrame, path: Path) -> Path:
    """Paper Fig. 4: relative class frequencies of LAIONet, classes sorted by frequency."""
    plt = _pyplot()
    present = frequencies.filter(pl.col("count") > 0)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.bar(np.arange(present.height), present["relative_frequency"].to_numpy(), width=1.0, color="tab:blue")
    ax.set(yscale="log", xlabel=f"class rank ({present.height} classes present)", ylabel="relative frequency",
           title="LAIONet class frequencies")
    top = "\n".join(f"{name}: {count}" for name, count in present.select("name", "count").head(5).iter_rows())
    if top:
        ax.text(0.98, 0.95, "most frequent\n" + top, transform=ax.transAxes, ha="right", va="top", fontsize=8,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.9})
    return _save(fig, path)
