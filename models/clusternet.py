"""ClusterNet: a PointNet++ segmentation network for the clusters people perceive in a plot.

Design (after Hartwig et al.'s ClusterNet, whose exact head and loss are not public):

- Input: one plot as people see it (``data.display_normalize``), a fixed-size sample of
  ``sample_size`` points (seeded, chosen in coordinate-sorted order so that it does not depend
  on the order of the input points; small plots are padded with duplicates, which max pooling
  ignores) plus two features per point: the log distance to its 8th neighbour scaled by
  sqrt(points), because perceived clusters follow visual density, and the log of how many
  points of the plot the sample stands for (``plot_size_feature``): a sample of a dense plot
  looks like a sparse plot, but people see the dense plot, whose chance gaps are smaller.
- Output per point: an embedding (``embed_dim``), a noise logit and an agreement logit. The
  embedding is spatial (Neven et al. 2019): the point's coordinates times a learned scale plus a
  predicted offset, so distant groups start apart and the network learns to pull each
  perceived cluster together (and to join or split groups where people would).
- Cluster ids are arbitrary and observers disagree, so the embedding is trained on *pairwise
  co-membership averaged over all observers*: for anchor point i and point j, the target is the
  share of observers who put i and j in the same cluster among those who labelled both, the
  prediction is exp(-|e_i - e_j|^2), the loss a binary cross-entropy weighted by the share of
  observers who labelled both. This is invariant to cluster ids, uses every observer (a soft
  target where they disagree), and gives inference a calibrated merge rule. The pairs are each
  anchor with every point (global) plus its 16 nearest points (local), where boundaries are.
- Grouping (``cluster_embeddings``): "average" links groups whose mean predicted co-membership
  reaches the threshold; "graph" keeps the nearest-neighbour edges that reach it and takes
  connected components, so a ring or a stripe stays one cluster even when its far ends drift
  apart in the embedding; its components can further be cut where average linkage parts
  groups below ``split_threshold`` (touching blobs that a few links chain). Inference
  (``run_views``, ``group_views``) runs the network on
  several seeded samples of the plot, flipped and transposed, and averages each graph edge's
  co-membership over them: one sample's chance cuts and links then count for less, and the
  graph covers more of a large plot. Training picks grouping and thresholds on validation plots.
  (A discriminative pull/push loss needs one hard labeling per plot; with many disagreeing
  observers it would have to be averaged over observers and has two margins to tune.)
- Noise head target: share of observers leaving the point unlabelled.
- Agreement head target: the per-point agreement of ``perception.agreement.consensus``
  (computed by the training code in ``perception.clusternet_train``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import pdist
from sklearn.neighbors import KDTree
from torch import nn

from .pointnet2 import FeaturePropagation, SetAbstractionMSG, SharedMLP

GROUPINGS = ("average", "graph")
PLOT_SIZES = (100, 30_000)  # point counts training covers; the plot-size input is clipped to them
DEFAULT_CONFIG = {"sample_size": 1024, "embed_dim": 8, "density_k": 8, "width": 1.0, "spatial_scale": 4.0,
                  "merge_threshold": 0.5, "noise_threshold": 0.5, "grouping": "average"}


class ClusterNetModel(nn.Module):
    """PointNet++ MSG encoder-decoder with three per-point heads (embedding, noise, agreement)."""

    def __init__(self, config: dict | None = None):
        super().__init__()
        self.config = {**DEFAULT_CONFIG, **(config or {})}
        w = float(self.config["width"])

        def c(x):
            return max(8, int(round(x * w)))

        self.sa1 = SetAbstractionMSG(256, [0.03, 0.08], [16, 32], 2, [[c(32), c(32), c(64)], [c(32), c(48), c(64)]])
        self.sa2 = SetAbstractionMSG(64, [0.12, 0.25], [16, 32], self.sa1.out_channels,
                                     [[c(128), c(128)], [c(128), c(128)]])
        self.sa3 = SetAbstractionMSG(16, [0.35, 0.7], [16, 16], self.sa2.out_channels, [[c(256)], [c(256)]])
        self.sa_global = SetAbstractionMSG(None, [], [], self.sa3.out_channels, [[c(256)]])
        self.fp3 = FeaturePropagation(self.sa_global.out_channels + self.sa3.out_channels, [c(256)])
        self.fp2 = FeaturePropagation(c(256) + self.sa2.out_channels, [c(256), c(128)])
        self.fp1 = FeaturePropagation(c(128) + self.sa1.out_channels, [c(128)])
        self.fp0 = FeaturePropagation(c(128) + 2 + 2, [c(128), c(128)])
        self.trunk = SharedMLP([c(128), c(64)])
        self.head = nn.Linear(c(64), int(self.config["embed_dim"]) + 2)
        # spatial embedding: e = s * (x, y, 0, ...) + learned offset, so far-apart groups start
        # apart and the network only learns to pull a cluster together (s is learned)
        self.log_spatial = nn.Parameter(torch.tensor(float(np.log(max(self.config["spatial_scale"], 1e-6)))),
                                        requires_grad=self.config["spatial_scale"] > 0)

    def forward(self, xyz: torch.Tensor, feats: torch.Tensor):
        """xyz (B, N, 2), feats (B, N, 2) -> embedding (B, N, D), noise and agreement logits (B, N)."""
        l1_xyz, l1 = self.sa1(xyz, feats)
        l2_xyz, l2 = self.sa2(l1_xyz, l1)
        l3_xyz, l3 = self.sa3(l2_xyz, l2)
        g_xyz, g = self.sa_global(l3_xyz, l3)
        h = self.fp3(l3_xyz, g_xyz, l3, g)
        h = self.fp2(l2_xyz, l3_xyz, l2, h)
        h = self.fp1(l1_xyz, l2_xyz, l1, h)
        h = self.fp0(xyz, l1_xyz, torch.cat([feats, xyz], dim=-1), h)
        out = self.head(self.trunk(h))
        d = int(self.config["embed_dim"])
        emb = out[..., :d]
        if self.config["spatial_scale"] > 0:
            emb = emb + nn.functional.pad(xyz, (0, d - 2)) * self.log_spatial.exp()
        return emb, out[..., d], out[..., d + 1]


# --- input preparation, shared by training and inference -------------------------------------

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


# --- inference on several views of a plot (test-time augmentation) ---------------------------

# The 8 symmetries of the square, identity first: a plot flipped or transposed shows the same
# clusters, so each view also shows the network the plot in another orientation.
SYMMETRIES = np.array([[[a, 0], [0, b]] for a in (1, -1) for b in (1, -1)]
                      + [[[0, a], [b, 0]] for a in (1, -1) for b in (1, -1)], dtype=np.float32)


@dataclass(frozen=True)
class View:
    """The network's outputs on one sample of a plot: the sampled indices (sorted, unique) and,
    for each, its embedding, p(noise) and predicted agreement."""

    idx: np.ndarray
    emb: np.ndarray
    noise: np.ndarray
    agreement: np.ndarray


def view_seeds(n_views: int, seed: int = 0) -> list[int]:
    """The sampling seed of each view: ``seed`` for view 0, one derived from it for the others."""
    return [seed] + [int(np.random.SeedSequence([seed, r]).generate_state(1)[0]) for r in range(1, n_views)]


def run_views(model: ClusterNetModel, xy_norm: np.ndarray, n_views: int = 1, seed: int = 0) -> list[View]:
    """The network, in one batch, on ``n_views`` samples of a displayed plot: view 0 is the
    sample of ``seed``; view r > 0 a sample of its own seed, transformed by symmetry r mod 8."""
    size, k = int(model.config["sample_size"]), int(model.config["density_k"])
    order = np.lexsort((xy_norm[:, 1], xy_norm[:, 0]))
    prepared = [prepare(xy_norm, size, s, k, order) for s in view_seeds(n_views, seed)]
    pts = np.stack([p[1] @ SYMMETRIES[r % len(SYMMETRIES)].T for r, p in enumerate(prepared)])
    feat = np.stack([p[2] for p in prepared])
    with torch.no_grad():
        emb, noise, agree = model(torch.from_numpy(pts), torch.from_numpy(feat))
    views = []
    for r, (idx, _, _) in enumerate(prepared):
        uniq, first = np.unique(idx, return_index=True)  # duplicates (padding) share outputs
        views.append(View(uniq, emb[r, first].numpy().astype(np.float64),
                          torch.sigmoid(noise[r, first]).numpy().astype(np.float64),
                          torch.sigmoid(agree[r, first]).numpy().astype(np.float64)))
    return views


# --- loss ------------------------------------------------------------------------------------

def clusternet_loss(emb, noise_logit, agree_logit, labels, agreement, n_anchors: int = 256,
                    generator: torch.Generator | None = None, xy: torch.Tensor | None = None,
                    n_local: int = 16) -> dict:
    """Loss terms for a batch. ``labels`` (B, m, N): observer labelings, -1 = unlabelled by that
    observer, -2 = padding (observer absent for that plot); ``agreement`` (B, N) targets.
    With ``xy`` (B, N, 2), a second affinity term covers each anchor's ``n_local`` nearest
    points: graph grouping joins and cuts along those edges, and among random pairs they are
    too rare to learn sharp boundaries from."""
    b, m, n = labels.shape
    anchors = torch.randperm(n, generator=generator)[: min(n_anchors, n)]
    seen = (labels >= -1).sum(dim=1).clamp(min=1).float()  # (B, N)
    # co-membership counts as matrix products of one-hot codes (observer, cluster) per point
    k = int(labels.max().clamp(min=0)) + 1
    onehot = nn.functional.one_hot((labels + 1).clamp(min=0), k + 1)[..., 1:].float()  # (B, m, N, k)
    onehot = onehot.permute(0, 2, 1, 3).reshape(b, n, m * k)
    inside = (labels >= 0).float()  # (B, m, N)
    same = onehot[:, anchors] @ onehot.transpose(1, 2)  # (B, A, N)
    both = inside[:, :, anchors].transpose(1, 2) @ inside
    target = same / both.clamp(min=1)
    weight = both / seen[:, anchors].unsqueeze(-1)
    d2 = ((emb[:, anchors].unsqueeze(2) - emb.unsqueeze(1)) ** 2).sum(-1)  # (B, A, N)
    log_p = -d2
    log_not_p = torch.log(-torch.expm1(-d2.clamp(min=1e-6)))
    bce = -(target * log_p + (1 - target) * log_not_p)
    affinity = (weight * bce).sum() / weight.sum().clamp(min=1e-6)
    local = torch.zeros(())
    if xy is not None:
        near = ((xy[:, anchors].unsqueeze(2) - xy.unsqueeze(1)) ** 2).sum(-1)
        nb = near.topk(min(n_local + 1, n), dim=-1, largest=False).indices[..., 1:]
        w_nb = weight.gather(-1, nb)
        local = (w_nb * bce.gather(-1, nb)).sum() / w_nb.sum().clamp(min=1e-6)
    noise_target = (labels == -1).sum(dim=1).float() / seen
    noise = nn.functional.binary_cross_entropy_with_logits(noise_logit, noise_target)
    agree = nn.functional.binary_cross_entropy_with_logits(agree_logit, agreement.float())
    total = affinity + local + 0.5 * noise + 0.5 * agree
    return {"loss": total, "affinity": affinity, "local": local, "noise": noise, "agreement": agree}


# --- from embeddings to clusters -------------------------------------------------------------

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
