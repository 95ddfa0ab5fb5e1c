"""ClusterNet at inference on several views of a plot (test-time augmentation).

The network runs, in one batch, on several seeded samples of the plot, each flipped or
transposed differently; ``models.clusternet_grouping`` averages the views' co-membership, so
one sample's chance cuts and links count for less and the views cover more of a large plot.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .clusternet_features import prepare
from .clusternet_network import ClusterNetModel

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
