"""Parameter-free defaults for a 2-D scatterplot, in display coordinates (the unit square).

The automatic number of clusters is searched over a range that grows with the plot (up to
``MAX_K`` clusters where it has the points for them), coarse to fine, so a plot of 100 blobs
can be found by every k-based method. Linkage trees are cut where the number of sizeable
clusters is most persistent, which survives background noise (noise points form tiny
branches that are not counted) where a cut at the largest merge-height jump does not.
"""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

MAX_K = 120
SAMPLE = 3000
PERSISTENCE_SAMPLE = 10_000  # points for eps_by_persistence's tree (fast: O(n log n))
MIN_POINTS_PER_CLUSTER = 10


def subsample(xy: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Indices of a seeded uniform subsample (all indices when the plot is small)."""
    if len(xy) <= size:
        return np.arange(len(xy))
    return np.sort(np.random.default_rng(seed).choice(len(xy), size, replace=False))


def k_range(n: int, max_k: int = MAX_K) -> int:
    """Largest k worth trying on n points: every cluster needs a few points to be seen."""
    return int(max(2, min(max_k, n // MIN_POINTS_PER_CLUSTER)))


def _coarse(top: int, low: int = 2) -> list[int]:
    """low..10, then steps of about 15% up to top."""
    ks = list(range(low, min(10, top) + 1))
    k = 10
    while k < top:
        k = min(top, int(np.ceil(k * 1.15)))
        ks.append(k)
    return ks


def _search(score, top: int, low: int = 2) -> int:
    """k maximising ``score(k)``: a coarse pass, then every k between the best's neighbours."""
    coarse = _coarse(top, low)
    values = {k: score(k) for k in coarse}
    best = max(values, key=values.get)
    i = coarse.index(best)
    for k in range(coarse[max(i - 1, 0)] + 1, coarse[min(i + 1, len(coarse) - 1)]):
        if k not in values:
            values[k] = score(k)
    return max(values, key=values.get)


MEANSHIFT_QUANTILES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)


