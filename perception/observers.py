"""Simulated observers: crowd-style point-wise cluster labelings from a perceptual density model.

No human training labelings can be downloaded here, so this is an explicit, documented
stand-in (docs/perception.md). The model follows Quadri & Rosen (TVCG 2021): people see
clusters as the modes of the plot's visual density, a kernel density at a perceptual
bandwidth relative to the displayed extent; two modes are seen as one when the dip
between them is shallow (topological persistence below a threshold). On top of that an
observer ignores clusters holding less than a minimum share of the largest cluster's points
(a share of the whole plot would hide every cluster of a plot of 50 equal blobs) and leaves
points in sparse tails unlabelled, as annotators who lasso clusters do (CLAMS' study,
Jeon et al. VIS 2023). Each observer draws bandwidth, merge threshold, minimum share and
sparse level from ``ObserverDistribution``, which is what makes simulated people disagree.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.ndimage import gaussian_filter

from data import display_normalize

from .agreement import consensus

__all__ = ["ObserverParams", "ObserverDistribution", "DEFAULT_DISTRIBUTION", "simulate_observer",
           "simulate_crowd", "see_curves_whole", "CURVES", "OUTLINES", "benchmark_agreement",
           "calibrate_observers", "GRID"]

GRID = 128  # density grid cells per side over the displayed square
_PAD = 0.05  # margin around [-0.5, 0.5]^2 so kernels near the plot's edge are not cut off
_FLOOR = 1e-3  # density below this fraction of the plot's peak is empty background


@dataclass(frozen=True)
class ObserverParams:
    """One observer. Lengths are fractions of the displayed plot's larger side."""

    bandwidth: float  # Gaussian kernel sigma of the perceived density
    merge_threshold: float  # modes merge when (peak - saddle) / peak is below this
    min_share: float  # clusters with fewer points than this share of the largest one are ignored (-1)
    sparse_level: float  # points below this fraction of their cluster's peak stay unlabelled


@dataclass(frozen=True)
class ObserverDistribution:
    """Distributions the observers' parameters are drawn from (log-normal, given median and spread).

    ``*_median`` is the population median, ``*_spread`` the sigma of its logarithm. The
    medians were chosen by the grid search in docs/perception.md; spreads are fixed.
    """

    bandwidth_median: float = 0.025
    bandwidth_spread: float = 0.35
    threshold_median: float = 0.35
    threshold_spread: float = 0.4
    min_share_median: float = 0.03
    min_share_spread: float = 0.5
    sparse_median: float = 0.02
    sparse_spread: float = 0.5

    def sample(self, rng: np.random.Generator) -> ObserverParams:
        def draw(median, spread, hi):
            return float(min(median * np.exp(spread * rng.standard_normal()), hi))

        return ObserverParams(
            bandwidth=draw(self.bandwidth_median, self.bandwidth_spread, 0.25),
            merge_threshold=draw(self.threshold_median, self.threshold_spread, 0.95),
            min_share=draw(self.min_share_median, self.min_share_spread, 0.3),
            sparse_level=draw(self.sparse_median, self.sparse_spread, 0.5),
        )


DEFAULT_DISTRIBUTION = ObserverDistribution()


@njit(cache=True)
def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def _persistence_components(density, threshold, floor):
    """Superlevel-set components of a grid density, merged when their relative persistence is low.

    Cells are added from the highest density down (8-connected). Where a cell joins several
    components, each younger one (lower peak) merges into the oldest if
    (peak - saddle) / peak < threshold; otherwise it stays a separate mode for good.
    Returns each cell's root (-1 for background) and each root's peak density.
    """
    h, w = density.shape
    flat = density.ravel()
    order = np.argsort(-flat)
    parent = np.full(h * w, -1, np.int64)
    peak = np.zeros(h * w)
    for idx in order:
        d = flat[idx]
        if d < floor:
            break
        r, c = idx // w, idx % w
        best = -1
        for dr in range(-1, 2):
            for dc in range(-1, 2):
                rr, cc = r + dr, c + dc
                if (dr == 0 and dc == 0) or rr < 0 or rr >= h or cc < 0 or cc >= w:
                    continue
                nb = rr * w + cc
                if parent[nb] < 0:
                    continue
                root = _find(parent, nb)
                if best < 0:
                    best = root
                elif root != best:
                    young, old = (root, best) if peak[root] < peak[best] else (best, root)
                    if (peak[young] - d) / peak[young] < threshold:
                        parent[young] = old
                        best = old
                    elif peak[root] > peak[best]:
                        best = root  # the cell itself belongs to the higher mode
        if best < 0:
            parent[idx] = idx
            peak[idx] = d
        else:
            parent[idx] = best
    roots = np.full(h * w, -1, np.int64)
    for i in range(h * w):
        if parent[i] >= 0:
            roots[i] = _find(parent, i)
    return roots, peak


