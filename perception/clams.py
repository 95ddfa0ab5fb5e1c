"""CLAMS: cluster ambiguity of a scatterplot (Jeon et al., IEEE VIS 2023 / TVCG 2024).

Pipeline (../shared/docs/REFERENCES.md): full-covariance GMMs for k = 1..K, k at the knee
of the BIC curve; for each pair of components the 13 separability features and a
regressor's p(the pair is seen as one cluster); pairs kept where p > ``pair_threshold`` or
the means are Gabriel-graph neighbours; ambiguity = mean binary entropy (bits) of the kept p.

Speed (the paper reports 4.5-5.9 s per plot): the GMM sweep runs on a seeded subsample in
display coordinates, each k starts from the k-1 solution plus one component at the worst
explained point, and the sweep stops once BIC has risen ``patience`` times in a row.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from data import check_points, display_normalize
from data.normalize import display_transform

from . import separability
from .observers import DEFAULT_DISTRIBUTION, ObserverParams, simulate_observer

__all__ = ["CLAMS", "binary_entropy", "gabriel_pairs", "perceived_count"]


def binary_entropy(p) -> np.ndarray:
    """H(p) in bits: 0 for p in {0, 1}, 1 at p = 0.5."""
    p = np.clip(np.asarray(p, float), 1e-12, 1 - 1e-12)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def gabriel_pairs(points) -> np.ndarray:
    """(k, k) bool: i and j are Gabriel neighbours (no other point inside the circle on ij)."""
    points = np.asarray(points, float)
    centre = (points[:, None, :] + points[None, :, :]) / 2
    radius2 = np.sum((points[:, None, :] - points[None, :, :]) ** 2, axis=-1) / 4
    dist2 = np.sum((points[None, None, :, :] - centre[:, :, None, :]) ** 2, axis=-1)  # (i, j, l)
    k = len(points)
    others = ~np.eye(k, dtype=bool)[:, None, :] & ~np.eye(k, dtype=bool)[None, :, :]
    inside = (dist2 < radius2[:, :, None] - 1e-15) & others
    return ~inside.any(axis=-1) & ~np.eye(k, dtype=bool)


def _init_from_labels(pts, labels, k):
    """GMM starting parameters from a hard partition (every part gets at least a tiny covariance)."""
    weights, means, precisions = np.empty(k), np.empty((k, 2)), np.empty((k, 2, 2))
    floor = 1e-4 * np.eye(2) * max(float(np.ptp(pts, axis=0).max()) ** 2, 1e-12)
    for c in range(k):
        part = pts[labels == c]
        weights[c] = max(len(part), 1)
        means[c] = part.mean(axis=0) if len(part) else pts[c % len(pts)]
        cov = np.cov(part.T) if len(part) > 2 else np.zeros((2, 2))
        precisions[c] = np.linalg.inv(cov + floor)
    return dict(weights_init=weights / weights.sum(), means_init=means, precisions_init=precisions)


def perceived_count(pts) -> int:
    """Clusters the median simulated observer sees in display-normalized points (at least 1).

    This seeds the GMM's number of components, so CLAMS need not sweep k = 1..K: a plot
    of 50 visible blobs reads ~50 here, whatever a BIC knee would say. The observer keeps
    clusters down to 0.2% of the points (and 10 points) so that 100 clusters can be read.
    """
    median = DEFAULT_DISTRIBUTION
    params = ObserverParams(bandwidth=median.bandwidth_median, merge_threshold=median.threshold_median,
                            min_share=max(0.002, 10 / len(pts)), sparse_level=median.sparse_median)
    return max(1, int(simulate_observer(pts, params).max()) + 1)


def _candidates(k0: int) -> list[int]:
    """The neighbourhood of the perceived count that BIC chooses from (about +-15%, at least +-2)."""
    step = max(1, int(round(0.07 * k0)))
    return sorted({max(1, k0 + d * step) for d in (-2, -1, 0, 1, 2)})


class CLAMS(BaseEstimator):
    """Cluster ambiguity of a 2-D scatterplot, in [0, 1] (0 = one unambiguous reading).

    Parameters
    ----------
    sample_size : points per component the GMM fits use (seeded subsample, at least 2000
        points in all); the sample grows with the number of clusters read.
    reading_size : points of the density reading that seeds the number of components.
    pair_threshold : pairs with p(one cluster) above this are kept even if not Gabriel neighbours.
    model : path of a separability model (JSON); None = the shipped assets/separability.json.
    random_state : seed of the subsamples and the GMM fits.

    Fitted attributes: ``ambiguity_``, ``n_components_``, ``perceived_k_`` (the density
    reading's count), ``means_``, ``covariances_`` (data coordinates), ``weights_``,
    ``bic_`` (dict k -> BIC of the ks tried), ``pairs_`` (m, 2) kept component pairs,
    ``pair_probabilities_`` (m,) their p(one cluster), ``runtime_`` (seconds).
    """

    def __init__(self, sample_size=100, reading_size=5000, pair_threshold=0.5, model=None, random_state=0):
        self.sample_size = sample_size
        self.reading_size = reading_size
        self.pair_threshold = pair_threshold
        self.model = model
        self.random_state = random_state

    def _fit_k(self, pts, k, rng):
        """A full-covariance GMM with k components, started from a k-means partition."""
        labels = KMeans(k, n_init=1, max_iter=50, random_state=int(rng.integers(2**31))).fit(pts).labels_
        return GaussianMixture(k, covariance_type="full", tol=1e-3, max_iter=100, reg_covar=1e-6,
                               random_state=self.random_state, **_init_from_labels(pts, labels, k)).fit(pts)

    def _search(self, pts, k0, rng):
        """BIC over the neighbourhood of k0; while the best k sits on an edge of the ks tried, look beyond it."""
        k_cap = max(1, len(np.unique(pts, axis=0)) // 3)  # three distinct points per component at least
        fits, ks = {}, _candidates(min(k0, k_cap))
        while True:
            for k in ks:
                if k <= k_cap and k not in fits:
                    fits[k] = self._fit_k(pts, k, rng)
            bic = {k: g.bic(pts) for k, g in fits.items()}
            best = min(bic, key=bic.get)
            beyond = [k for k in _candidates(best) if k not in fits and k <= k_cap
                      and (k > max(bic) if best == max(bic) else k < min(bic) if best == min(bic) else False)]
            if not beyond:
                return fits[best], bic
            ks = beyond

    def fit(self, X, y=None):
        start = time.perf_counter()
        xy = check_points(X)
        n = len(xy)
        rng = np.random.default_rng(self.random_state)
        self.ambiguity_, self.pairs_, self.pair_probabilities_ = 0.0, np.zeros((0, 2), np.int64), np.zeros(0)
        self.bic_ = {}
        if len(np.unique(xy[: 10_000], axis=0)) < 3 and len(np.unique(xy, axis=0)) < 3:
            # a point or two: one component, nothing to be ambiguous about
            self.n_components_ = self.perceived_k_ = 1
            self.means_, self.weights_ = xy.mean(axis=0, keepdims=True), np.ones(1)
            self.covariances_ = np.cov(xy.T, bias=True).reshape(1, 2, 2)
            self.runtime_ = time.perf_counter() - start
            return self
        centre, span = display_transform(xy)  # to map the components back to data units
        pts = display_normalize(xy)
        with threadpool_limits(1):  # tiny problems: thread start-up costs more than it saves
            reading = pts[rng.choice(n, self.reading_size, replace=False)] if n > self.reading_size else pts
            self.perceived_k_ = perceived_count(reading)
            m = max(2000, self.sample_size * self.perceived_k_)  # enough points for every cluster read
            sample = pts[rng.choice(n, m, replace=False)] if n > m else pts
            gmm, self.bic_ = self._search(sample, self.perceived_k_, rng)
        k = gmm.n_components
        self.n_components_ = k
        self.weights_ = gmm.weights_
        self.means_ = gmm.means_ * span + centre
        with np.errstate(over="ignore"):  # at magnitudes near 1e300 the data-unit covariance is inf
            self.covariances_ = gmm.covariances_ * np.float64(span) ** 2
        if k > 1:
            model = separability.default_model() if self.model is None else separability.load(Path(self.model))
            i, j = np.triu_indices(k, 1)
            pairs = np.column_stack([i, j])
            p = model.predict(separability.pair_features(gmm.means_, gmm.covariances_, gmm.weights_, pairs))
            keep = (p > self.pair_threshold) | gabriel_pairs(gmm.means_)[i, j]
            self.pairs_, self.pair_probabilities_ = pairs[keep], p[keep]
            self.ambiguity_ = float(np.mean(binary_entropy(self.pair_probabilities_)))
        self.runtime_ = time.perf_counter() - start
        return self

    def score(self, X, y=None) -> float:
        """Fit on X and return its ambiguity."""
        return self.fit(X).ambiguity_
