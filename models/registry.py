"""The one registry of clustering methods: the classical clusterers and ClusterNet's groupings.

Each entry names an estimator class, the constructor arguments it stands for (a ClusterNet
grouping), its name for people and whether it needs trained weights. The CLI, the app's menus
and sliders, Compare and the evaluations read it; adding a clusterer is one entry here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from data import InvalidParameter

from . import classical as c
from .clusternet_estimator import ClusterNet
from .params import Param


@dataclass(frozen=True)
class Method:
    name: str
    estimator: type
    display_name: str = ""
    fixed: dict = field(default_factory=dict)  # constructor arguments this entry stands for
    perceptual: bool = False  # a model of perception (needs trained weights), not an algorithm

    @property
    def params(self) -> dict[str, Param]:
        """Tunable hyperparameters (name -> Param) for forms; the seed is set separately."""
        return {name: spec for name, spec in self.estimator._param_specs.items()
                if name not in self.fixed and name != "random_state"}

    @property
    def marks_noise(self) -> bool:
        return self.perceptual or self.estimator.marks_noise

    def make(self, random_state: int = 0, **params):
        """A fresh estimator; unknown hyperparameters raise InvalidParameter."""
        allowed = set(self.params) | ({"weights"} if self.perceptual else set())
        if unknown := sorted(set(params) - allowed):
            raise InvalidParameter(f"{self.display_name} has no parameter(s) {unknown}; it takes {sorted(allowed)}")
        return self.estimator(**{**self.fixed, **params, "random_state": random_state})


METHODS: dict[str, Method] = {m.name: m for m in [
    Method("clusternet", ClusterNet, "ClusterNet", perceptual=True),
    Method("clusternet-average", ClusterNet, "ClusterNet (average linkage)", {"grouping": "average"}, perceptual=True),
    *(Method(name, cls, cls.display_name) for name, cls in [
        ("kmeans", c.KMeansClusterer), ("kmedoids", c.KMedoidsClusterer), ("dbscan", c.DBSCANClusterer),
        ("hdbscan", c.HDBSCANClusterer), ("optics", c.OPTICSClusterer), ("gmm", c.GaussianMixtureClusterer),
        ("agglomerative-ward", c.WardClusterer), ("agglomerative-single", c.SingleLinkageClusterer),
        ("agglomerative-average", c.AverageLinkageClusterer), ("spectral", c.SpectralClusterer),
        ("meanshift", c.MeanShiftClusterer), ("birch", c.BirchClusterer)]),
]}
CLASSICAL = [name for name, m in METHODS.items() if not m.perceptual]
PERCEPTUAL = [name for name, m in METHODS.items() if m.perceptual]


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise InvalidParameter(f"unknown clustering method '{name}'; choose one of {list(METHODS)}")
    return METHODS[name]


def make_clusterer(name: str, random_state: int = 0, **params):
    """An estimator by registry name, keyword arguments overriding its defaults."""
    return get_method(name).make(random_state=random_state, **params)