def silhouette(xy: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """Silhouette of a labelling on at most SAMPLE points; -1 where it is undefined."""
    n_labels = len(np.unique(labels))
    if not 1 < n_labels < len(xy):
        return -1.0
    return float(silhouette_score(xy, labels, sample_size=min(len(xy), SAMPLE), random_state=seed))


def k_by_silhouette(xy: np.ndarray, seed: int = 0, max_k: int = MAX_K) -> int:
    """k in 2..k_range with the best silhouette of k-means on a subsample."""
    sample = xy[subsample(xy, SAMPLE, seed)]
    top = min(k_range(len(sample), max_k), len(np.unique(sample, axis=0)) - 1)
    if top < 2:
        return 1

    def score(k):
        return silhouette(sample, KMeans(k, n_init=1, random_state=seed).fit_predict(sample), seed)
    return _search(score, top)


def k_by_bic(xy: np.ndarray, seed: int = 0, max_k: int = MAX_K) -> int:
    """k in 1..k_range with the lowest BIC of a full-covariance GMM on a subsample."""
    sample = xy[subsample(xy, SAMPLE, seed)]
    # A full 2-D Gaussian has 6 parameters; BIC needs several points per parameter.
    top = min(k_range(len(sample), max_k), len(sample) // 20)
    if top < 2:
        return 1

    def score(k):
        gmm = GaussianMixture(k, covariance_type="full", random_state=seed, reg_covar=1e-6, max_iter=100)
        return -gmm.fit(sample).bic(sample)
    return _search(score, top, low=1)


def knee(values: np.ndarray) -> int:
    """Index of the knee of an increasing curve: the point farthest below its chord."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 3 or values[-1] == values[0]:
        return n // 2
    x = np.linspace(0, 1, n)
    y = (values - values[0]) / (values[-1] - values[0])
    return int(np.argmax(x - y))


LINKAGE_SHARE = 0.01
# Density methods split 100 equal blobs (1% of the points each) only below 1%; at 0.5%, single
# and average linkage counted noise branches (devbench and wut, docs/clusterers.md).
DENSITY_SHARE = 0.005


def min_cluster_size_for(n: int, share: float = LINKAGE_SHARE) -> int:
    """Smallest cluster the automatic cuts count: ``share`` of the points, at least 5."""
    return max(5, int(n * share))


def min_samples_for(n: int) -> int:
    """DBSCAN/OPTICS neighbourhood size: grows with the plot so noise does not chain clusters."""
    return int(np.clip(round(np.log2(max(n, 2)) * 1.5), 5, 50))


EPS_MARGIN = 1.5  # the knee sits at the edge of the densest cores; the margin keeps fringes in


def _density_sample(xy: np.ndarray, min_samples: int, size: int, seed: int):
    """A seeded subsample of ``size`` points, min_samples scaled to its share of the points (k), and
    the factor that turns a neighbour distance measured on it into one for the whole plot."""
    sample = xy[subsample(xy, size, seed)]
    share = len(sample) / len(xy)
    k = int(np.clip(round(min_samples * share), 2, len(sample) - 1))
    # A 2-D density's k-th neighbour distance goes as sqrt(k / density): rescale k and density.
    return sample, share, k, float(np.sqrt(min_samples * share / k))


def eps_by_k_distance(xy: np.ndarray, min_samples: int, seed: int = 0) -> float:
    """DBSCAN eps at the knee of the sorted k-distance curve (Ester et al. 1996).

    Measured on a subsample, with min_samples scaled to the subsample's share of the points.
    """
    sample, _, k, rescale = _density_sample(xy, min_samples, SAMPLE, seed)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(sample).kneighbors(sample)
    kdist = np.sort(dist[:, -1])
    eps = EPS_MARGIN * float(kdist[knee(kdist)])
    if eps <= 0:
        eps = float(kdist[kdist > 0][0]) if np.any(kdist > 0) else 1e-9
    return eps * rescale


def persistent_height(tree: np.ndarray, n: int, min_size: int, max_k: int = MAX_K,
                      min_ratio: float = 1.5) -> float | None:
    """Height at which to cut a scipy linkage tree so that the count of sizeable clusters lives longest.

    Walking the merges from the top, the number of clusters with at least ``min_size`` points
    changes at some heights; the count that holds over the widest range of log height wins,
    and the cut lies in the middle of that range (geometrically). None (one cluster) when no
    split into sizeable clusters holds over a height ratio of at least ``min_ratio``.
    """
    heights = np.maximum(tree[:, 2], 1e-12)
    sizes = np.ones(2 * n - 1, dtype=np.int64)
    sizes[n:] = tree[:, 3].astype(np.int64)
    big = np.zeros(n - 1, dtype=np.int64)  # sizeable clusters just below merge i (counted from the top)
    count = 1
    for i in range(n - 2, -1, -1):  # undo merges from the top
        a, b = int(tree[i, 0]), int(tree[i, 1])
        count += int(sizes[a] >= min_size) + int(sizes[b] >= min_size) - int(sizes[n + i] >= min_size)
        big[i] = count
    # big[i] holds for heights in [heights[i - 1], heights[i]); runs of equal counts are one life.
    best_life, best_range, run_top = np.log(min_ratio), None, n - 2
    for i in range(n - 2, 0, -1):
        if i == 1 or big[i - 1] != big[i]:
            life = np.log(heights[run_top]) - np.log(heights[i - 1])
            if 2 <= big[i] <= max_k and life > best_life:
                best_life, best_range = life, (heights[i - 1], heights[run_top])
            run_top = i - 1
    return None if best_range is None else float(np.sqrt(best_range[0] * best_range[1]))


def persistent_cut(tree: np.ndarray, n: int, min_size: int, max_k: int = MAX_K,
                   min_ratio: float = 1.5) -> np.ndarray:
    """Labels from a scipy linkage tree cut at ``persistent_height``; points outside sizeable
    clusters are noise (-1), and everything is one cluster when no split persists."""
    from scipy.cluster.hierarchy import fcluster

    height = persistent_height(tree, n, min_size, max_k, min_ratio)
    if height is None:
        return np.zeros(n, dtype=np.int64)
    labels = fcluster(tree, height, criterion="distance") - 1
    counts = np.bincount(labels)
    return np.where(counts[labels] >= min_size, labels, -1)


# Kaufman & Rousseeuw (1990): a silhouette above 0.5 is "reasonable" structure; below, none is claimed.
REASONABLE_SILHOUETTE = 0.5


def silhouette_cut(xy: np.ndarray, tree: np.ndarray, seed: int = 0, max_k: int = MAX_K) -> np.ndarray:
    """Labels of the linkage tree's k-cluster cut with the best silhouette (k searched as
    ``k_by_silhouette`` does, on a subsample); one cluster unless that silhouette shows
    reasonable structure (> ``REASONABLE_SILHOUETTE``)."""
    from scipy.cluster.hierarchy import fcluster

    sample = subsample(xy, SAMPLE, seed)
    top = min(k_range(len(xy), max_k), len(sample) - 1)
    if top < 2:
        return np.zeros(len(xy), dtype=np.int64)
    scores = {}

    def score(k):
        if k not in scores:
            scores[k] = silhouette(xy[sample], (fcluster(tree, k, criterion="maxclust") - 1)[sample], seed)
        return scores[k]
    k = _search(score, top)
    if score(k) < REASONABLE_SILHOUETTE:
        return np.zeros(len(xy), dtype=np.int64)
    return fcluster(tree, k, criterion="maxclust") - 1


def eps_by_persistence(xy: np.ndarray, min_samples: int, min_size: int, seed: int = 0) -> float | None:
    """DBSCAN eps where the number of clusters of at least ``min_size`` points is most stable.

    DBSCAN's clusters at every eps are the components of the single-linkage tree of mutual
    reachability distances (Campello et al. 2013), which hdbscan builds in O(n log n); the tree
    is cut at ``persistent_height``. Measured on a subsample, with min_samples and min_size
    scaled to its share of the points; None when no split persists.
    """
    import hdbscan

    sample, share, k, rescale = _density_sample(xy, min_samples, PERSISTENCE_SAMPLE, seed)
    size = max(2, int(round(min_size * share)))
    tree = hdbscan.HDBSCAN(min_samples=k, min_cluster_size=size).fit(sample).single_linkage_tree_.to_numpy()
    height = persistent_height(tree, len(sample), size)
    return None if height is None else height * rescale


def persistent_reachability_cut(optics, min_size: int, max_k: int = MAX_K, steps: int = 80) -> np.ndarray:
    """Labels from a fitted OPTICS at the reachability threshold whose count of sizeable
    clusters holds over the widest range of log threshold (as ``persistent_cut`` does for a
    linkage tree); clusters under ``min_size`` points are noise."""
    from sklearn.cluster import cluster_optics_dbscan

    reach = optics.reachability_[np.isfinite(optics.reachability_)]
    if len(reach) < 2 or reach.max() <= 0:
        return np.zeros(len(optics.ordering_), dtype=np.int64)
    low = max(float(np.quantile(reach, 0.01)), 1e-12)
    eps_grid = np.geomspace(low, float(reach.max()), steps)

    def cut(eps):
        labels = cluster_optics_dbscan(reachability=optics.reachability_, core_distances=optics.core_distances_,
                                       ordering=optics.ordering_, eps=eps)
        sizes = np.bincount(labels + 1)[labels + 1]  # each point's cluster size (noise apart)
        keep = (labels >= 0) & (sizes >= min_size)
        return np.where(keep, labels, -1), len(np.unique(labels[keep]))
    counts = [cut(eps)[1] for eps in eps_grid]
    step = np.log(eps_grid[1] / eps_grid[0])
    best, best_life, i = None, np.log(1.5), 0
    while i < steps:
        j = i
        while j + 1 < steps and counts[j + 1] == counts[i]:
            j += 1
        life = (j - i + 1) * step
        if 2 <= counts[i] <= max_k and life > best_life:
            best, best_life = eps_grid[(i + j) // 2], life
        i = j + 1
    if best is None:
        return np.zeros(len(optics.ordering_), dtype=np.int64)
    return cut(best)[0]
