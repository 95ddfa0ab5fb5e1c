"""ClusterNet against the clusterers and the observers' majority: the development benchmark and wut.

``run_evaluation`` scores every method on the development benchmark (``perception.devbench``:
per group, mean AMI with the simulated crowd's majority, with the generator's components where
they are unambiguous, and clusters found against k) and on the 19 human-labelled wut sets (AMI
with ``labels0``, noise excluded).

wut is scored **leave-one-out** wherever a choice was made by looking at it. The only choice
this code can redo is the observers' distribution medians (``perception.observers``, chosen by
a grid search on wut): the row ``observers-loo`` labels each wut set with the crowd whose
medians score best on the other 18 sets (``loo_observers``). The row ``observers`` is the crowd
as shipped (its wut figure is not blind), ``hdbscan`` has no wut choice. ClusterNet's training
recipe was chosen on wut in earlier sessions and cannot be redone without retraining, so its
wut figure is not blind either (``WUT_CHOICES`` says so in the table); its inference settings
are chosen on generated plots.

Tuned rows (``<method>:tuned``, ``perception.tuned``) are a classical method at the best point
of its hyperparameter grid, chosen on the very labels it is scored against (the crowd majority
on the benchmark, ``labels0`` on wut): upper bounds that show how far each default is from its
own best, not methods.

The crowd majorities are cached under ``out_dir/references`` (every method is scored afresh,
so a changed grouping or clusterer is never read from a stale file).
"""
from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_mutual_info_score
from sklearn.neighbors import KDTree

from . import devbench, tuned
from .agreement import consensus
from .observers import ObserverDistribution, simulate_crowd

N_OBSERVERS = 20
REFERENCE = "observers"  # the simulated observers' own majority, a reference row
LOO_REFERENCE = "observers-loo"  # the same, its medians chosen leave-one-out on wut
GROUPING_ONLY = "grouping-only"  # ClusterNet's grouping without the network (ablation)
OBSERVER_SEED = 987_654  # another crowd than devbench's reference crowd
DEFAULT_METHODS = ("clusternet", "hdbscan", REFERENCE)
# what each row's wut figure may have been chosen on
WUT_CHOICES = {REFERENCE: "observer medians chosen on wut (not blind)", LOO_REFERENCE: "leave-one-out",
               "clusternet": "recipe chosen on wut in earlier sessions (not blind)",
               "clusternet-average": "recipe chosen on wut in earlier sessions (not blind)"}
TUNED_CHOICE = "grid tuned on labels0 itself (an upper bound, not a method)"
MEDIAN_GRID = {"bandwidth_median": (0.015, 0.025, 0.04), "threshold_median": (0.2, 0.35, 0.5),
               "min_share_median": (0.01, 0.03)}  # perception.observers.calibrate_observers' grid


class ObserverMajority:
    """Reference row: the majority (``perception.agreement.consensus``) of an independent
    simulated crowd (20 observers, seed ``OBSERVER_SEED``) scored like a method."""

    def __init__(self, distribution: ObserverDistribution | None = None):
        self.distribution = distribution or ObserverDistribution()

    def fit(self, xy):
        start = time.perf_counter()
        xy = np.asarray(getattr(xy, "xy", xy), dtype=np.float64)
        self.labels_ = consensus(simulate_crowd(xy, N_OBSERVERS, OBSERVER_SEED, self.distribution))[0]
        self.runtime_ = time.perf_counter() - start
        return self


