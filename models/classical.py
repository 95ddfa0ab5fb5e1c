"""The twelve classical clusterers, one scikit-learn estimator each, parameter-free by default.

Every estimator takes its hyperparameters as named constructor arguments (None = chosen from
the plot, see ``models.autoparams``), checks them against its ``_param_specs`` table and its
input with ``data.check_points``, and runs on the plot as a person sees it: equal-aspect
coordinates in the unit square. Methods that cannot handle large plots run on a seeded
subsample of ``max_points`` and give every other point the label of its nearest sampled
neighbour. Fitted attributes: ``labels_`` (-1 = noise), ``n_clusters_``, ``runtime_``
(seconds), ``subsample_size_`` (points actually clustered; None when all were) and
``params_`` (the hyperparameters after automatic choices).
"""
from __future__ import annotations

import time

import numpy as np
from scipy.cluster.hierarchy import linkage
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.neighbors import KDTree
from threadpoolctl import threadpool_limits

from data import check_points, display_normalize

from . import autoparams as auto
from .params import Param, validate_params

SINGLE_THREAD_POINTS = 20_000
SEED = Param(int, 0, 2**32 - 1, help="seed of every random step")
K = Param(int, 1, 1000, auto=True, help="number of clusters (blank: chosen automatically)")


def _cap(default):
    return Param(int, 100, 10_000_000, auto=True, help=f"cluster a subsample of this many points "
                 f"(default {default:,}; blank: all)")


