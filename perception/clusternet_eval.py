"""ClusterNet against every classical clusterer (at its defaults), on simulated crowds and humans.

Measures, each row one method:
1. ``kappa_alpha`` (``perception.agreement``) and ``ami_crowd`` (mean over observers of the AMI
   with that observer, on the points the observer put in a cluster) on ``n_plots`` held-out
   generated plots, each labelled by 20 simulated observers. Plots come from split 2 of
   ``models.train`` (``SeedSequence([seed, 2, i])``); training uses splits 0 and 1, so the
   streams are disjoint for any seed.
2. ``ami_wut``: mean AMI against the human ``labels0`` of every wut set (noise excluded), plus
   one column per set in the CSV.
3. For ClusterNet, ``agreement_corr``: Pearson correlation between predicted and observed
   per-point agreement (``models.clusternet.consensus`` of the crowd), pooled over the points
   of all held-out plots, and ``agreement_corr_plot``: its mean over plots.

A reference row ``observers`` scores the majority of an independent simulated crowd the same
way (``ObserverMajority``): the ceiling for a model that imitates the observers perfectly.

Classical rows are cached per method under ``out_dir/cache`` (they do not change between
ClusterNet trainings); ClusterNet rows are cached under its weights' content hash.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_mutual_info_score
from tqdm import tqdm

N_OBSERVERS = 20
REFERENCE = "observers"  # the simulated observers' own majority, a reference row
OBSERVER_SEED = 987_654  # not a crowd seed of the held-out suite (those come from labelling_seed)
WUT_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "clustering-benchmarks" / "wut"


def mean_ami(labels: np.ndarray, crowd: np.ndarray) -> float:
    """Mean over the labelings in ``crowd`` of the AMI with ``labels``, each on the points that
    labeling put in a cluster (negative ids: unlabelled or not shown)."""
    scores = []
    for obs in crowd:
        keep = obs >= 0
        if keep.sum() > 1:
            scores.append(adjusted_mutual_info_score(obs[keep], labels[keep]))
    return float(np.mean(scores)) if scores else float("nan")


class ObserverMajority:
    """Reference row ``observers``: the majority of an independent simulated crowd (20 observers,
    seed ``OBSERVER_SEED``) scored like a method. Against the held-out crowd it shows how close
    a perfect imitation of the training labels would come; on wut, how far those labels are
    from people's."""

    def fit(self, xy):
        from perception.observers import majority_labels, simulate_crowd

        start = time.perf_counter()
        self.labels_ = majority_labels(simulate_crowd(xy, N_OBSERVERS, seed=OBSERVER_SEED))
        self.runtime_ = time.perf_counter() - start
        return self


def _estimator(method: str, weights=None):
    from models import get_method

    if method == REFERENCE:
        return ObserverMajority()
    entry = get_method(method)
    return entry.make(weights=weights) if entry.perceptual else entry.make()


def held_out_plots(n_plots: int, seed: int):
    """(plot, crowd labelings) of the evaluation split."""
    from models.train import EVALUATION, generated_plots, labelling_seed
    from perception.observers import simulate_crowd

    for i, plot in enumerate(generated_plots(n_plots, seed, EVALUATION)):
        crowd_seed = labelling_seed(seed, EVALUATION, i)
        yield plot, simulate_crowd(plot.xy, n_observers=N_OBSERVERS, seed=crowd_seed)