class GroupingOnly:
    """Ablation row ``grouping-only``: ClusterNet's inference (the same samples, views and
    grouping settings as ``models.ClusterNet``) with the network's outputs replaced by its
    spatial part alone: embedding = learned scale x displayed coordinates, p(noise) = 0. What
    ClusterNet scores above this row is what the network adds over the grouping step."""

    def __init__(self, weights=None, min_cluster_share: float | None = None):
        self.weights, self.min_cluster_share = weights, min_cluster_share

    def fit(self, xy):
        from data import check_points, display_normalize
        from models import ClusterNet
        from models.clusternet_features import sample_points
        from models.clusternet_grouping import group_views
        from models.clusternet_views import View, view_seeds

        start = time.perf_counter()
        net = ClusterNet(weights=self.weights)
        share = net.min_cluster_share if self.min_cluster_share is None else self.min_cluster_share
        model = net._model()
        norm = display_normalize(check_points(xy))
        if len(norm) < 3 or np.ptp(norm, axis=0).max() == 0:
            self.labels_ = np.zeros(len(norm), np.int64)
            return self
        scale = float(model.log_spatial.detach().exp())
        d = int(model.config["embed_dim"])
        views = []
        for seed in view_seeds(int(model.config.get("n_views", 1)), net.random_state):
            idx = np.unique(sample_points(norm, int(model.config["sample_size"]), seed))  # as run_views
            emb = np.pad(norm[idx] * scale, ((0, 0), (0, d - 2)))
            views.append(View(idx, emb, np.zeros(len(idx)), np.ones(len(idx))))
        points, labels, _, _ = group_views(model.config, views, norm, min_cluster_share=share)
        nearest = KDTree(norm[points]).query(norm, k=1, return_distance=False)[:, 0]
        self.labels_ = labels[nearest]
        self.runtime_ = time.perf_counter() - start
        return self


def estimator_factory(method: str, weights=None):
    """A callable returning a fresh estimator for a registry name or a reference row."""
    from models import get_method

    if method == REFERENCE:
        return ObserverMajority
    if method == GROUPING_ONLY:
        return lambda: GroupingOnly(weights)
    if base := tuned.base_method(method):
        return lambda: tuned.TunedClusterer(base)
    entry = get_method(method)
    return (lambda: entry.make(weights=weights)) if entry.perceptual else entry.make


def wut_scores(make, wut_dir) -> dict[str, float]:
    """AMI with each wut set's ``labels0`` (noise excluded) of a fresh estimator per set; a tuned
    row (``tuned_on_reference``) is tuned on ``labels0`` itself."""
    from data import benchmark_names, load_benchmark

    scores = {}
    for name in benchmark_names(wut_dir):
        bench = load_benchmark(wut_dir, name)
        truth = bench.reference_labels
        keep = truth >= 0
        labels = devbench.fit_labels(make(), bench.xy, truth)
        scores[name] = float(adjusted_mutual_info_score(truth[keep], labels[keep]))
    return scores


def loo_observers(wut_dir, grid: dict = MEDIAN_GRID) -> dict[str, float]:
    """Leave-one-out wut score of the observers: set s is labelled by the crowd whose medians
    (``grid``) have the best mean AMI on the other sets."""
    settings = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    table = pd.DataFrame([wut_scores(lambda s=s: ObserverMajority(ObserverDistribution(**s)), wut_dir)
                          for s in settings])  # rows: settings, columns: sets
    out = {}
    for name in table.columns:
        others = table.drop(columns=name).mean(axis=1)
        out[name] = float(table.loc[int(others.idxmax()), name])
    return out


