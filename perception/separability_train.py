"""Training data and fitting of CLAMS' pairwise regressor p(two components are seen as one cluster).

Two sources of simulated judgments (perception.observers, 20 observers per plot), or real ones:
- *two-Gaussian plots* over ClustMe-like ranges (the paper's setting): the features of a
  two-component GMM, target = share of observers who see one cluster;
- *component pairs in context*: CLAMS' own mixture fitted to a many-cluster plot (blobs of
  unequal densities, sizes and shapes, scenes, rings and moons), its Gabriel-neighbour pairs,
  target = share of observers who put the two components' points in one cluster. At inference
  CLAMS scores exactly such pairs, with other components nearby; two-Gaussian plots alone
  never show them (v1 gave 0.05-0.16 to pairs of blobs 10 sigma apart).
- *judgments*: a ClustMe-style table with probSingle per plot (docs/perception.md).
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from data import display_normalize
from data import generate as gen

from .clams import CLAMS, gabriel_pairs
from .observers import simulate_crowd
from .separability import SeparabilityModel, component_pair_features, pair_features

__all__ = ["train_separability", "training_pairs", "fit_separability", "crowd_prob_single", "context_pairs"]


def _clustme_like(rng: np.random.Generator) -> dict:
    """Two-Gaussian parameters over ClustMe-like ranges (size, separation, shape, rotation, tau), wider in distance."""
    e1, e2 = rng.uniform(1, 5, 2)
    s2 = float(np.exp(rng.uniform(np.log(0.3), np.log(3))))
    # a third of the pairs lie far apart, as neighbours in many-cluster plots do (up to 40 sigma)
    distance = float(rng.uniform(0, 10) if rng.random() < 0.67 else rng.uniform(10, 40))
    return dict(n=int(rng.integers(200, 1500)), distance=distance,
                sigmas=((1.0, 1.0 / e1), (s2, s2 / e2)), rotations=tuple(rng.uniform(0, 180, 2)),
                size_ratio=float(np.exp(rng.uniform(np.log(0.2), np.log(5)))), seed=int(rng.integers(2**31)))


def crowd_prob_single(xy, seed: int = 0, n_observers: int = 20, min_share: float = 0.05) -> float:
    """Share of simulated observers who see one cluster, ignoring clusters under ``min_share``."""
    crowd = simulate_crowd(xy, n_observers, seed)
    single = 0
    for lab in crowd:
        counts = np.bincount(lab[lab >= 0]) if np.any(lab >= 0) else np.zeros(0)
        single += int(np.sum(counts >= min_share * len(lab)) <= 1)
    return single / n_observers


def _context_plot(rng: np.random.Generator):
    """A many-component plot: blobs of mixed density, size and shape (often touching), a scene or a shape."""
    seed = int(rng.integers(2**31))
    kind = rng.choice(["blobs", "scene", "shapes"], p=[0.7, 0.15, 0.15])
    if kind == "blobs":
        k = int(np.exp(rng.uniform(np.log(3), np.log(60))))
        return gen.blobs(int(min(12_000, k * rng.integers(80, 300))), k=k, separation=float(rng.uniform(1.5, 12)),
                         density_range=float(rng.uniform(1, 4)), size_imbalance=float(rng.uniform(0, 1.5)),
                         elongation=float(rng.uniform(1, 4)), noise=float(rng.choice([0, 0, 0.05])), seed=seed)
    if kind == "scene":
        return gen.random_scene(rng)
    return gen.shapes(str(rng.choice(["moons", "rings", "spirals"])), int(rng.integers(500, 5000)),
                      noise=float(rng.uniform(0.02, 0.1)), seed=seed)


def _assign(xy, means, covariances, weights) -> np.ndarray:
    """Most probable component of every point under the mixture (the GMM's hard assignment)."""
    logp = np.column_stack([np.log(w) + multivariate_normal(m, c, allow_singular=True).logpdf(xy)
                            for m, c, w in zip(means, covariances, weights)])
    return np.argmax(logp - logsumexp(logp, axis=1, keepdims=True), axis=1)


def context_pairs(xy, seed: int = 0, n_observers: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(features (m, 13), p(one cluster) (m,)) of the Gabriel-neighbour pairs of CLAMS' mixture on a plot.

    Per observer, a component takes the cluster most of its points are given (noise if most are
    noise); a pair is seen as one when both components take the same cluster.
    """
    pts = display_normalize(xy)
    est = CLAMS(random_state=seed).fit(pts)  # display coordinates in, display coordinates out
    k = est.n_components_
    if k < 2:
        return np.zeros((0, 13)), np.zeros(0)
    comp = _assign(pts, est.means_, est.covariances_, est.weights_)
    i, j = np.nonzero(np.triu(gabriel_pairs(est.means_), 1))
    crowd = simulate_crowd(pts, n_observers, seed)
    one = np.zeros(len(i))
    for lab in crowd:
        taken = np.full(k, -1)
        for c in range(k):
            votes = lab[comp == c]
            if len(votes) and np.mean(votes >= 0) > 0.5:
                taken[c] = np.bincount(votes[votes >= 0]).argmax()
        one += (taken[i] == taken[j]) & (taken[i] >= 0)
    pairs = np.column_stack([i, j])
    return pair_features(est.means_, est.covariances_, est.weights_, pairs), one / n_observers


def _judgment_rows(judgments) -> tuple[list, np.ndarray]:
    """Plots and probSingle targets from a judgments table (see docs/perception.md)."""
    import pandas as pd

    import data

    table = judgments if isinstance(judgments, pd.DataFrame) else pd.read_csv(judgments)
    if "probSingle" not in table.columns:
        raise data.InvalidScatterplot("the judgments table needs a probSingle column")
    params = ["distance", "sigma_x1", "sigma_y1", "sigma_x2", "sigma_y2", "rotation1", "rotation2", "size_ratio"]
    plots = []
    for k, row in table.iterrows():
        if "file" in table.columns:
            plots.append(data.load(str(row["file"])).xy)
        elif all(p in table.columns for p in params):
            plots.append(gen.two_gaussians(
                int(row.get("n", 500)), distance=float(row["distance"]), size_ratio=float(row["size_ratio"]),
                sigmas=((row["sigma_x1"], row["sigma_y1"]), (row["sigma_x2"], row["sigma_y2"])),
                rotations=(row["rotation1"], row["rotation2"]), seed=int(row.get("seed", k))).xy)
        else:
            raise data.InvalidScatterplot(
                "the judgments table needs a 'file' column or the columns " + ", ".join(params))
    target = table["probSingle"].to_numpy(float)
    if np.any((target < 0) | (target > 1)) or not np.all(np.isfinite(target)):
        raise data.InvalidScatterplot("probSingle must lie in [0, 1]")
    return plots, target


def training_pairs(n_plots: int = 2000, seed: int = 0, judgments=None, context_plots: int = 0) -> dict:
    """Features, targets and provenance of the regressor's training pairs (arrays in a dict).

    Without ``judgments``: ``n_plots`` seeded two-Gaussian plots over ClustMe-like ranges,
    target = ``crowd_prob_single`` of 20 simulated observers, plus the pairs of
    ``context_plots`` many-component plots (``context_pairs``). With ``judgments`` (a CSV path
    or DataFrame): those plots and their probSingle. Features come from the mixture CLAMS
    fits, as at inference. ``plot`` numbers the plot each pair comes from; ``context`` marks
    the pairs from many-component plots.
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    X, target, plot_id, context = [], [], [], []
    with threadpool_limits(1):  # small GMM fits: threads cost more than they save
        if judgments is None:
            for p in range(n_plots):
                xy = gen.two_gaussians(**_clustme_like(rng)).xy
                target.append(crowd_prob_single(xy, seed=int(rng.integers(2**31))))
                X.append(component_pair_features(xy, seed))
                plot_id.append(p), context.append(False)
            for p in range(n_plots, n_plots + context_plots):
                feats, probs = context_pairs(_context_plot(rng).xy, seed=int(rng.integers(2**31)))
                X.extend(feats), target.extend(probs)
                plot_id.extend([p] * len(probs)), context.extend([True] * len(probs))
            source = (f"simulated observers on {n_plots} two-Gaussian plots and the component pairs of "
                      f"{context_plots} many-component plots, seed {seed}")
        else:
            plots, target = _judgment_rows(judgments)
            X = [component_pair_features(xy, seed) for xy in plots]
            plot_id, context = list(range(len(plots))), [False] * len(plots)
            source = f"judgments table ({len(plots)} plots)"
    return dict(X=np.asarray(X, float).reshape(-1, 13), target=np.asarray(target, float),
                plot=np.asarray(plot_id, np.int64), context=np.asarray(context, bool), source=source)


def fit_separability(pairs: dict, seed: int = 0, validation_share: float = 0.2,
                     link: str = "identity") -> SeparabilityModel:
    """Fit the MLP on ``training_pairs``; whole plots are held out, and the context pairs reported apart.

    ``link="logit"`` regresses the log-odds of targets clipped to [0.01, 0.99] (see SeparabilityModel).
    """
    from scipy.special import logit
    from scipy.stats import spearmanr
    from sklearn.neural_network import MLPRegressor

    X, target, plot_id, context = pairs["X"], pairs["target"], pairs["plot"], pairs["context"]
    if len(np.unique(plot_id)) < 10:
        raise ValueError(f"need at least 10 training plots, got {len(np.unique(plot_id))}")
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.unique(plot_id))
    held = np.isin(plot_id, ids[: max(1, int(round(validation_share * len(ids))))])
    mean, scale = X[~held].mean(axis=0), X[~held].std(axis=0) + 1e-9
    y = logit(np.clip(target, 0.01, 0.99)) if link == "logit" else target
    mlp = MLPRegressor(hidden_layer_sizes=(32, 32), alpha=1e-3, max_iter=1000, early_stopping=True,
                       random_state=seed).fit((X[~held] - mean) / scale, y[~held])
    model = SeparabilityModel(mean, scale, list(mlp.coefs_), list(mlp.intercepts_), link=link)

    def scores(mask):
        pred = model.predict(X[mask])
        return dict(n=int(mask.sum()), mae=float(np.mean(np.abs(pred - target[mask]))),
                    spearman=float(spearmanr(pred, target[mask]).statistic))
    validation = scores(held)
    for name, part in (("two_gaussians", held & ~context), ("context", held & context)):
        if part.sum() > 2 and context.any():
            validation[name] = scores(part)
    model.info = dict(source=pairs["source"], n_train=int((~held).sum()), n_validation=int(held.sum()),
                      validation=validation)
    return model


def train_separability(n_plots: int = 2000, seed: int = 0, judgments=None, validation_share: float = 0.2,
                       context_plots: int = 0, link: str = "identity") -> SeparabilityModel:
    """``training_pairs`` then ``fit_separability``; ``model.info['validation']`` holds held-out MAE and Spearman."""
    pairs = training_pairs(n_plots, seed, judgments, context_plots)
    return fit_separability(pairs, seed, validation_share, link)
