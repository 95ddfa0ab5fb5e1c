"""Bundled data sets: real ones shipped inside installed packages, and a generated gallery."""
from __future__ import annotations

from functools import lru_cache


from . import generate as g
from .scatterplot import InvalidScatterplot, Scatterplot

# Each gallery plot isolates one factor that shapes perceived clusters.
GALLERY = {
    "separated-blobs": lambda: g.blobs(1200, k=4, separation=9, seed=1),
    "touching-blobs": lambda: g.blobs(1200, k=3, separation=2.5, seed=2),
    "density-difference": lambda: g.blobs(1200, k=3, separation=7, density_range=4, seed=3),
    "size-imbalance": lambda: g.blobs(1500, k=3, separation=7, size_imbalance=2, seed=4),
    "elongated-rotated": lambda: g.blobs(1200, k=3, separation=7, elongation=8, seed=5),
    "two-gaussians-ambiguous": lambda: g.two_gaussians(800, distance=2.4, sigma_ratio=1.0, seed=6),
    "two-gaussians-separate": lambda: g.two_gaussians(800, distance=6, sigma_ratio=0.6, seed=7),
    "moons": lambda: g.shapes("moons", 1000, noise=0.06, seed=8),
    "rings": lambda: g.shapes("rings", 1000, noise=0.04, seed=9),
    "spirals": lambda: g.shapes("spirals", 1000, noise=0.02, seed=10),
    "background-noise": lambda: g.blobs(1200, k=3, separation=8, noise=0.25, seed=11),
    "many-small-clusters": lambda: g.blobs(1500, k=16, separation=6, seed=12),
    "one-big-blob": lambda: g.blobs(1000, k=1, seed=13),
    "uniform-noise": lambda: g.uniform_noise(800, seed=14),
}


def _sklearn(name):
    from sklearn import datasets as skd
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    loader = {"iris": skd.load_iris, "wine": skd.load_wine, "digits": skd.load_digits,
              "breast-cancer": skd.load_breast_cancer}[name]
    bunch = loader()
    xy = PCA(2, random_state=0).fit_transform(StandardScaler().fit_transform(bunch.data))
    return Scatterplot(xy, labels=bunch.target, name=name,
                       meta={"source": f"scikit-learn load_{name.replace('-', '_')}, PCA to 2-D",
                             "label_meaning": "class"})


def _penguins():
    from palmerpenguins import load_penguins

    table = load_penguins().dropna(subset=["bill_length_mm", "bill_depth_mm"])
    labels = table["species"].astype("category").cat.codes.to_numpy()
    return Scatterplot(table[["bill_length_mm", "bill_depth_mm"]].to_numpy(), labels=labels, name="penguins",
                       meta={"source": "palmerpenguins: bill length vs depth", "label_meaning": "species"})


REAL = {
    "iris": lambda: _sklearn("iris"),
    "wine": lambda: _sklearn("wine"),
    "digits": lambda: _sklearn("digits"),
    "breast-cancer": lambda: _sklearn("breast-cancer"),
    "penguins": _penguins,
}


def datasets() -> list[str]:
    """Names of every bundled data set: real sets first, then the generated gallery."""
    return list(REAL) + list(GALLERY)


@lru_cache(maxsize=64)
def _cached(name: str) -> Scatterplot:
    source = REAL.get(name) or GALLERY.get(name)
    if source is None:
        raise InvalidScatterplot(f"no bundled data set '{name}'; choose one of {datasets()}")
    plot = source()
    plot.name = name
    plot.meta.setdefault("label_meaning", "generated component")
    return plot


def bundled(name: str) -> Scatterplot:
    """A fresh copy of a bundled data set (callers may modify it)."""
    plot = _cached(name)
    labels = None if plot.labels is None else plot.labels.copy()
    return Scatterplot(plot.xy.copy(), labels=labels, name=plot.name, meta=dict(plot.meta))