def run_evaluation(out_dir, per_group: int = 30, seed: int = 0, max_points: int | None = None, wut_dir=None,
                   methods=None, weights=None, groups=None, progress: bool = False,
                   with_tuned: bool = False) -> pd.DataFrame:
    """Score ``methods`` (registry names, ``observers``, ``grouping-only`` and tuned rows
    ``<classical method>:tuned``; default ``DEFAULT_METHODS``; ``with_tuned`` adds the tuned row of
    every classical method listed) on the
    development benchmark and, when ``wut_dir`` (a clustering-benchmarks wut folder) is given, on
    wut. Writes ``devbench_plots.csv`` (every plot),
    ``clusternet_eval.csv`` / ``.md`` (per group and method: ami_majority, ami_components,
    median k found against k, share within 10 % of k, lowest AMI where the majority agrees with
    the components at >= 0.8; wut rows: group ``wut``, ``ami_human`` and ``wut_choice``),
    ``summary.csv`` (``method_summary``: one row per method) and returns the table."""
    from data import InvalidScatterplot
    from models import CLASSICAL, PERCEPTUAL

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    known = PERCEPTUAL + CLASSICAL + [REFERENCE, GROUPING_ONLY] + [tuned.tuned_name(m) for m in CLASSICAL]
    methods = list(methods or DEFAULT_METHODS)
    if with_tuned:
        methods += [tuned.tuned_name(m) for m in methods if m in CLASSICAL and tuned.tuned_name(m) not in methods]
    if unknown := sorted(set(methods) - set(known)):
        raise InvalidScatterplot(f"unknown method(s) {unknown}; choose from {known}")
    per_plot, tables = [], []
    for method in methods:
        df = devbench.score(estimator_factory(method, weights), seed, per_group, max_points, groups,
                            cache_dir=out / "references", progress=progress)
        per_plot.append(df.assign(method=method))
        tables.append(devbench.summary(df).assign(method=method))
    if wut_dir:
        wut_rows = {m: wut_scores(estimator_factory(m, weights), wut_dir) for m in methods}
        if REFERENCE in methods:
            wut_rows[LOO_REFERENCE] = loo_observers(wut_dir)
        for method, scores in wut_rows.items():
            tables.append(pd.DataFrame([{"group": "wut", "method": method, "plots": len(scores),
                                         "ami_human": float(np.mean(list(scores.values()))),
                                         "wut_choice": TUNED_CHOICE if tuned.base_method(method) else
                                         WUT_CHOICES.get(method, "none"), **{f"wut:{k}": v for k, v in
                                                                                          scores.items()}}]))
    table = pd.concat(tables, ignore_index=True)
    front = ["group", "method", "plots", "ami_majority", "ami_components", "ami_human", "k_true", "k_found", "k_within_10pct",
             "min_ami_trusted", "seconds"]
    table = table[[c for c in front if c in table] + [c for c in table if c not in front]]
    pd.concat(per_plot, ignore_index=True).to_csv(out / "devbench_plots.csv", index=False)
    table.to_csv(out / "clusternet_eval.csv", index=False)
    method_summary(table).to_csv(out / "summary.csv", index=False)
    (out / "clusternet_eval.md").write_text(markdown(table[[c for c in front + ["wut_choice"] if c in table]]))
    return table


def method_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per method of a ``run_evaluation`` table (the Models page's table): mean AMI over
    the benchmark's groups, how many groups fall below 0.5 and the worst, wut's mean and what
    its figure may have been chosen on, and seconds per benchmark plot."""
    bench = table[table.group != "wut"]
    rows = []
    for method in dict.fromkeys(table.method):  # in the order scored
        groups = bench[bench.method == method].set_index("group")
        wut = table[(table.group == "wut") & (table.method == method)]
        row = {"method": method}
        if len(groups):
            worst = groups.ami_majority.idxmin()
            row.update(devbench_ami=round(groups.ami_majority.mean(), 3),
                       groups_below_half=int((groups.ami_majority < 0.5).sum()),
                       worst_group=f"{worst} {groups.ami_majority[worst]:.2f}",
                       seconds_per_plot=round(groups.seconds.mean(), 3))
        if len(wut):
            row.update(wut_ami=round(float(wut.ami_human.iloc[0]), 3), wut_choice=wut.wut_choice.iloc[0])
        rows.append(row)
    columns = ["method", "devbench_ami", "groups_below_half", "worst_group", "wut_ami", "wut_choice", "seconds_per_plot"]
    out = pd.DataFrame(rows).reindex(columns=columns)
    return out.astype({"groups_below_half": "Int64"})  # a count, blank for the wut-only row


def markdown(table: pd.DataFrame) -> str:
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for _, r in table.iterrows():
        lines.append("| " + " | ".join("" if isinstance(v, float) and np.isnan(v) else
                                       f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(lines) + "\n"
