"""The development benchmark: seeded, generated plot groups for the factors that break clusterers.

Groups (``GROUPS``; each ``per_group`` plots, every one drawn from
``np.random.SeedSequence([seed, zlib.crc32(group), i])`` through ``data.generate``):

- ``blobs-k{2,5,10,20,35,50,100}``: compact, well-separated round Gaussian blobs (centres at
  least 9 sigma apart), 1k to 100k points (log-uniform, at least 30 per blob);
- ``overlap-pairs`` / ``overlap-triples``: two or three Gaussians that touch or overlap, 1k-20k;
- ``rings``, ``spirals``, ``moons``: two concentric rings / arms / moons (``data.generate.shapes``);
  ``trajectories``: 2-4 random walks, arcs and waves (``data.generate.SCENE_PRIMITIVES``);
  ``chameleon``: composite scenes of 3-7 primitives (``data.generate.scene``); all with 0-10 %
  uniform background and 300-10k points;
- ``density-imbalance`` (blob sigmas differ up to 8x) and ``size-imbalance`` (Dirichlet sizes),
  2-6 separated blobs, 1k-20k points;
- ``single``: one Gaussian, round or elongated up to 4:1, 300-100k points;
- ``uniform``: uniform noise, 300-20k points.

Every plot is scored against the majority of a simulated crowd (``references``, cached on
disk), and against the generator's components where that reading is unambiguous
(``truth``: the well-separated blob groups and ``single``; None elsewhere). ``score`` also
records the majority's own AMI with the generator's components (``majority_vs_components``)
on every plot that has components, for the rule "no plot below 0.3 where the majority itself
agrees with the generator at >= 0.8".

The crowd runs on a 128 x 128 density grid, so its cost barely grows with the plot: measured
on this machine, 20 observers take 0.2 s on 100k points and the consensus 0.6 s; no
subsampling is needed up to 100k points (``max_points`` caps plots for quick runs).

Quick run (about 2 minutes on one core): ``score("hdbscan", per_group=3, max_points=5000,
cache_dir="runs/devbench-cache")``; ``summary(df)`` gives the per-group table.
"""
from __future__ import annotations

import hashlib
import time
import zlib
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_mutual_info_score

from data import Scatterplot
from data.generate import SCENE_PRIMITIVES, blobs, scene, shapes, two_gaussians, uniform_noise

from .agreement import consensus
from .observers import simulate_crowd

BLOB_KS = (2, 5, 10, 20, 35, 50, 100)
N_OBSERVERS = 20
CROWD_SEED = 424_242  # the reference crowd's seed, mixed with the plot's content


