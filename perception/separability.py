"""Pairwise separability: p(two Gaussian components are seen as one cluster), CLAMS step 2-3.

The 13 features follow CLAMS (Jeon et al., VIS 2023; ../shared/docs/REFERENCES.md) with
the exact definitions, which the paper leaves open, fixed here (docs/perception.md). The
paper's regressor was trained on ClustMe's human judgments (Abbas et al., EuroVis 2019),
which cannot be downloaded here; by default this one learns from two-Gaussian plots
labelled by simulated observers (perception.observers), and ``judgments`` lets real
ClustMe-style data replace them. The model is a small MLP stored as plain arrays in JSON
and evaluated with numpy, so loading never unpickles anything. Training: perception/separability_train.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np

__all__ = ["FEATURES", "pair_features", "component_pair_features", "SeparabilityModel",
           "save", "load", "DEFAULT_MODEL_PATH", "default_model"]

DEFAULT_MODEL_PATH = files("assets") / "separability.json"

# The orientation features are weighted by ellipticity: a round component has no orientation,
# and unweighted angles made near-round pairs far apart read as p 0.1-0.2 (docs/perception.md).
FEATURES = (
    "rotation_difference_x_ellipticity", "rotation_average_x_ellipticity", "scaling_difference",
    "mean_distance", "scaling_size", "scaling_size_difference", "distance_over_size",
    "ellipticity_average", "ellipticity_difference", "log_density_average", "log_density_difference",
    "axis_angle_average_x_ellipticity", "axis_angle_difference_x_ellipticity",
)

_TINY = 1e-12


def _axis_angle(u, v):
    """Unsigned angle in [0, pi/2] between undirected axes (unit vectors, rows)."""
    return np.arccos(np.clip(np.abs(np.sum(u * v, axis=-1)), 0.0, 1.0))


def pair_features(means, covariances, weights, pairs) -> np.ndarray:
    """The 13 CLAMS features for component pairs (m, 2) of a Gaussian mixture: (m, 13).

    Per component: sqrt of the covariance eigenvalues (major a, minor b) and the major axis.
    Per pair, lengths are divided by the pair's larger range (the bounding box of both
    2-sigma ellipses), which makes the features independent of the plot's scale.
    """
    means = np.asarray(means, float)
    covs = np.asarray(covariances, float)
    weights = np.asarray(weights, float)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    evals, evecs = np.linalg.eigh(covs)
    a = np.sqrt(np.maximum(evals[:, 1], _TINY))
    b = np.sqrt(np.maximum(evals[:, 0], _TINY))
    axis = evecs[:, :, 1]  # major axis, unit length
    half = 2.0 * np.sqrt(np.maximum(np.diagonal(covs, axis1=1, axis2=2), _TINY))  # 2-sigma box
    i, j = pairs[:, 0], pairs[:, 1]
    lo = np.minimum(means[i] - half[i], means[j] - half[j])
    hi = np.maximum(means[i] + half[i], means[j] + half[j])
    scale = np.max(hi - lo, axis=1)
    ai, bi, aj, bj = a[i] / scale, b[i] / scale, a[j] / scale, b[j] / scale
    delta = means[j] - means[i]
    dist = np.linalg.norm(delta, axis=1) / scale
    direction = delta / np.maximum(np.linalg.norm(delta, axis=1, keepdims=True), _TINY)
    rot_diff = _axis_angle(axis[i], axis[j])
    # circular mean of undirected orientations: average the doubled angles
    th_i, th_j = np.arctan2(axis[i][:, 1], axis[i][:, 0]), np.arctan2(axis[j][:, 1], axis[j][:, 0])
    rot_avg = np.mod(np.arctan2(np.sin(2 * th_i) + np.sin(2 * th_j), np.cos(2 * th_i) + np.cos(2 * th_j)) / 2, np.pi)
    size_i, size_j = ai * bi, aj * bj
    ell_i, ell_j = 1 - bi / ai, 1 - bj / aj
    share = weights[i] + weights[j]
    dens_i = np.log(np.maximum(weights[i] / share / size_i, _TINY))
    dens_j = np.log(np.maximum(weights[j] / share / size_j, _TINY))
    ang_i, ang_j = _axis_angle(direction, axis[i]), _axis_angle(direction, axis[j])
    ell_avg = (ell_i + ell_j) / 2
    return np.column_stack([
        rot_diff * np.sqrt(ell_i * ell_j), rot_avg * ell_avg, np.abs(ai - aj) + np.abs(bi - bj), dist,
        size_i + size_j, np.abs(size_i - size_j), dist / (np.sqrt(size_i) + np.sqrt(size_j)),
        ell_avg, np.abs(ell_i - ell_j), (dens_i + dens_j) / 2, np.abs(dens_i - dens_j),
        (ang_i + ang_j) / 2 * ell_avg, np.abs(ang_i - ang_j) * ell_avg,
    ])


def component_pair_features(xy, seed: int = 0) -> np.ndarray:
    """Features (13,) of the two-component full-covariance GMM fitted to a plot, as CLAMS sees it."""
    from sklearn.mixture import GaussianMixture

    from data import display_normalize

    gmm = GaussianMixture(2, covariance_type="full", random_state=seed).fit(display_normalize(xy))
    return pair_features(gmm.means_, gmm.covariances_, gmm.weights_, [[0, 1]])[0]


@dataclass
class SeparabilityModel:
    """Standardise, then a ReLU MLP with one output: p(one cluster).

    ``link`` "identity" clips the output to [0, 1]; "logit" reads it as log-odds (a sigmoid),
    so that pairs nobody would join get p near 0 rather than a regression's few percent,
    which binary entropy turns into sizeable ambiguity.
    """

    mean: np.ndarray
    scale: np.ndarray
    coefs: list
    intercepts: list
    info: dict = field(default_factory=dict)  # provenance and held-out validation figures
    link: str = "identity"

    def predict(self, features) -> np.ndarray:
        h = (np.atleast_2d(np.asarray(features, float)) - self.mean) / self.scale
        for k, (w, c) in enumerate(zip(self.coefs, self.intercepts)):
            h = h @ w + c
            if k < len(self.coefs) - 1:
                h = np.maximum(h, 0.0)
        if self.link == "logit":
            return 1.0 / (1.0 + np.exp(-np.clip(h[:, 0], -50, 50)))
        return np.clip(h[:, 0], 0.0, 1.0)

    def to_dict(self) -> dict:
        return dict(format="visclust-separability-mlp/1", features=list(FEATURES),
                    mean=self.mean.tolist(), scale=self.scale.tolist(),
                    coefs=[w.tolist() for w in self.coefs], intercepts=[c.tolist() for c in self.intercepts],
                    info=self.info, link=self.link)

    @classmethod
    def from_dict(cls, d: dict) -> "SeparabilityModel":
        if d.get("format") != "visclust-separability-mlp/1" or list(d.get("features", [])) != list(FEATURES):
            raise ValueError("not a visclust separability model of this version (format or feature list "
                             "differs): retrain it with `visclust train separability`")
        return cls(np.asarray(d["mean"], float), np.asarray(d["scale"], float),
                   [np.asarray(w, float) for w in d["coefs"]], [np.asarray(c, float) for c in d["intercepts"]],
                   d.get("info", {}), d.get("link", "identity"))


def save(model: SeparabilityModel, path=DEFAULT_MODEL_PATH) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model.to_dict(), indent=1))
    return path


def load(path=DEFAULT_MODEL_PATH) -> SeparabilityModel:
    return SeparabilityModel.from_dict(json.loads(Path(path).read_text()))


_DEFAULT: SeparabilityModel | None = None


def default_model() -> SeparabilityModel:
    """The shipped model (assets/separability.json), read once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load(DEFAULT_MODEL_PATH)
    return _DEFAULT
