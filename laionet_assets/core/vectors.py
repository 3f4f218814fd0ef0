"""Unit vectors: the one place rows of embeddings are scaled to length 1."""

from __future__ import annotations

import numpy as np


def unit_rows(x, dtype=None, allow_zero: bool = False) -> np.ndarray:
    """Each row of ``x`` divided by its Euclidean norm, computed in ``dtype`` (default: ``x``'s own).
    A zero row has no direction: a ValueError, or with ``allow_zero`` a row of NaN."""
    x = np.asarray(x, dtype=dtype)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        if not allow_zero:
            raise ValueError("an embedding is all zeros and has no direction")
        with np.errstate(invalid="ignore", divide="ignore"):
            return x / norms
    return x / norms