def _log_n(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(np.exp(rng.uniform(np.log(lo), np.log(max(hi, lo)))))


def _seed(rng) -> int:
    return int(rng.integers(2**31))


def _blobs_k(k: int):
    def make(rng, cap):
        n = _log_n(rng, max(1000, 30 * k), cap(100_000))
        return blobs(n, k=k, separation=9.0, elongation=1.3, seed=_seed(rng)), True
    return make


def _overlap(k: int):
    def make(rng, cap):
        n = _log_n(rng, 1000, cap(20_000))
        if k == 2:
            return two_gaussians(n, distance=float(rng.uniform(1.5, 4.5)), sigma_ratio=float(rng.uniform(0.5, 1.5)),
                                 rotation=float(rng.uniform(0, 180)), size_ratio=float(rng.uniform(0.3, 1)),
                                 elongation=float(rng.uniform(1, 3)), seed=_seed(rng)), False
        return blobs(n, k=k, separation=float(rng.uniform(2.0, 4.5)), density_range=float(rng.uniform(1, 2)),
                     elongation=float(rng.uniform(1, 2.5)), seed=_seed(rng)), False
    return make


def _shape(kind: str):
    def make(rng, cap):
        n = _log_n(rng, 300, cap(10_000))
        return shapes(kind, n, noise=float(rng.uniform(0.02, 0.06)), background=float(rng.uniform(0, 0.1)),
                      seed=_seed(rng)), False
    return make


def _trajectories(rng, cap):
    """2-4 paths (random walks, arcs, waves) placed apart, plus 0-10 % background."""
    n = _log_n(rng, 300, cap(10_000))
    k = int(rng.integers(2, 5))
    n_bg = int(round(n * rng.uniform(0, 0.1)))
    sizes = np.full(k, (n - n_bg) // k)
    sizes[0] += n - n_bg - sizes.sum()
    parts, labels = [], []
    for i, m in enumerate(sizes):
        kind = str(rng.choice(["walk", "arc", "wave"]))
        parts.append(SCENE_PRIMITIVES[kind](rng, int(m)) * 0.8 + (1.2 * i, float(rng.uniform(-0.3, 0.3))))
        labels.append(np.full(int(m), i))
    xy, lab = np.vstack(parts), np.concatenate(labels)
    lo, hi = xy.min(axis=0) - 0.1, xy.max(axis=0) + 0.1
    xy = np.vstack([xy, rng.uniform(lo, hi, (n_bg, 2))])
    lab = np.concatenate([lab, np.full(n_bg, -1)])
    order = rng.permutation(len(xy))
    return Scatterplot(xy[order], labels=lab[order], name="trajectories",
                       meta={"generator": "trajectories", "params": {"n": n, "k": k}}), False


def _chameleon(rng, cap):
    n = _log_n(rng, 300, cap(10_000))
    return scene(n, k=int(rng.integers(3, 8)), gap=float(rng.uniform(0.02, 0.06)), overlap=0.0,
                 noise=float(rng.uniform(0, 0.1)), seed=_seed(rng)), False


def _imbalance(kind: str):
    def make(rng, cap):
        n = _log_n(rng, 1000, cap(20_000))
        k = int(rng.integers(2, 7))
        extra = dict(density_range=float(rng.uniform(3, 8))) if kind == "density" else \
            dict(size_imbalance=float(rng.uniform(1, 3)))
        plot = blobs(n, k=k, separation=10.0, seed=_seed(rng), **extra)
        sizes = np.bincount(plot.labels[plot.labels >= 0])
        return plot, bool(sizes.min() >= max(20, 0.02 * n))  # a handful of points is no cluster to read
    return make


def _single(rng, cap):
    n = _log_n(rng, 300, cap(100_000))
    return blobs(n, k=1, elongation=float(rng.uniform(1, 4)), seed=_seed(rng)), True


def _uniform(rng, cap):
    return uniform_noise(_log_n(rng, 300, cap(20_000)), seed=_seed(rng)), False


# group -> make(rng, cap) -> (plot, whether its generator components are the unambiguous reading)
GROUPS: dict[str, Callable] = {
    **{f"blobs-k{k}": _blobs_k(k) for k in BLOB_KS},
    "overlap-pairs": _overlap(2), "overlap-triples": _overlap(3),
    "rings": _shape("rings"), "spirals": _shape("spirals"), "moons": _shape("moons"),
    "trajectories": _trajectories, "chameleon": _chameleon,
    "density-imbalance": _imbalance("density"), "size-imbalance": _imbalance("size"),
    "single": _single, "uniform": _uniform,
}


def plots(seed: int = 0, per_group: int = 30, max_points: int | None = None,
          groups=None) -> Iterator[tuple[str, Scatterplot, np.ndarray | None]]:
    """(group, plot, truth or None) for ``per_group`` plots of each group (``groups``: a subset
    of ``GROUPS``). ``plot.name`` is the plot's id (``group-i``); ``truth`` is the generator's
    component labeling where it is the unambiguous reading. ``max_points`` caps point counts
    for quick runs, but never below a group's smallest size (blobs keep 30 points per blob)."""
    unknown = sorted(set(groups or []) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown devbench group(s) {unknown}; choose from {list(GROUPS)}")

    def cap(hi):
        return min(hi, max_points) if max_points else hi

    for group in groups or GROUPS:
        for i in range(per_group):
            rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(group.encode()), i]))
            plot, unambiguous = GROUPS[group](rng, cap)
            plot.name = f"{group}-{i}"
            yield group, plot, plot.labels.copy() if unambiguous else None


def _plot_key(xy: np.ndarray, n_observers: int, seed: int) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(xy, dtype=np.float64).tobytes()).hexdigest()[:20]
    return f"{digest}-m{n_observers}-s{seed}"


def references(plot, cache_dir=None, n_observers: int = N_OBSERVERS, seed: int = CROWD_SEED) -> np.ndarray:
    """The simulated crowd's majority labeling of ``plot`` (-1 = noise): ``n_observers``
    observers (``perception.observers.simulate_crowd``) merged by
    ``perception.agreement.consensus``. With ``cache_dir`` it is computed once per plot
    content, crowd size and seed, and read back from ``cache_dir/<key>.npy``."""
    xy = np.asarray(getattr(plot, "xy", plot), dtype=np.float64)
    path = Path(cache_dir) / f"{_plot_key(xy, n_observers, seed)}.npy" if cache_dir else None
    if path is not None and path.exists():
        return np.load(path)
    majority = consensus(simulate_crowd(xy, n_observers=n_observers, seed=seed))[0]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, majority)
        tmp.rename(path)
    return majority


