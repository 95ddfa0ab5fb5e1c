"""Checks that turn raw arrays into a valid point set, or a message a person understands."""
from __future__ import annotations

import numpy as np

from .scatterplot import InvalidScatterplot

MIN_POINTS = 3


def clean_points(xy, labels=None, strict: bool = False, meta: dict | None = None):
    """Return finite float64 points (and matching labels), dropping NaN/inf rows.

    Dropped rows are counted in ``meta['dropped_nonfinite']`` and their input positions listed in
    ``meta['dropped_rows']`` (so writers can give back one row per input row); with ``strict`` they raise.
    """
    try:
        xy = np.asarray(xy, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidScatterplot(f"the coordinates are not numbers ({exc})") from None
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise InvalidScatterplot(f"expected two columns of coordinates, got shape {xy.shape}")
    if len(xy) == 0:
        raise InvalidScatterplot("the data has no points")
    finite = np.isfinite(xy).all(axis=1)
    dropped = int((~finite).sum())
    if dropped:
        if strict:
            raise InvalidScatterplot(f"{dropped} point(s) have missing or infinite coordinates")
        xy = xy[finite]
        if labels is not None:
            labels = np.asarray(labels)[..., finite]
    if meta is not None:
        meta["dropped_nonfinite"] = dropped
        meta["dropped_rows"] = np.flatnonzero(~finite).tolist()
    if len(xy) == 0:
        raise InvalidScatterplot("no point has finite coordinates (all are missing, NaN or infinite)")
    if len(xy) < MIN_POINTS:
        raise InvalidScatterplot(f"a scatterplot needs at least {MIN_POINTS} points, got {len(xy)}")
    span = xy.max(axis=0) - xy.min(axis=0)
    if not np.any(span > 0):
        raise InvalidScatterplot("all points are identical, so there is nothing to cluster")
    if not np.all(np.isfinite(span)):
        raise InvalidScatterplot("the coordinates span a range too large to represent")
    return xy, labels


class InvalidParameter(ValueError):
    """A hyperparameter outside what an estimator accepts; the message names the parameter."""


def check_points(X, min_points: int = 1) -> np.ndarray:
    """The one input check of every model (the analogue of scikit-learn's ``check_array``).

    ``X``: a ``Scatterplot``, a DataFrame or an array-like of shape (n, 2). Returns C-contiguous
    float64 points. Unlike ``clean_points`` (for loaders, which may drop rows), nothing is
    dropped here: a model must give one label per input row, so NaN or infinite coordinates,
    a wrong shape or too few points raise ``InvalidScatterplot`` with a one-line message.
    Identical points are valid (models call them one cluster).
    """
    X = getattr(X, "xy", X)
    if hasattr(X, "to_numpy"):
        X = X.to_numpy()
    if hasattr(X, "toarray"):
        raise InvalidScatterplot("sparse input is not supported: pass a dense array of points")
    if np.iscomplexobj(X):
        raise InvalidScatterplot("Complex data not supported: coordinates must be real numbers")
    try:
        xy = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidScatterplot(f"the coordinates are not numbers ({exc})") from None
    if xy.ndim != 2:
        raise InvalidScatterplot(f"expected a 2-D array of points of shape (n, 2), got shape {xy.shape}")
    if xy.shape[1] == 0:
        raise InvalidScatterplot(f"0 feature(s) (shape={xy.shape}) while a minimum of 2 is required: "
                                 "a scatterplot needs x and y")
    if len(xy) < max(min_points, 1):
        raise InvalidScatterplot(f"a scatterplot needs at least {max(min_points, 1)} point(s), got {len(xy)}")
    bad = int((~np.isfinite(xy).all(axis=1)).sum())
    if bad:
        raise InvalidScatterplot(f"{bad} point(s) have NaN or infinite coordinates; drop or fill them first "
                                 "(data.load drops and counts them)")
    if xy.shape[1] != 2:
        raise InvalidScatterplot(f"expected points with 2 coordinates (x, y), got {xy.shape[1]} feature(s): "
                                 f"array of shape {xy.shape}")
    return np.ascontiguousarray(xy)
