"""The tuned reference row: a classical method at the best point of a grid of its hyperparameters,
chosen by its agreement with the reference labels of the very plot it labels.

This is an upper bound, not a method: an analyst never has the answer to tune on. It shows how
far each method's parameter-free default is from that method's own best on a plot, so a reader of
Compare or ``visclust evaluate clusternet --tuned`` can tell "the method cannot" from "its
default did not". Rows are named ``<method>:tuned`` (``tuned_name``).

The grids (``param_grid``) span each method's own hyperparameters in display units (the unit
square the clusterers run in): k around the reference's number of clusters (0.5x to 1.6x, and
k +- 1), DBSCAN's eps from 0.005 to 0.15 with min_samples 4-32, HDBSCAN's min_cluster_size from
5 to n/5, OPTICS' xi, mean shift's bandwidth, BIRCH's threshold, the spectral graph's
neighbours, and the linkages' cut. Every grid holds the method's default (all parameters
automatic), so a tuned row is never below its default; grids over ``max_combos`` are
subsampled with ``random_state``. The score is ``perception.devbench.ami_noise_excluded``
averaged over the reference's raters. ClusterNet is not tuned: it has no hyperparameters an
analyst would search, only trained weights.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.model_selection import ParameterGrid

from data import InvalidParameter, check_points

from .devbench import mean_ami, n_clusters

SUFFIX = ":tuned"


def tuned_name(method: str) -> str:
    return method + SUFFIX


def base_method(name: str) -> str | None:
    """The method a tuned row's name stands for, or None when ``name`` is no tuned row."""
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else None


def _ks(k_ref: int) -> list[int]:
    k_ref = max(k_ref, 1)
    ks = {k_ref - 1, k_ref, k_ref + 1, *(int(round(k_ref * f)) for f in (0.5, 0.8, 1.25, 1.6))}
    return sorted(k for k in ks if k >= 1)


def _sizes(n: int, count: int) -> list[int]:
    return sorted({int(s) for s in np.geomspace(5, max(10, n // 5), count)})


def param_grid(method: str, n: int, k_ref: int) -> list[dict]:
    """Hyperparameter settings to try for a registered classical method on an n-point plot whose
    reference has ``k_ref`` clusters (the default, ``{}``, first)."""
    from models import get_method

    entry = get_method(method)
    if entry.perceptual:
        raise InvalidParameter(f"{entry.display_name} is not tuned: only the classical clusterers have a grid")
    ks = _ks(k_ref)
    grids = {
        "kmeans": [{"k": ks}], "kmedoids": [{"k": ks}], "gmm": [{"k": ks}],
        "spectral": [{"k": ks, "n_neighbors": [5, 10, 20, 40]}],
        "birch": [{"k": ks, "threshold": [0.003, 0.01, 0.03]}],
        "dbscan": [{"eps": list(np.geomspace(0.005, 0.15, 7)), "min_samples": [4, 8, 16, 32]}],
        "hdbscan": [{"min_cluster_size": _sizes(n, 6), "min_samples": [None, 2, 8, 32]}],
        "optics": [{"xi": [None, 0.01, 0.03, 0.1, 0.2], "min_samples": [5, 10, 20, 40]}],
        "meanshift": [{"bandwidth": list(np.geomspace(0.01, 0.3, 8))}],
    }
    # with and without the neighbour graph: the graph follows shapes that any-pair linkage cuts
    linkage = [{"k": ks, "n_neighbors": [0, 10]}, {"min_cluster_size": _sizes(n, 5), "n_neighbors": [0, 10]}]
    grid = grids.get(method, linkage if method.startswith("agglomerative-") else None)
    if grid is None:
        raise InvalidParameter(f"no tuning grid for {entry.display_name}; add one to perception.tuned.param_grid")
    settings = [{}] + [dict(s) for s in ParameterGrid(grid)]
    return [{k: (float(v) if isinstance(v, np.floating) else v) for k, v in s.items()} for s in settings]


def _raters(y, n: int) -> np.ndarray:
    raters = np.atleast_2d(np.asarray(y, dtype=np.int64))
    if raters.shape[1] != n:
        raise InvalidParameter(f"the reference has {raters.shape[1]} labels per rater for {n} points")
    return raters


class TunedClusterer(ClusterMixin, BaseEstimator):
    """One classical method at the grid setting that best matches the reference given to ``fit``.

    ``fit(X, y)``: ``y`` is the reference, one labeling (n,) or several raters (m, n), -1 = noise.
    Fitted attributes: ``labels_``, ``n_clusters_``, ``best_params_`` (only the settings that
    differ from the default), ``best_score_``, ``default_score_``, ``results_`` (a list of
    ``{"params", "score", "error"}``, one per setting tried) and ``runtime_`` (the whole search).
    """

    tuned_on_reference = True  # devbench and the wut scorer pass their reference to fit

    def __init__(self, method: str = "hdbscan", max_combos: int = 30, random_state: int = 0):
        self.method, self.max_combos, self.random_state = method, max_combos, random_state

    def fit(self, X, y=None):
        from models import make_clusterer

        if y is None:
            raise InvalidParameter("a tuned row needs the reference labels to tune on: fit(X, y)")
        if int(self.max_combos) < 1:
            raise InvalidParameter(f"max_combos must be at least 1, got {self.max_combos!r}")
        xy = check_points(X)
        raters = _raters(y, len(xy))
        start = time.perf_counter()
        k_ref = int(np.median([n_clusters(r) for r in raters]))
        settings = param_grid(self.method, len(xy), k_ref)
        if len(settings) > self.max_combos:
            rng = np.random.default_rng(self.random_state)
            keep = rng.choice(np.arange(1, len(settings)), self.max_combos - 1, replace=False)
            settings = [settings[0]] + [settings[i] for i in sorted(keep)]
        best, self.results_ = None, []
        for params in settings:
            try:
                with warnings.catch_warnings():  # a grid's far corners warn by design (BIRCH, spectral graphs)
                    warnings.simplefilter("ignore")
                    labels = np.asarray(make_clusterer(self.method, self.random_state, **params).fit(xy).labels_)
            except Exception as exc:  # a setting that fails on this plot (e.g. k above the points) is skipped
                self.results_.append({"params": params, "score": float("nan"), "error": f"{type(exc).__name__}: {exc}"})
                continue
            score = mean_ami(labels, raters)
            self.results_.append({"params": params, "score": score, "error": ""})
            if best is None or score > best[0]:
                best = (score, params, labels)
        if best is None:
            raise InvalidParameter(f"every {self.method} setting failed on this plot: {self.results_[0]['error']}")
        self.best_score_, self.best_params_, self.labels_ = best
        self.default_score_ = self.results_[0]["score"]
        self.n_clusters_ = n_clusters(self.labels_)
        self.n_features_in_ = 2
        self.runtime_ = time.perf_counter() - start
        return self
