"""From ClusterNet's embeddings to clusters.

``cluster_embeddings``: "average" links groups whose mean predicted co-membership reaches the
threshold; "graph" keeps the nearest-neighbour edges that reach it and takes connected
components, so a ring or a stripe stays one cluster even when its far ends drift apart in the
embedding; its components can further be cut where average linkage parts groups below
``split_threshold`` (touching blobs that a few links chain). ``group_views`` reads the network's
views of a plot (``models.clusternet_views.run_views``) and averages each graph edge's
co-membership over them. Training picks grouping and thresholds on validation plots.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import pdist
from sklearn.neighbors import KDTree

if TYPE_CHECKING:  # annotations only: importing the views module imports torch
    from .clusternet_views import View

GROUPINGS = ("average", "graph")


def cluster_embeddings(emb: np.ndarray, noise_prob: np.ndarray, noise_threshold: float = 0.5,
                       merge_threshold: float = 0.5, min_cluster_share: float = 0.01,
                       xy: np.ndarray | None = None, n_neighbors: int = 10, min_shared: int = 4,
                       owner: np.ndarray | None = None, split_threshold: float = 0.0,
                       memo: dict | None = None) -> np.ndarray:
    """Labels for sampled points: noise where p(noise) >= ``noise_threshold``; the rest grouped
    where predicted co-membership exp(-d^2) reaches ``merge_threshold``.

    Without ``xy``: average linkage of the embeddings (mean co-membership of two groups);
    clusters under ``min_cluster_share`` of the largest cluster's points become noise.
    With ``xy``: connected components of the ``n_neighbors`` nearest-neighbour graph, keeping
    edges that reach the threshold and whose ends share at least ``min_shared`` neighbours
    (Jarvis-Patrick), so long or curved shapes join through local links however far their
    ends drift apart in the embedding, while a stray link across a gap does not chain two
    shapes; with ``split_threshold`` > 0 components are also cut where average linkage of view
    0 parts groups below it. Components under ``min_cluster_share`` of the largest one join their nearest large component (the
    sparse tail of a blob is part of it; the noise head decides what is noise).
    In graph mode ``emb`` may hold several views (views, n, d), each point's embedding in each
    view taken from the sampled point ``owner`` (views, n) stands for; an edge's co-membership
    is then its mean over the views where its ends stand for different sampled points.
    ``memo``: a dict kept across calls on the same points, embeddings and p(noise) (calibration),
    holding per noise threshold what the other thresholds do not change."""
    memo = {} if memo is None else memo.setdefault(noise_threshold, {})
    n = len(noise_prob)
    labels = np.full(n, -1, dtype=np.int64)
    keep = np.flatnonzero(noise_prob < noise_threshold)
    if len(keep) == 0:
        return labels
    if len(keep) == 1:
        labels[keep] = 0
        return labels
    if xy is None:
        tree = _memo(memo, "tree", lambda: _average_tree(np.asarray(emb, dtype=np.float64)[keep]))
        sub = fcluster(tree, t=1.0 - merge_threshold, criterion="distance") - 1
    else:
        views = np.asarray(emb, dtype=np.float64)
        views = views.reshape(-1, n, views.shape[-1])
        owner = np.broadcast_to(np.arange(n), views.shape[:2]) if owner is None else owner
        edges = _memo(memo, "edges", lambda: _knn_edges(xy[keep], views[:, keep], owner[:, keep],
                                                          min(n_neighbors, len(keep) - 1)))
        sub = _graph_components(edges, len(keep), merge_threshold, min_shared)
        if split_threshold > 0:
            sub = _split_components(sub, _memo(memo, "owner_tree", lambda: _owner_tree(views[0, keep], owner[0, keep])),
                                    split_threshold)
    sizes = np.bincount(sub)
    # small against the largest cluster, not the plot: 100 equal blobs hold 1 % each
    small = sizes[sub] < max(2, int(np.ceil(min_cluster_share * sizes.max())))
    if small.all():  # a few points in no clear group: one cluster rather than all noise
        sub[:] = 0
    elif small.any() and xy is not None:
        big = np.flatnonzero(~small)
        nearest = KDTree(xy[keep][big]).query(xy[keep][small], k=1, return_distance=False)[:, 0]
        sub[small] = sub[big][nearest]
    else:
        sub = np.where(small, -1, sub)
    labels[keep] = sub
    return labels


def _memo(memo: dict, key: str, make):
    if key not in memo:
        memo[key] = make()
    return memo[key]


def _average_tree(emb: np.ndarray) -> np.ndarray:
    """Average-linkage tree of embeddings, with distance 1 - predicted co-membership."""
    return linkage(1.0 - np.exp(-pdist(emb, "sqeuclidean")), "average")


@dataclass(frozen=True)
class KnnEdges:
    """Each point's edges to its k nearest neighbours: ends, neighbours the ends share, and
    predicted co-membership averaged over the views where the ends stand for different points."""

    src: np.ndarray
    dst: np.ndarray
    shared: np.ndarray
    prob: np.ndarray


def _knn_edges(xy: np.ndarray, views: np.ndarray, owner: np.ndarray, k: int) -> KnnEdges:
    nb = KDTree(xy).query(xy, k=k + 1, return_distance=False)  # each point's own row includes itself
    src, dst = np.repeat(np.arange(len(xy)), k), nb[:, 1:].ravel()
    member = coo_matrix((np.ones(nb.size), (np.repeat(np.arange(len(xy)), k + 1), nb.ravel())),
                        shape=(len(xy),) * 2).tocsr()
    shared = np.asarray(member[src].multiply(member[dst]).sum(axis=1)).ravel()
    total, counted = np.zeros(len(src)), np.zeros(len(src))
    for emb, own in zip(views, owner):
        apart = own[src] != own[dst]  # ends that stand for one sampled point say nothing
        total += np.where(apart, np.exp(-((emb[src] - emb[dst]) ** 2).sum(axis=1)), 0.0)
        counted += apart
    return KnnEdges(src, dst, shared, np.where(counted > 0, total / np.maximum(counted, 1), 1.0))


def _graph_components(edges: KnnEdges, n: int, threshold: float, min_shared: int) -> np.ndarray:
    linked = (edges.prob >= threshold) & (edges.shared >= min_shared)
    graph = coo_matrix((np.ones(linked.sum()), (edges.src[linked], edges.dst[linked])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _owner_tree(emb: np.ndarray, owner: np.ndarray):
    """Average-linkage tree of the distinct sampled points in ``owner`` and each point's index
    among them; None when there are fewer than two."""
    points, first, inverse = np.unique(owner, return_index=True, return_inverse=True)
    return (_average_tree(emb[first]), inverse) if len(points) >= 2 else None


def _split_components(sub: np.ndarray, owner_tree, threshold: float) -> np.ndarray:
    """Cut graph components where average linkage of view 0's sampled points (``_owner_tree``)
    parts groups whose mean predicted co-membership is below ``threshold``. The graph judges
    local links, average linkage whole groups; touching blobs chained by a few confident links
    fail the second test. A long shape whose ends drift far apart may fail it too, so the
    threshold is calibrated (0 = no cut)."""
    if owner_tree is None:
        return sub
    tree, inverse = owner_tree
    groups = fcluster(tree, t=1.0 - threshold, criterion="distance")[inverse]
    return np.unique(sub * (groups.max() + 1) + groups, return_inverse=True)[1]


@dataclass(frozen=True)
class Pooled:
    """A plot's views read at the points a grouping clusters (indices into the plot): view 0's
    sample for "average", every view's sample for "graph". ``owner`` (views, points): each
    point's nearest sampled point in each view; p(noise) and agreement are means over views."""

    points: np.ndarray
    owner: np.ndarray
    noise: np.ndarray
    agreement: np.ndarray