def consecutive(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..k-1 by first appearance, keeping -1 as noise."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full(len(labels), -1, dtype=np.int64)
    keep = labels >= 0
    _, first, inverse = np.unique(labels[keep], return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    out[keep] = order[inverse]
    return out


class PlotClusterer(ClusterMixin, BaseEstimator):
    """Shared ``fit`` of the classical clusterers; subclasses implement ``_cluster``."""

    display_name = ""
    marks_noise = False  # whether the method marks noise (-1) itself
    _param_specs: dict[str, Param] = {}

    def _cluster(self, xy: np.ndarray, params: dict) -> tuple[np.ndarray, dict]:
        """Labels of display-normalised points and the automatic choices made."""
        raise NotImplementedError

    def fit(self, X, y=None):
        params = validate_params(self)
        xy = check_points(X)
        start = time.perf_counter()
        norm = display_normalize(xy)
        cap = params.get("max_points")
        idx = auto.subsample(norm, cap, params["random_state"]) if cap else np.arange(len(norm))
        sample = norm[idx]
        chosen = {}
        if len(sample) < 3 or len(np.unique(sample, axis=0)) < 2:
            labels = np.zeros(len(sample), dtype=np.int64)  # nothing to separate
        else:
            # OpenMP/BLAS thread teams spin-wait; on small plots and busy cores that made
            # k-means 50x slower than one thread (6 s vs 0.13 s on 1,000 points).
            with threadpool_limits(1 if len(sample) <= SINGLE_THREAD_POINTS else None):
                labels, chosen = self._cluster(sample, params)
        labels = np.asarray(labels)
        if len(idx) < len(norm):
            _, nearest = KDTree(sample).query(norm, k=1)
            labels = labels[nearest[:, 0]]
            self.subsample_size_ = len(idx)
        else:
            self.subsample_size_ = None
        self.labels_ = consecutive(labels)
        self.n_clusters_ = int(self.labels_.max() + 1) if (self.labels_ >= 0).any() else 0
        self.n_features_in_ = 2
        self.runtime_ = time.perf_counter() - start
        self.params_ = {**params, **chosen}
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def _k(xy, params, chooser=auto.k_by_silhouette):
    k = params["k"] or chooser(xy, seed=params["random_state"])
    return min(int(k), len(np.unique(xy, axis=0)))


class KMeansClusterer(PlotClusterer):
    """k-means (Lloyd, k-means++ starts); automatic k by silhouette over a growing range."""

    display_name = "k-means"
    _param_specs = {"k": K, "n_init": Param(int, 1, 100, help="k-means restarts"), "random_state": SEED}

    def __init__(self, k=None, n_init=4, random_state=0):
        self.k, self.n_init, self.random_state = k, n_init, random_state

    def _cluster(self, xy, params):
        from sklearn.cluster import KMeans

        k = _k(xy, params)
        return KMeans(k, n_init=params["n_init"], random_state=params["random_state"]).fit_predict(xy), {"k": k}


class KMedoidsClusterer(PlotClusterer):
    """k-medoids (FasterPAM, Schubert & Rousseeuw 2021); automatic k as k-means'."""

    display_name = "k-medoids (FasterPAM)"
    _param_specs = {"k": K, "max_points": _cap(5000), "random_state": SEED}

    def __init__(self, k=None, max_points=5000, random_state=0):
        self.k, self.max_points, self.random_state = k, max_points, random_state

    def _cluster(self, xy, params):
        import kmedoids

        k = _k(xy, params)
        model = kmedoids.KMedoids(k, method="fasterpam", metric="euclidean", random_state=params["random_state"])
        return model.fit_predict(xy), {"k": k}


class DBSCANClusterer(PlotClusterer):
    """DBSCAN; min_samples grows with log n; eps where the count of clusters of at least 1% of
    the points is most stable over eps (at the knee of the k-distance curve when none is)."""

    display_name = "DBSCAN"
    marks_noise = True
    _param_specs = {"eps": Param(float, 1e-9, 1.0, auto=True, help="neighbourhood radius in plot units "
                                 "(blank: most stable cluster count)"),
                    "min_samples": Param(int, 2, 500, auto=True, help="points needed for a core point "
                                         "(blank: grows with the plot)"),
                    "max_points": _cap(50_000), "random_state": SEED}

    def __init__(self, eps=None, min_samples=None, max_points=50_000, random_state=0):
        self.eps, self.min_samples, self.max_points, self.random_state = eps, min_samples, max_points, random_state

    def _cluster(self, xy, params):
        from sklearn.cluster import DBSCAN

        min_samples = params["min_samples"] or auto.min_samples_for(len(xy))
        eps = params["eps"] or auto.eps_by_persistence(xy, min_samples, auto.min_cluster_size_for(len(xy)),
                                                       params["random_state"])
        # no split persists: the knee gives DBSCAN's own one-cluster reading, noise included
        eps = eps or auto.eps_by_k_distance(xy, min_samples, params["random_state"])
        return DBSCAN(eps=eps, min_samples=min_samples).fit_predict(xy), {"eps": eps, "min_samples": min_samples}


class HDBSCANClusterer(PlotClusterer):
    """HDBSCAN (Campello et al. 2013, the hdbscan library); smallest cluster 0.5% of the points."""

    display_name = "HDBSCAN"
    marks_noise = True
    _param_specs = {"min_cluster_size": Param(int, 2, 100_000, auto=True, help="smallest cluster "
                                              "(blank: 0.5% of points, 5 to 500)"),
                    "min_samples": Param(int, 1, 1000, auto=True, help="density smoothing (blank: "
                                         "min_cluster_size)"),
                    "random_state": SEED}

    def __init__(self, min_cluster_size=None, min_samples=None, random_state=0):
        self.min_cluster_size, self.min_samples, self.random_state = min_cluster_size, min_samples, random_state

    def _cluster(self, xy, params):
        import hdbscan

        size = params["min_cluster_size"] or min(auto.min_cluster_size_for(len(xy), auto.DENSITY_SHARE), 500)
        model = hdbscan.HDBSCAN(min_cluster_size=min(size, len(xy)), min_samples=params["min_samples"])
        return model.fit_predict(xy), {"min_cluster_size": size}


class OPTICSClusterer(PlotClusterer):
    """OPTICS (Ankerst et al. 1999). Clusters are read off the reachability plot with the xi
    method when ``xi`` is given, else at the reachability threshold whose count of clusters
    of at least ``min_cluster_size`` points is most persistent (the xi method splits plain
    blobs into their density bumps); min_samples grows with log n."""

    display_name = "OPTICS"
    marks_noise = True
    _param_specs = {"min_samples": Param(int, 2, 5000, auto=True, help="points per neighbourhood "
                                         "(blank: grows with the plot)"),
                    "xi": Param(float, 0.001, 0.5, auto=True, help="steepness that ends a cluster "
                                "(blank: most persistent reachability cut)"),
                    "min_cluster_size": Param(int, 2, 100_000, auto=True, help="smallest cluster "
                                              "(blank: 0.5% of points, at least 5)"),
                    "max_points": _cap(20_000), "random_state": SEED}

    def __init__(self, min_samples=None, xi=None, min_cluster_size=None, max_points=20_000, random_state=0):
        self.min_samples, self.xi, self.min_cluster_size = min_samples, xi, min_cluster_size
        self.max_points, self.random_state = max_points, random_state

    def _cluster(self, xy, params):
        from sklearn.cluster import OPTICS

        min_samples = min(params["min_samples"] or auto.min_samples_for(len(xy)), len(xy))
        size = params["min_cluster_size"] or auto.min_cluster_size_for(len(xy), auto.DENSITY_SHARE)
        size = min(size, len(xy))
        chosen = {"min_samples": min_samples, "min_cluster_size": size}
        if params["xi"]:
            model = OPTICS(min_samples=min_samples, xi=params["xi"], min_cluster_size=max(size, 2))
            return model.fit_predict(xy), chosen
        model = OPTICS(min_samples=min_samples, cluster_method="dbscan", eps=np.inf).fit(xy)
        return auto.persistent_reachability_cut(model, size), chosen


class GaussianMixtureClusterer(PlotClusterer):
    """Full-covariance Gaussian mixture; automatic k by BIC over a growing range."""

    display_name = "Gaussian mixture"
    _param_specs = {"k": K, "random_state": SEED}

    def __init__(self, k=None, random_state=0):
        self.k, self.random_state = k, random_state

    def _cluster(self, xy, params):
        from sklearn.mixture import GaussianMixture

        k = _k(xy, params, auto.k_by_bic)
        model = GaussianMixture(k, covariance_type="full", random_state=params["random_state"], reg_covar=1e-6)
        return model.fit_predict(xy), {"k": k}


def linkage_tree(xy: np.ndarray, method: str, n_neighbors: int = 0) -> np.ndarray:
    """A scipy linkage matrix of ``xy``; with ``n_neighbors``, merges only along the
    n-nearest-neighbour graph (scikit-learn's trees, turned into scipy's format)."""
    if not n_neighbors:
        return linkage(xy, method=method)
    import warnings

    from sklearn.cluster import linkage_tree as graph_tree
    from sklearn.cluster import ward_tree
    from sklearn.neighbors import kneighbors_graph

    graph = kneighbors_graph(xy, min(n_neighbors, len(xy) - 1), include_self=False)
    with warnings.catch_warnings():  # a graph of several components is joined by scikit-learn, as it warns
        warnings.simplefilter("ignore", UserWarning)
        if method == "ward":
            children, _, n, _, heights = ward_tree(xy, connectivity=graph, return_distance=True)
        else:
            children, _, n, _, heights = graph_tree(xy, connectivity=graph, linkage=method, return_distance=True)
    sizes = np.ones(2 * n - 1)
    for i, (a, b) in enumerate(children):
        sizes[n + i] = sizes[a] + sizes[b]
    # Merges along a graph can come lower than the one before; the running maximum keeps the
    # heights monotone, as the cuts by height need.
    return np.column_stack([children, np.maximum.accumulate(heights), sizes[n:]]).astype(np.float64)


class AgglomerativeClusterer(PlotClusterer):
    """Hierarchical clustering with scipy's linkage. Without k, the tree is cut where the
    number of clusters of at least ``min_cluster_size`` points is most persistent; smaller
    branches are then noise. Where no count persists, Ward and average linkage take the cut
    with the best silhouette if it shows reasonable structure (their merge heights rise
    smoothly, so no count lives long even on clear clusters); single linkage chains, and
    silhouette says nothing about chains. ``n_neighbors`` > 0 merges only along each point's
    nearest-neighbour graph (scikit-learn's structured hierarchical clustering): average linkage
    then follows rings and moons but merges touching blobs, and Ward still prefers compact
    clusters, so the default keeps any pair (docs/clusterers.md has both measured)."""

    marks_noise = True
    linkage_method = ""
    silhouette_fallback = True
    cut_share = auto.LINKAGE_SHARE  # smallest cluster the automatic cut counts, as a share of the points
    _param_specs = {"k": K, "min_cluster_size": Param(int, 1, 100_000, auto=True, help="smallest cluster "
                                                      "for the automatic cut (blank: 1% of points, Ward 0.5%, at least 5)"),
                    "n_neighbors": Param(int, 0, 100, help="merge only along each point's nearest "
                                         "neighbours (0: any two clusters)"),
                    "max_points": _cap(10_000), "random_state": SEED}

    def __init__(self, k=None, min_cluster_size=None, n_neighbors=0, max_points=10_000, random_state=0):
        self.k, self.min_cluster_size, self.n_neighbors = k, min_cluster_size, n_neighbors
        self.max_points, self.random_state = max_points, random_state

    def _cluster(self, xy, params):
        from scipy.cluster.hierarchy import fcluster

        tree = linkage_tree(xy, self.linkage_method, params["n_neighbors"])
        if params["k"]:
            return fcluster(tree, params["k"], criterion="maxclust") - 1, {}
        size = params["min_cluster_size"] or auto.min_cluster_size_for(len(xy), self.cut_share)
        labels = auto.persistent_cut(tree, len(xy), size)
        if labels.max() < 1 and self.silhouette_fallback:
            labels = auto.silhouette_cut(xy, tree, params["random_state"])
        return labels, {"min_cluster_size": size, "k": int(labels.max() + 1)}


class WardClusterer(AgglomerativeClusterer):
    display_name = "Agglomerative (Ward)"
    linkage_method = "ward"
    # Ward's compact merges leave few noise branches, so it counts clusters down to 0.5% and
    # 100 equal blobs (1% each) are not cut as noise (single and average linkage count noise
    # branches at 0.5%; docs/clusterers.md).
    cut_share = auto.DENSITY_SHARE


class SingleLinkageClusterer(AgglomerativeClusterer):
    display_name = "Agglomerative (single)"
    linkage_method = "single"
    silhouette_fallback = False


class AverageLinkageClusterer(AgglomerativeClusterer):
    display_name = "Agglomerative (average)"
    linkage_method = "average"


class SpectralClusterer(PlotClusterer):
    """Spectral clustering on a kNN affinity graph; automatic k from the graph's connected
    components when there are several, else by k-means silhouette."""

    display_name = "Spectral"
    _param_specs = {"k": K, "n_neighbors": Param(int, 3, 100, help="neighbours in the affinity graph"),
                    "max_points": _cap(5000), "random_state": SEED}

    def __init__(self, k=None, n_neighbors=10, max_points=5000, random_state=0):
        self.k, self.n_neighbors, self.max_points, self.random_state = k, n_neighbors, max_points, random_state

    def _cluster(self, xy, params):
        from scipy.sparse.csgraph import connected_components
        from sklearn.cluster import SpectralClustering
        from sklearn.neighbors import kneighbors_graph

        n_neighbors = min(params["n_neighbors"], len(xy) - 1)
        k = params["k"]
        if not k:
            # (The eigengap heuristic picked far too many clusters on kNN graphs of plain blobs.)
            n_parts, _ = connected_components(kneighbors_graph(xy, n_neighbors), directed=False)
            k = n_parts if 2 <= n_parts <= auto.MAX_K else auto.k_by_silhouette(xy, seed=params["random_state"])
        k = min(int(k), len(xy) - 1)
        if k <= 1:
            return np.zeros(len(xy), dtype=np.int64), {"k": 1}
        model = SpectralClustering(k, affinity="nearest_neighbors", n_neighbors=n_neighbors,
                                   assign_labels="cluster_qr", random_state=params["random_state"])
        return model.fit_predict(xy), {"k": k}


class MeanShiftClusterer(PlotClusterer):
    """Mean shift with a flat kernel; without a bandwidth, the neighbourhood share (quantile)
    whose clustering has the best silhouette."""

    display_name = "Mean shift"
    _param_specs = {"bandwidth": Param(float, 1e-9, 1.0, auto=True, help="kernel bandwidth in plot units "
                                       "(blank: estimated)"),
                    "max_points": _cap(5000), "random_state": SEED}

    def __init__(self, bandwidth=None, max_points=5000, random_state=0):
        self.bandwidth, self.max_points, self.random_state = bandwidth, max_points, random_state

    def _cluster(self, xy, params):
        from sklearn.cluster import MeanShift, estimate_bandwidth

        def run(bw):
            # min_bin_freq: a seed needs a few points, or every stray point becomes a mode.
            return MeanShift(bandwidth=max(bw, 1e-6), bin_seeding=True, min_bin_freq=3).fit_predict(xy)
        if params["bandwidth"]:
            return run(params["bandwidth"]), {}
        best = None
        for quantile in auto.MEANSHIFT_QUANTILES:
            if quantile * len(xy) < 5:
                continue
            bw = estimate_bandwidth(xy, quantile=quantile, n_samples=2000, random_state=params["random_state"])
            labels = run(bw)
            score = auto.silhouette(xy, labels, params["random_state"])
            if best is None or score > best[0]:
                best = (score, bw, labels)
        if best is None:
            return np.zeros(len(xy), dtype=np.int64), {}
        return best[2], {"bandwidth": best[1]}


class BirchClusterer(PlotClusterer):
    """BIRCH's CF-tree; its subclusters are grouped into k by agglomeration, k chosen as k-means'."""

    display_name = "BIRCH"
    _param_specs = {"k": K, "threshold": Param(float, 0.001, 0.5, help="subcluster radius in plot units"),
                    "random_state": SEED}

    def __init__(self, k=None, threshold=0.01, random_state=0):
        self.k, self.threshold, self.random_state = k, threshold, random_state

    def _cluster(self, xy, params):
        from sklearn.cluster import Birch

        k = _k(xy, params)
        return Birch(threshold=params["threshold"], n_clusters=k).fit_predict(xy), {"k": k}