def ami_noise_excluded(labels: np.ndarray, reference: np.ndarray) -> float:
    """AMI of ``labels`` with ``reference`` on the points the reference puts in a cluster; when
    it puts fewer than two there (all noise), on every point with noise as one class.

    AMI with a reference of one class is 0 for anything but that one class (its expected and
    observed mutual information are both 0), so one split-off point would score like chaos:
    against one cluster the score is the share of its points in the labeling's largest cluster."""
    keep = reference >= 0
    if keep.sum() < 2:
        keep = np.ones(len(reference), bool)
    ref, lab = reference[keep], labels[keep]
    if len(np.unique(ref)) == 1 and ref[0] >= 0:
        clustered = lab[lab >= 0]
        return float(np.bincount(clustered).max() / len(lab)) if len(clustered) else 0.0
    return float(adjusted_mutual_info_score(ref, lab))


def mean_ami(labels: np.ndarray, raters: np.ndarray) -> float:
    """Mean over the raters (m, n) of :func:`ami_noise_excluded` with ``labels``."""
    return float(np.mean([ami_noise_excluded(labels, r) for r in raters]))


def n_clusters(labels: np.ndarray) -> int:
    return len(np.unique(labels[labels >= 0]))


def _factory(estimator):
    if isinstance(estimator, str):
        from models import make_clusterer

        return lambda: make_clusterer(estimator)
    return estimator


def fit_labels(model, xy: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``model``'s labels of ``xy``. A tuned row (``tuned_on_reference``, ``perception.tuned``)
    searches its grid against the reference it is scored on; every other model never sees it."""
    fitted = model.fit(xy, reference) if getattr(model, "tuned_on_reference", False) else model.fit(xy)
    return np.asarray(fitted.labels_)


def score(estimator_factory, seed: int = 0, per_group: int = 30, max_points: int | None = None, groups=None,
          cache_dir=None, n_observers: int = N_OBSERVERS, progress: bool = False) -> pd.DataFrame:
    """Per plot: group, plot id, n, k_true (generator components, None for noise), k_majority,
    k_found, ami_majority, ami_components (NaN where the components are ambiguous),
    majority_vs_components (the crowd majority's AMI with the components, where there are any)
    and seconds (the fit's wall time). ``estimator_factory``: a registry name
    (``models.make_clusterer``) or a callable returning a fresh estimator with ``fit`` and
    ``labels_``; a ``fit`` that raises is recorded as NaN scores and its message. An estimator
    with ``tuned_on_reference`` (``perception.tuned.TunedClusterer``) is fitted with the crowd
    majority as ``y``: its ami_majority is an upper bound, not a method's score."""
    make = _factory(estimator_factory)
    rows = []
    for group, plot, truth in plots(seed, per_group, max_points, groups):
        majority = references(plot, cache_dir, n_observers)
        components = plot.labels if plot.labels is not None and (plot.labels >= 0).any() else None
        row = {"group": group, "plot": plot.name, "n": len(plot),
               "k_true": n_clusters(components) if components is not None else None,
               "k_majority": n_clusters(majority),
               "majority_vs_components": ami_noise_excluded(majority, components) if components is not None
               else float("nan")}
        start = time.perf_counter()
        try:
            labels = fit_labels(make(), plot.xy, majority)
        except Exception as exc:  # a clusterer that fails on a plot is a result, not a crash
            rows.append({**row, "k_found": None, "ami_majority": float("nan"), "ami_components": float("nan"),
                         "seconds": time.perf_counter() - start, "error": f"{type(exc).__name__}: {exc}"})
            continue
        seconds = time.perf_counter() - start
        rows.append({**row, "k_found": n_clusters(labels), "ami_majority": ami_noise_excluded(labels, majority),
                     "ami_components": ami_noise_excluded(labels, truth) if truth is not None else float("nan"),
                     "seconds": seconds, "error": ""})
        if progress:
            r = rows[-1]
            print(f"{r['plot']:>22} n={r['n']:>6} k={r['k_true']} found={r['k_found']} "
                  f"ami_maj={r['ami_majority']:.3f} {seconds:.2f}s", flush=True)
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per group: plots, mean AMI with the majority and with the components, the lowest AMI with
    the majority among plots where the majority agrees with the components at >= 0.8
    (``min_ami_trusted``), the share of plots whose cluster count is within 10 % of k
    (``k_within_10pct``, at least off-by-zero for small k), median k found and seconds."""
    def within(r):
        if r.k_true is None or pd.isna(r.k_true) or pd.isna(r.k_found):
            return np.nan
        return float(abs(r.k_found - r.k_true) <= max(0.1 * r.k_true, 0))

    df = df.assign(k_ok=df.apply(within, axis=1))
    trusted = df[df.majority_vs_components >= 0.8]
    out = df.groupby("group", sort=False).agg(
        plots=("plot", "size"), ami_majority=("ami_majority", "mean"), ami_components=("ami_components", "mean"),
        k_true=("k_true", "median"), k_found=("k_found", "median"), k_within_10pct=("k_ok", "mean"),
        seconds=("seconds", "mean"))
    out["min_ami_trusted"] = trusted.groupby("group", sort=False)["ami_majority"].min()
    return out.reset_index()
