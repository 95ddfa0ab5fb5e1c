"""Parameter-free defaults for a 2-D scatterplot: the number of clusters and DBSCAN's eps."""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

MAX_K = 10
SAMPLE = 2000


def subsample(xy: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Indices of a seeded uniform subsample (all indices when the plot is small)."""
    if len(xy) <= size:
        return np.arange(len(xy))
    return np.sort(np.random.default_rng(seed).choice(len(xy), size, replace=False))


def k_by_silhouette(xy: np.ndarray, max_k: int = MAX_K, seed: int = 0) -> int:
    """k in 2..max_k with the best silhouette of k-means on a subsample."""
    sample = xy[subsample(xy, SAMPLE, seed)]
    n_unique = len(np.unique(sample, axis=0))
    best_k, best = 2, -np.inf
    for k in range(2, min(max_k, n_unique - 1) + 1):
        labels = KMeans(k, n_init=3, random_state=seed).fit_predict(sample)
        if len(np.unique(labels)) < 2:
            continue
        score = silhouette_score(sample, labels)
        if score > best:
            best_k, best = k, score
    return best_k


def k_by_bic(xy: np.ndarray, max_k: int = MAX_K, seed: int = 0) -> int:
    """k in 1..max_k with the lowest BIC of a full-covariance GMM on a subsample."""
    sample = xy[subsample(xy, SAMPLE, seed)]
    bics = []
    for k in range(1, min(max_k, len(sample) // 3) + 1):
        gmm = GaussianMixture(k, covariance_type="full", random_state=seed, reg_covar=1e-6).fit(sample)
        bics.append(gmm.bic(sample))
    return int(np.argmin(bics)) + 1


def knee(values: np.ndarray) -> int:
    """Index of the knee of an increasing curve: the point farthest below its chord."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 3 or values[-1] == values[0]:
        return n // 2
    x = np.linspace(0, 1, n)
    y = (values - values[0]) / (values[-1] - values[0])
    return int(np.argmax(x - y))


def eps_by_k_distance(xy: np.ndarray, min_samples: int, seed: int = 0) -> float:
    """DBSCAN eps at the knee of the sorted k-distance curve (Ester et al. 1996)."""
    sample = xy[subsample(xy, 5 * SAMPLE, seed)]
    k = min(min_samples, len(sample) - 1)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(sample).kneighbors(sample)
    kdist = np.sort(dist[:, -1])
    # The knee itself sits at the edge of the densest cores; 1.5x keeps clusters' fringes in.
    eps = 1.5 * float(kdist[knee(kdist)])
    if eps <= 0:
        eps = float(kdist[kdist > 0][0]) if np.any(kdist > 0) else 1e-9
    return eps * np.sqrt(len(sample) / len(xy)) if len(xy) > len(sample) else eps


def k_by_dendrogram_gap(heights: np.ndarray, max_k: int = 20, min_ratio: float = 2.0) -> int:
    """Clusters to keep from a dendrogram: cut at the largest relative jump in merge height.

    Returns 1 when no jump among the last ``max_k`` merges exceeds ``min_ratio``.
    """
    h = np.sort(np.asarray(heights, dtype=float))
    tail = h[-(max_k + 1):]
    if len(tail) < 2:
        return 1
    ratios = tail[1:] / np.maximum(tail[:-1], 1e-12)
    best = int(np.argmax(ratios))
    if ratios[best] < min_ratio:
        return 1
    return len(tail) - best
