"""Which firms qualify: the top share of points (2024: 13.7%) or everyone at or above a points cut-off."""

from __future__ import annotations

import numpy as np


def qualified_mask(points: np.ndarray, *, share: float | None = None,
                   cutoff: float | None = None) -> np.ndarray:
    """Boolean mask of qualified firms: by points cut-off when given, else by top share (ties included)."""
    points = np.asarray(points, dtype="float64")
    if cutoff is not None:
        return points >= cutoff
    if share is None:
        raise ValueError("give a share or a cutoff")
    from innopoints.models.evaluation.metrics import top_mask  # here: scoring a file must not load scikit-learn

    return top_mask(points, share)[0]