def _grouping(config: dict, grouping: str | None) -> str:
    grouping = grouping or config["grouping"]
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping '{grouping}'; choose one of {GROUPINGS}")
    return grouping


def pool_views(views: list[View], xy_norm: np.ndarray, grouping: str) -> Pooled:
    """The part of grouping that no threshold changes (calibration reuses it across settings)."""
    points = views[0].idx if grouping == "average" else np.unique(np.concatenate([v.idx for v in views]))
    owner = np.stack([KDTree(xy_norm[v.idx]).query(xy_norm[points], k=1, return_distance=False)[:, 0]
                      for v in views])
    return Pooled(points, owner, np.mean([v.noise[own] for v, own in zip(views, owner)], axis=0),
                  np.mean([v.agreement[own] for v, own in zip(views, owner)], axis=0))


def group_pooled(config: dict, views: list[View], pooled: Pooled, xy_norm: np.ndarray, noise_threshold=None,
                 merge_threshold=None, min_cluster_share: float = 0.01, grouping: str | None = None,
                 split_threshold=None, memo: dict | None = None) -> np.ndarray:
    """Labels of ``pooled.points`` by the grouping stored in a model's config (or ``grouping``)
    and the settings calibrated for it (thresholds, and the graph's shared-neighbour count;
    explicit thresholds override them). ``memo``: see ``cluster_embeddings``."""
    grouping = _grouping(config, grouping)
    chosen = config.get("thresholds", {}).get(grouping, config)
    nt = chosen["noise_threshold"] if noise_threshold is None else noise_threshold
    mt = chosen["merge_threshold"] if merge_threshold is None else merge_threshold
    if grouping == "average":
        return cluster_embeddings(views[0].emb, pooled.noise, nt, mt, min_cluster_share, memo=memo)
    emb = np.stack([v.emb[own] for v, own in zip(views, pooled.owner)])
    return cluster_embeddings(emb, pooled.noise, nt, mt, min_cluster_share, xy=xy_norm[pooled.points],
                              owner=pooled.owner, min_shared=int(chosen.get("min_shared", 4)),
                              split_threshold=float(chosen.get("split_threshold", 0.0) if split_threshold is None
                                                    else split_threshold), memo=memo)


def group_views(config: dict, views: list[View], xy_norm: np.ndarray, noise_threshold=None,
                merge_threshold=None, min_cluster_share: float = 0.01, grouping: str | None = None,
                split_threshold=None):
    """Clusters from the network's views of a plot (``pool_views`` then ``group_pooled``).
    Returns ``(points, labels, noise, agreement)`` for the grouped points."""
    grouping = _grouping(config, grouping)
    pooled = pool_views(views, xy_norm, grouping)
    labels = group_pooled(config, views, pooled, xy_norm, noise_threshold, merge_threshold, min_cluster_share,
                          grouping, split_threshold)
    return pooled.points, labels, pooled.noise, pooled.agreement
