"""How hard is it to see the synset in an image? (paper Appendix D, Fig. 17)

The image-to-synset similarity of an image is the cosine similarity of its CLIP image embedding
and the CLIP text embedding of its class's synset text.  Per class, the mean over images with a
95% interval (mean ± 1.96·sd/√n: one value per image, independent images), and LAIONet's class
mean minus ImageNet's with the interval of the difference (``stats.compare_classes``).  The
pooled distributions (Fig. 17a) resample LAIONet per class, with replacement, to ImageNet's
number of images (``stats.matched_resample``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from laionet_assets.core.analysis.stats import Z95

PER_CLASS_SCHEMA = {
    "wnid": pl.String,
    "n": pl.Int64,
    "mean": pl.Float64,
    "sd": pl.Float64,
    "se": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
}


def image_synset_similarity(
    images: np.ndarray, labels: Sequence[str], synsets: np.ndarray, synset_wnids: Sequence[str]
) -> np.ndarray:
    """Per image (unit rows of ``images``), cosine similarity to the synset text of its label."""
    row = {w: i for i, w in enumerate(synset_wnids)}
    unknown = sorted({str(w) for w in labels if w not in row})
    if unknown:
        raise ValueError(f"{len(unknown)} image labels have no synset text, e.g. {unknown[:3]}")
    index = np.fromiter((row[w] for w in labels), dtype=np.int64, count=len(labels))
    return np.einsum("ij,ij->i", images, synsets[index]) if len(index) else np.zeros(0)


def per_class_means(values: np.ndarray, labels: Sequence[str]) -> pl.DataFrame:
    """Per class: n, mean, sd (n − 1), se = sd/√n and the 95% interval of the mean (``PER_CLASS_SCHEMA``)."""
    frame = pl.DataFrame(
        {"wnid": pl.Series(list(labels), dtype=pl.String), "v": np.asarray(values, dtype=np.float64)}
    )
    out = frame.group_by("wnid").agg(
        n=pl.len(), mean=pl.col("v").mean(), sd=pl.col("v").std(ddof=1).fill_null(float("nan"))
    )  # one image: no sd
    out = out.with_columns(se=pl.col("sd") / pl.col("n").cast(pl.Float64).sqrt())
    return (
        out.with_columns(
            ci_low=pl.col("mean") - Z95 * pl.col("se"), ci_high=pl.col("mean") + Z95 * pl.col("se")
        )
        .select(list(PER_CLASS_SCHEMA))
        .cast(PER_CLASS_SCHEMA)
        .sort("wnid")
    )


def synset_matrix(synset_embeddings: pl.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The synset-text embeddings table (``wnid``, ``embedding``) as a [k, dim] matrix and its wnids."""
    if synset_embeddings.is_empty():
        return np.zeros((0, 1), dtype=np.float32), []
    matrix = np.asarray(synset_embeddings["embedding"].to_list(), dtype=np.float32)
    return matrix, synset_embeddings["wnid"].to_list()
