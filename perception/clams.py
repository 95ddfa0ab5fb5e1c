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

from data import Scatterplot, display_normalize
from data.normalize import display_transform
from data.validate import clean_points

from . import separability

__all__ = ["CLAMS", "binary_entropy", "bic_knee", "gabriel_pairs"]


def binary_entropy(p) -> np.ndarray:
    """H(p) in bits: 0 for p in {0, 1}, 1 at p = 0.5."""
    p = np.clip(np.asarray(p, float), 1e-12, 1 - 1e-12)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def bic_knee(bic) -> int:
    """k (1-based) at the knee of a BIC curve, Kneedle-style on the decreasing part.

    The curve up to its minimum is scaled to the unit square; the knee is the k farthest
    below the chord from k = 1 to the minimum. Where no k lies clearly below the chord
    (< 0.05 in scaled units, e.g. only two points), the minimum itself is taken.
    """
    bic = np.asarray(bic, float)
    k_min = int(np.argmin(bic)) + 1
    if k_min <= 2:
        return k_min
    y = bic[:k_min]
    x = np.linspace(0.0, 1.0, k_min)
    y_n = (y - y.min()) / max(y.max() - y.min(), 1e-12)
    gap = (1.0 - x) - y_n
    best = int(np.argmax(gap))
    return best + 1 if gap[best] > 0.05 else k_min


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


class CLAMS(BaseEstimator):
    """Cluster ambiguity of a 2-D scatterplot, in [0, 1] (0 = one unambiguous reading).

    Parameters
    ----------
    max_components : largest k of the GMM sweep; None = ceil(sqrt(n)) capped at 15.
    pair_threshold : pairs with p(one cluster) above this are kept even if not Gabriel neighbours.
    sample_size : the GMM sweep runs on at most this many points (seeded subsample).
    patience : the sweep stops after BIC rose this many times in a row past its minimum.
    model : path of a separability model (JSON); None = the shipped assets/separability.json.
    random_state : seed of the subsample and the GMM fits.

    Fitted attributes: ``ambiguity_``, ``n_components_``, ``means_``, ``covariances_`` (data
    coordinates), ``weights_``, ``bic_`` (per k tried), ``pairs_`` (m, 2) kept component
    pairs, ``pair_probabilities_`` (m,) their p(one cluster), ``runtime_`` (seconds).
    """

    def __init__(self, max_components=None, pair_threshold=0.5, sample_size=2000, patience=3,
                 model=None, random_state=0):
        self.max_components = max_components
        self.pair_threshold = pair_threshold
        self.sample_size = sample_size
        self.patience = patience
        self.model = model
        self.random_state = random_state

    def _sweep(self, pts, k_max):
        """Fit k = 1..k_max; each k starts from k-means seeded with the k-1 means plus the worst explained point."""
        models, bic = [], []
        for k in range(1, k_max + 1):
            if models:
                prev = models[-1]
                seeds = np.vstack([prev.means_, pts[np.argmin(prev.score_samples(pts))]])
                labels = KMeans(k, init=seeds, n_init=1, max_iter=50).fit(pts).labels_
            else:
                labels = np.zeros(len(pts), dtype=np.int64)
            gmm = GaussianMixture(k, covariance_type="full", tol=1e-3, max_iter=200, reg_covar=1e-6,
                                  init_params="random_from_data", random_state=self.random_state,
                                  **_init_from_labels(pts, labels, k)).fit(pts)
            models.append(gmm)
            bic.append(gmm.bic(pts))
            if k - (int(np.argmin(bic)) + 1) >= self.patience:
                break
        return models, np.asarray(bic)

    def fit(self, X, y=None):
        start = time.perf_counter()
        xy = X.xy if isinstance(X, Scatterplot) else X
        xy, _ = clean_points(xy)
        n = len(xy)
        centre, span = display_transform(xy)  # to map the components back to data units
        pts = display_normalize(xy)
        rng = np.random.default_rng(self.random_state)
        if n > self.sample_size:
            pts = pts[rng.choice(n, self.sample_size, replace=False)]
        k_max = int(self.max_components or min(15, int(np.ceil(np.sqrt(n)))))
        k_max = max(1, min(k_max, len(np.unique(pts, axis=0)) - 1))
        with threadpool_limits(1):  # tiny problems: thread start-up costs more than it saves
            models, self.bic_ = self._sweep(pts, k_max)
        gmm = models[bic_knee(self.bic_) - 1]
        k = gmm.n_components
        self.n_components_ = k
        self.weights_ = gmm.weights_
        self.means_ = gmm.means_ * span + centre
        with np.errstate(over="ignore"):  # at magnitudes near 1e300 the data-unit covariance is inf
            self.covariances_ = gmm.covariances_ * np.float64(span) ** 2
        if k == 1:
            self.pairs_ = np.zeros((0, 2), dtype=np.int64)
            self.pair_probabilities_ = np.zeros(0)
            self.ambiguity_ = 0.0
        else:
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
