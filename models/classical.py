"""Classical clusterers behind one registry, each parameter-free by default for a 2-D plot.

Every clusterer follows scikit-learn's contract (``fit``/``fit_predict``, fitted attributes
ending in ``_``, noise = -1) and runs on the plot as a person sees it: equal-aspect
coordinates in the unit square. Methods that cannot handle large plots run on a seeded
subsample and give every other point the label of its nearest sampled neighbour.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.neighbors import KDTree
from threadpoolctl import threadpool_limits

from data import InvalidScatterplot, display_normalize

from . import autoparams as auto


SINGLE_THREAD_POINTS = 20_000


@dataclass(frozen=True)
class Param:
    """One tunable parameter, described for forms in the UI and the CLI."""

    name: str
    kind: type
    default: object = None  # None = chosen automatically from the data
    low: float | None = None
    high: float | None = None
    help: str = ""

    def check(self, value, method: str):
        """``value`` as this parameter's type (None stays None: chosen automatically), or
        InvalidScatterplot saying what is expected."""
        if value is None:
            return None
        what = f"{method} parameter {self.name} must be {'an integer' if self.kind is int else 'a number'}"
        bounds = f" from {self.low:g} to {self.high:g}" if self.low is not None and self.high is not None else ""
        try:
            number = self.kind(value)
            if isinstance(value, bool) or number != float(value):
                raise ValueError
        except (TypeError, ValueError):
            raise InvalidScatterplot(f"{what}{bounds}, got {value!r}") from None
        if bounds and not self.low <= number <= self.high:
            raise InvalidScatterplot(f"{what}{bounds}, got {value!r}")
        return number


@dataclass(frozen=True)
class ClustererSpec:
    name: str
    display_name: str
    fit: Callable[..., np.ndarray]  # (xy, seed, **params) -> labels
    params: tuple[Param, ...] = ()
    max_points: int | None = None  # above this, cluster a subsample and propagate
    noise: bool = False  # whether the method marks noise itself
    defaults: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "defaults", {p.name: p.default for p in self.params})


def _n_clusters(xy, k, seed, chooser=auto.k_by_silhouette):
    return int(k) if k else chooser(xy, seed=seed)


def _kmeans(xy, seed, k=None):
    from sklearn.cluster import KMeans

    return KMeans(_n_clusters(xy, k, seed), n_init=4, random_state=seed).fit_predict(xy)


def _kmedoids(xy, seed, k=None):
    import kmedoids

    model = kmedoids.KMedoids(_n_clusters(xy, k, seed), method="fasterpam", metric="euclidean",
                              random_state=seed)
    return model.fit_predict(xy)


def _min_size(xy, min_size):
    return int(min_size) if min_size else max(5, min(len(xy) // 100, 500))


def _dbscan(xy, seed, eps=None, min_samples=5):
    from sklearn.cluster import DBSCAN

    eps = float(eps) if eps else auto.eps_by_k_distance(xy, int(min_samples), seed)
    return DBSCAN(eps=eps, min_samples=int(min_samples)).fit_predict(xy)


def _hdbscan(xy, seed, min_cluster_size=None):
    import hdbscan

    return hdbscan.HDBSCAN(min_cluster_size=_min_size(xy, min_cluster_size)).fit_predict(xy)


def _optics(xy, seed, min_samples=10, xi=0.1, min_cluster_size=0.03):
    from sklearn.cluster import OPTICS

    return OPTICS(min_samples=min(int(min_samples), len(xy)), xi=float(xi),
                  min_cluster_size=float(min_cluster_size)).fit_predict(xy)


def _gmm(xy, seed, k=None):
    from sklearn.mixture import GaussianMixture

    k = _n_clusters(xy, k, seed, auto.k_by_bic)
    return GaussianMixture(k, covariance_type="full", random_state=seed, reg_covar=1e-6).fit_predict(xy)


def _agglomerative(method):
    def fit(xy, seed, k=None):
        tree = linkage(xy, method=method)
        clusters = int(k) if k else auto.k_by_dendrogram_gap(tree[:, 2])
        return fcluster(tree, clusters, criterion="maxclust") - 1
    return fit


def _spectral(xy, seed, k=None, n_neighbors=10):
    from sklearn.cluster import SpectralClustering

    n_neighbors = min(int(n_neighbors), len(xy) - 1)
    k = int(k) if k else _graph_k(xy, n_neighbors, seed)
    if k == 1:
        return np.zeros(len(xy), dtype=int)
    model = SpectralClustering(k, affinity="nearest_neighbors", n_neighbors=n_neighbors,
                               assign_labels="cluster_qr", random_state=seed)
    return model.fit_predict(xy)


def _graph_k(xy, n_neighbors, seed, max_k=auto.MAX_K):
    """Connected components of the kNN graph when they are few, else the silhouette choice.

    (The eigengap heuristic picked far too many clusters on kNN graphs of plain blobs.)
    """
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import kneighbors_graph

    graph = kneighbors_graph(xy, n_neighbors, include_self=False)
    n_parts, _ = connected_components(graph, directed=False)
    return n_parts if 2 <= n_parts <= max_k else auto.k_by_silhouette(xy, seed=seed)


def _meanshift(xy, seed, bandwidth=None):
    from sklearn.cluster import MeanShift, estimate_bandwidth

    bw = float(bandwidth) if bandwidth else estimate_bandwidth(xy, quantile=0.2, n_samples=1000, random_state=seed)
    return MeanShift(bandwidth=max(bw, 1e-6), bin_seeding=True).fit_predict(xy)


def _birch(xy, seed, k=None, threshold=0.02):
    from sklearn.cluster import Birch

    return Birch(threshold=float(threshold), n_clusters=_n_clusters(xy, k, seed)).fit_predict(xy)


_K = Param("k", int, None, 1, 50, "number of clusters (blank: chosen automatically)")

CLUSTERERS: dict[str, ClustererSpec] = {
    spec.name: spec
    for spec in [
        ClustererSpec("kmeans", "k-means", _kmeans, (_K,)),
        ClustererSpec("kmedoids", "k-medoids (FasterPAM)", _kmedoids, (_K,), max_points=5000),
        ClustererSpec("dbscan", "DBSCAN", _dbscan, (
            Param("eps", float, None, 0.0, 1.0, "neighbourhood radius in plot units (blank: k-distance knee)"),
            Param("min_samples", int, 5, 2, 200, "points needed for a core point"),
        ), noise=True),
        ClustererSpec("hdbscan", "HDBSCAN", _hdbscan, (
            Param("min_cluster_size", int, None, 2, 5000, "smallest cluster (blank: 1% of points)"),
        ), noise=True),
        ClustererSpec("optics", "OPTICS", _optics, (
            Param("min_samples", int, 10, 2, 5000, "points per neighbourhood"),
            Param("xi", float, 0.1, 0.001, 0.5, "steepness that ends a cluster"),
            Param("min_cluster_size", float, 0.03, 0.001, 0.5, "smallest cluster as a share of points"),
        ), max_points=20000, noise=True),
        ClustererSpec("gmm", "Gaussian mixture", _gmm, (_K,)),
        ClustererSpec("agglomerative-ward", "Agglomerative (Ward)", _agglomerative("ward"), (_K,), max_points=10000),
        ClustererSpec("agglomerative-single", "Agglomerative (single)", _agglomerative("single"), (_K,),
                      max_points=10000),
        ClustererSpec("agglomerative-average", "Agglomerative (average)", _agglomerative("average"), (_K,),
                      max_points=10000),
        ClustererSpec("spectral", "Spectral", _spectral, (
            _K, Param("n_neighbors", int, 10, 3, 100, "neighbours in the affinity graph"),
        ), max_points=5000),
        ClustererSpec("meanshift", "Mean shift", _meanshift, (
            Param("bandwidth", float, None, 0.0, 1.0, "kernel bandwidth in plot units (blank: estimated)"),
        ), max_points=20000),
        ClustererSpec("birch", "BIRCH", _birch, (
            _K, Param("threshold", float, 0.02, 0.001, 0.5, "subcluster radius in plot units"),
        )),
    ]
}


def consecutive(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..k-1 by first appearance, keeping -1 as noise."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full(len(labels), -1, dtype=np.int64)
    keep = labels >= 0
    _, first, inverse = np.unique(labels[keep], return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    out[keep] = order[inverse]
    return out


class Clusterer(ClusterMixin, BaseEstimator):
    """A registered classical clusterer with scikit-learn's estimator contract.

    Fitted attributes: ``labels_``, ``n_clusters_``, ``runtime_`` (seconds),
    ``subsample_size_`` (points actually clustered; None when all were) and ``params_``
    (the parameters after automatic choices).
    """

    def __init__(self, method: str = "hdbscan", params: dict | None = None, random_state: int = 0,
                 max_points: int | None = None):
        self.method = method
        self.params = params
        self.random_state = random_state
        self.max_points = max_points

    def fit(self, X, y=None):
        spec = get_spec(self.method)
        xy = _validated(X)
        params = {**spec.defaults, **{k: v for k, v in (self.params or {}).items() if v is not None}}
        unknown = set(params) - set(spec.defaults)
        if unknown:
            raise InvalidScatterplot(f"{spec.display_name} has no parameter(s) {sorted(unknown)}; "
                                     f"it takes {sorted(spec.defaults)}")
        params = {p.name: p.check(params[p.name], spec.display_name) for p in spec.params}
        start = time.perf_counter()
        norm = display_normalize(xy)
        cap = self.max_points or spec.max_points
        idx = auto.subsample(norm, cap, self.random_state) if cap else np.arange(len(norm))
        sample = norm[idx]
        if len(np.unique(sample, axis=0)) < 2:
            labels = np.zeros(len(sample), dtype=np.int64)
        else:
            # OpenMP/BLAS thread teams spin-wait; on small plots and busy cores that made
            # k-means 50x slower than one thread (6 s vs 0.13 s on 1,000 points).
            with threadpool_limits(1 if len(sample) <= SINGLE_THREAD_POINTS else None):
                labels = np.asarray(spec.fit(sample, self.random_state, **params))
        if len(idx) < len(norm):
            _, nearest = KDTree(sample).query(norm, k=1)
            labels = labels[nearest[:, 0]]
            self.subsample_size_ = len(idx)
        else:
            self.subsample_size_ = None
        self.labels_ = consecutive(labels)
        self.n_clusters_ = int(self.labels_.max() + 1) if (self.labels_ >= 0).any() else 0
        self.runtime_ = time.perf_counter() - start
        self.params_ = params
        return self


def _validated(X) -> np.ndarray:
    from data.validate import clean_points

    xy = np.asarray(getattr(X, "xy", X), dtype=np.float64)
    xy, _ = clean_points(xy, strict=True)
    return xy


def get_spec(name: str) -> ClustererSpec:
    if name not in CLUSTERERS:
        raise InvalidScatterplot(f"unknown clustering method '{name}'; choose one of {list(CLUSTERERS)}")
    return CLUSTERERS[name]


def make_clusterer(name: str, random_state: int = 0, **params) -> Clusterer:
    """A clusterer by registry name; keyword arguments override its defaults."""
    get_spec(name)
    return Clusterer(name, params=params or None, random_state=random_state)
