"""ClusterNet's input, shared by training and inference: a fixed-size sample of a displayed plot
and two features per point.

The sample has ``sample_size`` points, seeded and chosen in coordinate-sorted order so that it
does not depend on the order of the input points; small plots are padded with duplicates, which
max pooling ignores. The features: the log distance to the 8th neighbour scaled by sqrt(points),
because perceived clusters follow visual density, and the log of how many points of the plot
the sample stands for (``plot_size_feature``): a sample of a dense plot looks like a sparse
plot, but people see the dense plot, whose chance gaps are smaller.
"""
from __future__ import annotations

import numpy as np
from sklearn.neighbors import KDTree

PLOT_SIZES = (100, 30_000)  # point counts training covers; the plot-size input is clipped to them


def sample_points(xy: np.ndarray, size: int, seed: int = 0, order: np.ndarray | None = None) -> np.ndarray:
    """``size`` indices into xy, seeded and independent of the order of the points: positions
    are drawn in coordinate-sorted order (``order``, computed when not given). Plots with fewer
    points keep all of them once and fill up with seeded duplicates."""
    n = len(xy)
    order = np.lexsort((xy[:, 1], xy[:, 0])) if order is None else order
    rng = np.random.default_rng(seed)
    if n >= size:
        pos = np.sort(rng.choice(n, size, replace=False))
    else:
        pos = np.concatenate([np.arange(n), rng.choice(n, size - n)])
    return order[pos]


def density_feature(xy: np.ndarray, k: int = 8) -> np.ndarray:
    """log(distance to the k-th other point * sqrt(n)): about constant for uniform density."""
    n = len(xy)
    if n < 2:
        return np.zeros(n, dtype=np.float32)
    k = min(k, n - 1)
    dist, _ = KDTree(xy).query(xy, k=k + 1)
    return np.log(dist[:, k] * np.sqrt(n) + 1e-3).astype(np.float32)


def plot_size_feature(n: int, size: int) -> float:
    """log(points in the plot / points in the sample), with the plot's count clipped to PLOT_SIZES."""
    return float(np.log(np.clip(n, *PLOT_SIZES) / size))


def prepare(xy_norm: np.ndarray, size: int, seed: int = 0, k: int = 8, order: np.ndarray | None = None):
    """Sample indices (size,), coordinates (size, 2) float32 and the features (size, 2): density
    and plot size."""
    idx = sample_points(xy_norm, size, seed, order)
    uniq, inverse = np.unique(idx, return_inverse=True)
    feat = np.empty((size, 2), dtype=np.float32)
    feat[:, 0] = density_feature(xy_norm[uniq], k)[inverse]
    feat[:, 1] = plot_size_feature(len(xy_norm), size)
    return idx, xy_norm[idx].astype(np.float32), feat
