"""Held-out evaluation of CLAMS against clusterer-variability baselines (Jeon et al. 2023, sec. 6).

Ground truth per plot = ``human_ambiguity`` of a simulated crowd (20 observers), the
stand-in for the paper's 18 participants. Baselines, as in the paper: how much one
clusterer's result varies over random hyperparameters (mean pairwise 1 - AMI of
``n_runs`` runs), for X-Means (k-means with a random k), HDBSCAN, DBSCAN and BIRCH.
The suite seed is disjoint from separability training, which draws ClustMe-like
two-Gaussian plots with its own seed and parameters.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from data import display_normalize
from data import generate as gen

from .agreement import human_ambiguity
from .clams import CLAMS
from .observers import simulate_crowd

__all__ = ["run_evaluation", "baseline_variability", "BASELINES"]

EVAL_SEED = 20230001  # suite seed; training uses seeds 0.. of its own generator


def _random_params(name: str, rng: np.random.Generator, n: int) -> dict:
    if name == "kmeans":  # X-Means stand-in: k-means with a random k
        return dict(k=int(rng.integers(2, 11)))
    if name == "hdbscan":
        return dict(min_cluster_size=int(rng.integers(5, max(6, n // 10))))
    if name == "dbscan":
        return dict(eps=float(np.exp(rng.uniform(np.log(0.005), np.log(0.15)))), min_samples=int(rng.integers(3, 30)))
    return dict(k=int(rng.integers(2, 11)), threshold=float(np.exp(rng.uniform(np.log(0.005), np.log(0.1)))))


BASELINES = ("kmeans", "hdbscan", "dbscan", "birch")


def baseline_variability(xy, method: str, n_runs: int = 5, seed: int = 0) -> float:
    """Mean pairwise (1 - AMI) of ``method`` over ``n_runs`` random hyperparameter draws."""
    from models import make_clusterer

    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        # random hyperparameters often ask BIRCH for more clusters than it finds; the labeling is still valid
        warnings.simplefilter("ignore", ConvergenceWarning)
        labelings = [make_clusterer(method, random_state=int(rng.integers(2**31)),
                                    **_random_params(method, rng, len(xy))).fit_predict(xy)
                     for _ in range(n_runs)]
    return human_ambiguity(labelings)


def run_evaluation(out_dir, n_plots: int = 200, seed: int = EVAL_SEED, n_observers: int = 20,
                   n_runs: int = 5):
    """Score ``n_plots`` held-out plots; write results.csv and summary.md to ``out_dir``.

    Returns the per-plot DataFrame (family, n, human, clams, clams_runtime_s, one column
    per baseline). summary.md holds Spearman's rho of every score with ``human``.
    """
    import pandas as pd
    from scipy.stats import spearmanr

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    with threadpool_limits(1):  # many small fits: threads oversubscribe the cores and slow everything
        for i in range(n_plots):
            plot = gen.random_plot(rng)
            xy = display_normalize(plot.xy)
            clams = CLAMS(random_state=i).fit(xy)
            row = dict(plot=i, family=plot.name, n=len(xy),
                       human=human_ambiguity(simulate_crowd(xy, n_observers, seed=i)),
                       clams=clams.ambiguity_, clams_k=clams.n_components_, clams_runtime_s=clams.runtime_)
            for method in BASELINES:
                row[method] = baseline_variability(xy, method, n_runs, seed=i)
            rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(out / "results.csv", index=False)
    lines = ["| score | Spearman rho with simulated-crowd ambiguity | p-value |", "|---|---|---|"]
    for col in ("clams", *BASELINES):
        res = spearmanr(table[col], table["human"])
        lines.append(f"| {col} | {res.statistic:.3f} | {res.pvalue:.2g} |")
    lines.append("")
    lines.append(f"{len(table)} plots, suite seed {seed}; CLAMS median runtime "
                 f"{table['clams_runtime_s'].median():.3f} s per plot.")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return table
