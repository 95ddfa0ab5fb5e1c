"""Coordinates as a person sees the plot: equal aspect, fitted to the unit square."""
from __future__ import annotations

import numpy as np


def display_transform(xy: np.ndarray) -> tuple[np.ndarray, float]:
    """(centre, span) of the equal-aspect display: display = xy / span - centre / span."""
    xy = np.asarray(xy, dtype=np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    centre = lo / 2 + hi / 2  # avoids overflow of (lo + hi) at extreme magnitudes
    return centre, float(np.max(hi / 2 - lo / 2)) * 2


def display_normalize(xy: np.ndarray) -> np.ndarray:
    """Shift to the bounding box's centre and divide by its larger side (equal aspect).

    Both axes share one scale, as on a plot drawn with equal aspect, so distances keep
    the proportions a viewer sees; the result lies in [-0.5, 0.5]^2.
    """
    xy = np.asarray(xy, dtype=np.float64)
    centre, span = display_transform(xy)
    if not np.isfinite(span) or span <= 0:
        return np.zeros_like(xy)
    return (xy / span) - (centre / span)
