"""Held-out evaluation of CLAMS against clusterer-variability baselines (Jeon et al. 2023, sec. 6).

Ground truth per plot = ``human_ambiguity`` of a simulated crowd (20 observers), the
stand-in for the paper's 18 participants, with noise as a class and, as a second column,
with noise ignored (``noise="ignored"``: outliers left out differently do not count as a
different reading). Baselines, as in the paper: how much one
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
from tqdm import tqdm

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


def suite_plot(rng: np.random.Generator):
    """(family, plot): the gallery's factors, many-cluster plots (k up to 100), scenes, overlapping pairs."""
    family = rng.choice(["gallery", "many blobs", "scene", "overlapping gaussians"], p=[0.5, 0.2, 0.15, 0.15])
    seed = int(rng.integers(2**31))
    if family == "gallery":
        plot = gen.random_plot(rng)
        return plot.name, plot
    if family == "many blobs":
        k = int(np.exp(rng.uniform(np.log(10), np.log(100))))
        n = int(min(20_000, k * rng.integers(60, 300)))
        return family, gen.blobs(n, k=k, separation=float(rng.uniform(2, 10)),
                                 density_range=float(rng.uniform(1, 3)), seed=seed)
    if family == "scene":
        return family, gen.random_scene(rng)
    return family, gen.two_gaussians(int(rng.integers(500, 5000)), distance=float(rng.uniform(0, 4)),
                                     sigma_ratio=float(rng.uniform(0.5, 2)), rotation=float(rng.uniform(0, 180)),
                                     seed=seed)


def blob_counts(ks=(1, 2, 5, 10, 20, 35, 50, 75, 100), per_k: int = 3, seed: int = EVAL_SEED):
    """CLAMS' components and ambiguity on well-separated compact blobs (separation 10, 150 points each)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        for _ in range(per_k):
            plot = gen.blobs(max(300, 150 * k), k=k, separation=10.0, seed=int(rng.integers(2**31)))
            est = CLAMS(random_state=0).fit(plot.xy)
            rows.append(dict(k=k, n=len(plot), components=est.n_components_, ambiguity=est.ambiguity_,
                             within_20pct=abs(est.n_components_ - k) <= 0.2 * k, runtime_s=est.runtime_))
    return pd.DataFrame(rows)


def wut_counts(wut_dir):
    """CLAMS' components against the clusters of each wut plot's first human labelling (label 0 = noise)."""
    import pandas as pd

    from data import benchmark_names, load_benchmark

    rows = []
    for name in benchmark_names(wut_dir):
        plot = load_benchmark(wut_dir, name)
        est = CLAMS(random_state=0).fit(plot.xy)
        truth = plot.reference_labels
        rows.append(dict(plot=name, n=len(plot), clusters=int(len(np.unique(truth[truth >= 0]))),
                         components=est.n_components_, ambiguity=est.ambiguity_))
    return pd.DataFrame(rows)


def _markdown(table) -> list[str]:
    return ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns),
            *("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |"
              for row in table.itertuples(index=False))]


def run_evaluation(out_dir, n_plots: int = 300, seed: int = EVAL_SEED, n_observers: int = 20,
                   n_runs: int = 5, blob_ks=(1, 2, 5, 10, 20, 35, 50, 75, 100), wut_dir=None,
                   progress: bool = False):
    """Score ``n_plots`` held-out plots; write results.csv, blob_counts.csv (and wut_counts.csv) and summary.md.

    Returns the per-plot DataFrame (family, n, human, human_noise_ignored, clams, clams_k, clams_runtime_s, one column
    per baseline). summary.md holds Spearman's rho of every score with ``human``, overall and per
    family, CLAMS' components on separated blobs against k, and (with ``wut_dir``) on wut.
    """
    import pandas as pd
    from scipy.stats import spearmanr

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    with threadpool_limits(1):  # many small fits: threads oversubscribe the cores and slow everything
        for i in tqdm(range(n_plots), desc="held-out plots", unit="plot", disable=not progress):
            family, plot = suite_plot(rng)
            xy = display_normalize(plot.xy)
            clams = CLAMS(random_state=i).fit(xy)
            crowd = simulate_crowd(xy, n_observers, seed=i)
            row = dict(plot=i, family=family, n=len(xy), human=human_ambiguity(crowd),
                       human_noise_ignored=human_ambiguity(crowd, noise="ignored"),
                       clams=clams.ambiguity_, clams_k=clams.n_components_, clams_runtime_s=clams.runtime_)
            for method in BASELINES:
                row[method] = baseline_variability(xy, method, n_runs, seed=i)
            rows.append(row)
        counts = blob_counts(blob_ks, seed=seed)
        wut = wut_counts(wut_dir) if wut_dir else None
    table = pd.DataFrame(rows)
    table.to_csv(out / "results.csv", index=False)
    counts.to_csv(out / "blob_counts.csv", index=False)
    scores = ("clams", *BASELINES)
    lines = ["| score | Spearman rho with simulated-crowd ambiguity | p-value | rho, noise ignored | p-value |",
             "|---|---|---|---|---|"]
    for col in scores:
        res, alt = spearmanr(table[col], table["human"]), spearmanr(table[col], table["human_noise_ignored"])
        lines.append(f"| {col} | {res.statistic:.3f} | {res.pvalue:.2g} | {alt.statistic:.3f} | {alt.pvalue:.2g} |")
    lines += ["", f"{len(table)} plots, suite seed {seed}; CLAMS median runtime "
              f"{table['clams_runtime_s'].median():.3f} s per plot.", "", "Per family (rho; plots):", ""]
    for truth in ("human", "human_noise_ignored"):
        fam = pd.DataFrame([{"family": f, "plots": len(g), **{c: float(spearmanr(g[c], g[truth]).statistic)
                                                              if g[truth].nunique() > 1 and g[c].nunique() > 1
                                                              else float("nan")
                                                              for c in scores}}
                            for f, g in table.groupby("family")])
        lines += ([] if truth == "human" else ["", "Per family, noise ignored in the crowd's ambiguity:", ""])
        lines += _markdown(fam)
    by_k = counts.groupby("k").agg(plots=("k", "size"), components=("components", "mean"),
                                   within_20pct=("within_20pct", "mean"), ambiguity=("ambiguity", "mean")).reset_index()
    lines += ["", "Separated compact blobs (separation 10, 150 points each): components against k", ""]
    lines += _markdown(by_k.astype({"components": float, "within_20pct": float}))
    lines.append(f"\nWithin +-20% of k on {counts.within_20pct.mean():.0%} of {len(counts)} plots; "
                 f"mean ambiguity {counts.ambiguity.mean():.3f}.")
    if wut is not None:
        wut.to_csv(out / "wut_counts.csv", index=False)
        lines += ["", "wut: components against the clusters of labels0", ""] + _markdown(wut)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return table
