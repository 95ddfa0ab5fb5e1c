"""ClusterNet as a scikit-learn style clusterer: perceived clusters and per-point agreement.

The network (``models.clusternet_network``) runs, in one batch, on ``n_views`` seeded,
order-independent samples of ``sample_size`` points of the plot as displayed
(``data.display_normalize``), each view flipped or transposed differently
(``models.clusternet_views.run_views``); the embeddings are grouped by the rule stored with the
weights (``models.clusternet_grouping.group_views``: average linkage of one view, or the
nearest-neighbour graph over all views with co-membership averaged across them), and every
other point takes the label and agreement of its nearest grouped point (KDTree). Cost is the
network on the views (constant) plus the nearest-neighbour lookup (n log n), so million-point
plots take seconds.
"""
from __future__ import annotations

import time
from importlib.resources import files
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.neighbors import KDTree

from data import check_points, display_normalize

from .classical import SEED, consecutive
from .clusternet_grouping import GROUPINGS, group_views
from .params import Param, validate_params

# pip installs packages unpacked, so this is a pathlib.Path (torch.load and stat need a file)
WEIGHTS = files("assets") / "clusternet.pt"


class ClusterNet(ClusterMixin, BaseEstimator):
    """Clusters people perceive, predicted by a PointNet++ network trained on simulated observers.

    Parameters: ``weights`` (path; None = the shipped ``assets/clusternet.pt``), ``n_views``
    (samples of the plot the network sees, each also flipped or transposed, whose outputs are
    averaged; None = the number calibrated with the weights), ``grouping`` ("average": groups of
    view 0's sample whose mean predicted co-membership reaches the merge threshold; "graph":
    points of every view linked through nearest neighbours that do, which can follow long
    stripes and rings; None = the one chosen on the validation plots), ``noise_threshold``
    (p(unlabelled) at which a point is noise), ``merge_threshold`` (co-membership probability
    below which points stay apart; both None = the values chosen on the validation plots for the
    grouping, stored with the weights), ``split_threshold`` (graph only: components are cut where
    average linkage parts groups whose mean co-membership is below it; 0 = no cut, None = the
    calibrated value), ``min_cluster_share`` (smaller clusters become noise),
    ``random_state`` (seeds the samples).

    Fitted attributes: ``labels_`` (-1 = noise), ``agreement_`` (predicted share of people
    agreeing with the majority on each point, in [0, 1]), ``noise_proba_``, ``n_clusters_``,
    ``subsample_size_`` (points grouped, the others take their nearest one's label; None when
    every point was grouped) and ``runtime_`` (seconds).
    """

    display_name = "ClusterNet"
    # None = the value calibrated with the weights.
    _param_specs = {"n_views": Param(int, 1, 64, auto=True, help="samples of the plot the network sees"),
                    "grouping": Param(str, auto=True, choices=GROUPINGS, help="how embeddings become clusters"),
                    "noise_threshold": Param(float, 0, 1, auto=True, help="p(unlabelled) that makes a point noise"),
                    "merge_threshold": Param(float, 0, 1, auto=True, help="co-membership that joins points"),
                    "split_threshold": Param(float, 0, 1, auto=True, help="graph grouping: cut below this"),
                    "min_cluster_share": Param(float, 0, 1, help="smaller clusters become noise"),
                    "random_state": SEED}

    def __init__(self, weights=None, n_views: int | None = None, grouping: str | None = None,
                 noise_threshold: float | None = None, merge_threshold: float | None = None,
                 split_threshold: float | None = None, min_cluster_share: float = 0.01, random_state: int = 0):
        self.weights = weights
        self.n_views = n_views
        self.grouping = grouping
        self.noise_threshold = noise_threshold
        self.merge_threshold = merge_threshold
        self.split_threshold = split_threshold
        self.min_cluster_share = min_cluster_share
        self.random_state = random_state

    @classmethod
    def pretrained(cls, path=None, **params) -> "ClusterNet":
        """The shipped model (or weights at ``path``); raises FileNotFoundError when absent."""
        est = cls(weights=path, **params)
        est._model()
        return est

    @staticmethod
    def available(path=None) -> bool:
        """Whether weights exist, so a UI can say 'unavailable' instead of failing."""
        return Path(path or WEIGHTS).is_file()

    def _model(self):
        path = Path(self.weights or WEIGHTS)
        if not path.is_file():
            raise FileNotFoundError(f"ClusterNet weights not found at {path}; train them with "
                                    "`visclust train clusternet`")
        # torch (about 200 MB and 3 s to import) loads with the first ClusterNet fit, so a server
        # or CLI run that never uses the network does not pay for it.
        from .clusternet_weights import load_cached

        return load_cached(path)

    def fit(self, X, y=None):
        start = time.perf_counter()
        params = validate_params(self)
        xy = check_points(X)
        model = self._model()
        n = len(xy)
        norm = display_normalize(xy)
        if n < 3 or np.ptp(norm, axis=0).max() == 0:  # nothing to separate: one group
            self._set(np.zeros(n, np.int64), np.ones(n), np.zeros(n), None, start)
            return self
        from .clusternet_views import run_views  # torch: see _model

        n_views = params["n_views"] or int(model.config.get("n_views", 1))
        views = run_views(model, norm, n_views, self.random_state)
        points, labels, noise_p, agree_p = group_views(model.config, views, norm, params["noise_threshold"],
                                                       params["merge_threshold"], params["min_cluster_share"],
                                                       params["grouping"], params["split_threshold"])
        if len(points) < n:
            nearest = KDTree(norm[points]).query(norm, k=1, return_distance=False)[:, 0]
            labels, agree_p, noise_p = labels[nearest], agree_p[nearest], noise_p[nearest]
            sub = len(points)
        else:  # points is every index in order
            sub = None
        self._set(consecutive(labels), np.clip(agree_p, 0.0, 1.0), noise_p.astype(np.float64), sub, start)
        return self

    def _set(self, labels, agreement, noise, sub, start):
        self.labels_ = labels
        self.agreement_ = agreement
        self.noise_proba_ = noise
        self.n_clusters_ = int(labels.max() + 1) if (labels >= 0).any() else 0
        self.subsample_size_ = sub
        self.n_features_in_ = 2
        self.runtime_ = time.perf_counter() - start

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X).labels_

    def predict_agreement(self, X) -> np.ndarray:
        """Predicted per-point agreement in [0, 1] (share of people agreeing with the majority)."""
        return self.fit(X).agreement_