def evaluate_method(method: str, n_plots: int, seed: int, wut_dir=None, weights=None,
                    progress: bool = False) -> dict:
    """One row of the table (see the module docstring)."""
    from models.clusternet import consensus
    from perception.agreement import kappa_alpha
    from models import PERCEPTUAL

    est = _estimator(method, weights)
    kappas, amis, seconds, pred_agree, obs_agree, plot_corrs = [], [], [], [], [], []
    for plot, crowd in tqdm(held_out_plots(n_plots, seed), total=n_plots, disable=not progress, desc=method):
        est.fit(plot.xy)
        labels = est.labels_
        seconds.append(est.runtime_)
        kappas.append(kappa_alpha(labels, crowd, seed=0))
        amis.append(mean_ami(labels, crowd))
        if method in PERCEPTUAL:
            observed = consensus(crowd)[1]
            pred_agree.append(est.agreement_)
            obs_agree.append(observed)
            if observed.std() > 0 and est.agreement_.std() > 0:
                plot_corrs.append(float(np.corrcoef(est.agreement_, observed)[0, 1]))
    row = {"method": method, "kappa_alpha": float(np.nanmean(kappas)), "ami_crowd": float(np.nanmean(amis)),
           "seconds_per_plot": float(np.mean(seconds)), "n_plots": n_plots}
    if pred_agree:
        p, o = np.concatenate(pred_agree), np.concatenate(obs_agree)
        row["agreement_corr"] = float(np.corrcoef(p, o)[0, 1])
        row["agreement_corr_plot"] = float(np.mean(plot_corrs)) if plot_corrs else float("nan")
    wut_dir = Path(wut_dir) if wut_dir else (WUT_DEFAULT if WUT_DEFAULT.is_dir() else None)
    if wut_dir:
        from data import benchmark_names, load_benchmark

        scores = {}
        for name in benchmark_names(wut_dir):
            bench = load_benchmark(wut_dir, name)
            truth = bench.reference_labels
            labels = est.fit(bench.xy).labels_
            keep = truth >= 0
            scores[f"wut:{name}"] = float(adjusted_mutual_info_score(truth[keep], labels[keep]))
        row["ami_wut"] = float(np.mean(list(scores.values())))
        row.update(scores)
    return row


def _weights_tag(weights) -> str:
    from models.clusternet_estimator import WEIGHTS

    path = Path(weights or WEIGHTS)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def run_evaluation(out_dir, n_plots: int = 300, seed: int = 1, wut_dir=None, methods=None,
                   weights=None, progress: bool = True) -> pd.DataFrame:
    """Evaluate ClusterNet and every classical clusterer; write ``clusternet_eval.csv`` and
    ``clusternet_eval.md`` to ``out_dir`` and return the table, best kappa_alpha first."""
    from data import InvalidScatterplot
    from models import CLASSICAL, PERCEPTUAL, ClusterNet

    out = Path(out_dir)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    known = PERCEPTUAL + CLASSICAL + [REFERENCE]
    if unknown := sorted(set(methods or []) - set(known)):
        raise InvalidScatterplot(f"unknown method(s) {unknown}; choose from {known}")
    methods = list(methods or (PERCEPTUAL if ClusterNet.available(weights) else []) + CLASSICAL
                   + [REFERENCE])
    wut_tag = "wut" if (wut_dir or WUT_DEFAULT.is_dir()) else "nowut"
    rows = []
    for method in methods:
        tag = _weights_tag(weights) if method in PERCEPTUAL else "default"
        path = cache / f"{method}-{tag}-s{seed}-n{n_plots}-{wut_tag}.csv"
        if path.exists():
            rows.append(pd.read_csv(path).iloc[0].to_dict())
            continue
        row = evaluate_method(method, n_plots, seed, wut_dir, weights, progress)
        pd.DataFrame([row]).to_csv(path, index=False)
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("kappa_alpha", ascending=False, ignore_index=True)
    table.to_csv(out / "clusternet_eval.csv", index=False)
    summary = [c for c in ["method", "kappa_alpha", "ami_crowd", "ami_wut", "agreement_corr",
                           "agreement_corr_plot", "seconds_per_plot"] if c in table.columns]
    (out / "clusternet_eval.md").write_text(_markdown(table[summary]))
    return table


def _markdown(table: pd.DataFrame) -> str:
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for _, r in table.iterrows():
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(lines) + "\n"