def _grid(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Point histogram on the display grid and each point's flat cell index."""
    norm = display_normalize(xy)
    lo, hi = -0.5 - _PAD, 0.5 + _PAD
    cells = np.clip(((norm - lo) / (hi - lo) * GRID).astype(np.int64), 0, GRID - 1)
    flat = cells[:, 0] * GRID + cells[:, 1]
    hist = np.bincount(flat, minlength=GRID * GRID).reshape(GRID, GRID).astype(np.float64)
    return hist, flat


def _label(hist: np.ndarray, cell: np.ndarray, params: ObserverParams) -> np.ndarray:
    sigma = params.bandwidth * GRID / (1 + 2 * _PAD)
    density = gaussian_filter(hist, sigma, mode="constant", truncate=3.0)
    roots, peak = _persistence_components(density, params.merge_threshold, _FLOOR * density.max())
    point_root = roots[cell]
    point_density = density.ravel()[cell]
    labels = np.full(len(cell), -1, np.int64)
    seen = point_root >= 0
    seen &= point_density >= params.sparse_level * peak[np.maximum(point_root, 0)]
    ids, inverse, counts = np.unique(point_root[seen], return_inverse=True, return_counts=True)
    # small relative to the most salient cluster, not to the plot: 50 equal blobs are 50 clusters
    big = counts >= params.min_share * (counts.max() if len(counts) else 0)
    # number the kept clusters 0..k-1, largest first, so labelings read alike across observers
    rank = np.full(len(ids), -1, np.int64)
    order = np.argsort(-counts, kind="stable")
    order = order[big[order]]
    rank[order] = np.arange(len(order))
    labels[seen] = rank[inverse]
    return labels


def simulate_observer(xy, params: ObserverParams) -> np.ndarray:
    """One observer's labeling of the points (n,): cluster ids 0..k-1, -1 = left unlabelled."""
    hist, cell = _grid(np.asarray(xy, dtype=np.float64))
    return _label(hist, cell, params)


def simulate_crowd(xy, n_observers: int = 20, seed: int = 0,
                   distribution: ObserverDistribution = DEFAULT_DISTRIBUTION) -> np.ndarray:
    """Labelings of ``n_observers`` simulated people, (n_observers, n); -1 = unlabelled.

    Deterministic for a given ``seed``; observers differ through their drawn parameters.
    """
    hist, cell = _grid(np.asarray(xy, dtype=np.float64))
    rng = np.random.default_rng(seed)
    return np.stack([_label(hist, cell, distribution.sample(rng)) for _ in range(n_observers)])


CURVES = ("arc", "segment", "wave", "walk")  # thin paths among data.generate.scene's primitives
OUTLINES = ("ring", "frame")  # closed outlines among them


def see_curves_whole(labelings: np.ndarray, plot) -> np.ndarray:
    """Labelings (m, n) of a drawn scene in which every thin curve and closed outline is one
    cluster of its own.

    Gestalt good continuation and closure: people follow a thin path or a ring through a
    crossing and past a shape it touches, where the density model merges what touches and
    cuts at sparse stretches.
    Applies to plots from ``data.generate.scene`` (``plot.meta["primitives"]`` names each
    label's kind); other plots' labelings are returned unchanged.
    """
    kinds = plot.meta.get("primitives") if plot.labels is not None else None
    if not kinds:
        return labelings
    out = np.array(labelings, dtype=np.int64, copy=True)
    parts = plot.reference_labels
    base = max(int(out.max()), -1) + 1  # curve ids after every observer's own ids
    for part, kind in enumerate(kinds):
        if kind in CURVES + OUTLINES:
            out[:, parts == part] = base + part
    return out


def benchmark_agreement(folder, distribution: ObserverDistribution = DEFAULT_DISTRIBUTION,
                        n_observers: int = 20, seed: int = 0):
    """Per human-labelled set in ``folder``: AMI of the crowd's majority labeling with ``labels0``.

    Points the human reference marks as noise are left out of the comparison.
    Returns a pandas DataFrame with columns name, n, human_k, crowd_k, ami.
    """
    import pandas as pd
    from sklearn.metrics import adjusted_mutual_info_score

    from data import benchmark_names, load_benchmark

    rows = []
    for name in benchmark_names(folder):
        plot = load_benchmark(folder, name)
        human = plot.reference_labels
        crowd = consensus(simulate_crowd(plot.xy, n_observers, seed, distribution))[0]
        keep = human >= 0
        rows.append(dict(name=name, n=len(plot), human_k=len(np.unique(human[keep])),
                         crowd_k=len(np.unique(crowd[crowd >= 0])),
                         ami=adjusted_mutual_info_score(human[keep], crowd[keep])))
    return pd.DataFrame(rows)


def calibrate_observers(folder, bandwidths=(0.015, 0.025, 0.04), thresholds=(0.2, 0.35, 0.5),
                        min_shares=(0.01, 0.03), n_observers: int = 20, seed: int = 0):
    """Grid search of the distribution medians on human labelings: one row per setting.

    Columns: bandwidth_median, threshold_median, min_share_median, mean_ami (over the sets).
    Spreads and the sparse level keep their defaults, so only three numbers are fitted.
    """
    import itertools

    import pandas as pd

    rows = []
    for bw, thr, share in itertools.product(bandwidths, thresholds, min_shares):
        dist = ObserverDistribution(bandwidth_median=bw, threshold_median=thr, min_share_median=share)
        ami = benchmark_agreement(folder, dist, n_observers, seed)["ami"].mean()
        rows.append(dict(bandwidth_median=bw, threshold_median=thr, min_share_median=share, mean_ami=ami))
    return pd.DataFrame(rows).sort_values("mean_ami", ascending=False, ignore_index=True)
