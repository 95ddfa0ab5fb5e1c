"""Dimensionality reducers to 2-D behind one registry, each with its hyperparameter space.

Every reducer follows scikit-learn's ``fit_transform(X) -> (n, 2)`` and takes a seed.
Features are standardised first, as is usual before projecting mixed-unit columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler

from data import InvalidScatterplot


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter's search range (``log`` for scale-like parameters)."""

    name: str
    low: float
    high: float
    integer: bool = False
    log: bool = False
    default: float | None = None

    def value(self, u: float):
        """Map u in [0, 1] into the range."""
        if self.log:
            v = float(np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low))))
        else:
            v = self.low + u * (self.high - self.low)
        return int(round(v)) if self.integer else round(float(v), 4)


@dataclass(frozen=True)
class ReducerSpec:
    name: str
    display_name: str
    make: Callable[..., object]  # (seed, n, **params) -> object with fit_transform
    space: tuple[Dimension, ...] = ()
    max_points: int | None = None

    @property
    def defaults(self) -> dict:
        return {d.name: d.default for d in self.space}


def _pca(seed, n):
    from sklearn.decomposition import PCA

    return PCA(2, random_state=seed)


def _tsne(seed, n, perplexity=30.0, early_exaggeration=12.0):
    from sklearn.manifold import TSNE

    # perplexity must stay below n; sklearn refuses otherwise
    return TSNE(2, perplexity=min(float(perplexity), (n - 1) / 3), early_exaggeration=float(early_exaggeration),
                init="pca", learning_rate="auto", random_state=seed)


def _umap(seed, n, n_neighbors=15, min_dist=0.1):
    import umap

    return umap.UMAP(n_components=2, n_neighbors=min(int(n_neighbors), n - 1), min_dist=float(min_dist),
                     random_state=seed, n_jobs=1)


def _isomap(seed, n, n_neighbors=10):
    from sklearn.manifold import Isomap

    return Isomap(n_neighbors=min(int(n_neighbors), n - 1), n_components=2)


def _mds(seed, n):
    from sklearn.manifold import MDS

    return MDS(2, random_state=seed, n_init=1, normalized_stress="auto")


REDUCERS: dict[str, ReducerSpec] = {
    spec.name: spec for spec in [
        ReducerSpec("pca", "PCA", _pca),
        ReducerSpec("tsne", "t-SNE", _tsne, (
            Dimension("perplexity", 5, 100, log=True, default=30.0),
            Dimension("early_exaggeration", 4, 24, default=12.0),
        )),
        ReducerSpec("umap", "UMAP", _umap, (
            Dimension("n_neighbors", 5, 100, integer=True, log=True, default=15),
            Dimension("min_dist", 0.0, 0.99, default=0.1),
        )),
        ReducerSpec("isomap", "Isomap", _isomap, (
            Dimension("n_neighbors", 5, 50, integer=True, log=True, default=10),
        )),
        ReducerSpec("mds", "MDS", _mds, max_points=2000),
    ]
}


class Reducer(TransformerMixin, BaseEstimator):
    """A registered reducer: ``Reducer("umap", {"n_neighbors": 30}, random_state=0).fit_transform(X)``."""

    def __init__(self, method: str = "pca", params: dict | None = None, random_state: int = 0):
        self.method = method
        self.params = params
        self.random_state = random_state

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        spec = get_reducer(self.method)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] < 2 or len(X) < 10:
            raise InvalidScatterplot(f"need a table of at least 10 rows and 2 columns, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise InvalidScatterplot("the table has missing or infinite values")
        if spec.max_points and len(X) > spec.max_points:
            raise InvalidScatterplot(f"{spec.display_name} handles at most {spec.max_points} rows, got {len(X)}")
        params = {k: v for k, v in {**spec.defaults, **(self.params or {})}.items() if v is not None}
        unknown = set(params) - set(spec.defaults)
        if unknown:
            raise InvalidScatterplot(f"{spec.display_name} has no parameter(s) {sorted(unknown)}")
        scaled = StandardScaler().fit_transform(X)
        self.embedding_ = np.asarray(spec.make(self.random_state, len(X), **params).fit_transform(scaled),
                                     dtype=np.float64)
        self.params_ = params
        return self.embedding_


def get_reducer(name: str) -> ReducerSpec:
    if name not in REDUCERS:
        raise InvalidScatterplot(f"unknown reducer '{name}'; choose one of {list(REDUCERS)}")
    return REDUCERS[name]
