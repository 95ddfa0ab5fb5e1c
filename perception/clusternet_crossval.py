"""Cross-validated fine-tuning: does ClusterNet, fine-tuned on some plots people labelled, see
the clusters people see on plots it never saw?

The human-labelled plots (anything ``models.annotated.load_annotations`` reads) are dealt into
``folds`` folds by a seeded permutation. For each fold, ``perception.clusternet_train.train`` fine-tunes the
shipped weights on the other folds' plots (holding out a fifth of those itself to pick the
epoch, and to recalibrate the grouping when that fifth holds at least
``perception.clusternet_train.MIN_CALIBRATION_PLOTS`` plots), and the fine-tuned model labels the fold's
plots. Every held-out plot is scored by ``perception.devbench.mean_ami`` against its
annotators, and so are the shipped weights and the ``baselines`` (classical clusterers at
their defaults) on the same plots, so the columns compare like with like.

Each fold trains in ``out_dir/fold<k>``; a rerun reuses a fold's finished weights when they
were trained on the same plots with the same seed, epochs and generated plots.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .devbench import mean_ami
from .clusternet_train import train

SHIPPED, FINETUNED = "clusternet", "clusternet-finetuned"


def fold_ids(n_plots: int, folds: int, seed: int) -> np.ndarray:
    """Fold of each plot: a seeded permutation dealt round-robin, so fold sizes differ by at most 1."""
    ids = np.empty(n_plots, np.int64)
    ids[np.random.default_rng(seed).permutation(n_plots)] = np.arange(n_plots) % folds
    return ids


def crossval_finetune(source, out_dir, folds: int = 5, seed: int = 0, epochs: int = 20, n_plots: int = 200,
                      n_val: int = 20, baselines=("spectral", "hdbscan"), threads: int | None = None,
                      max_batches: int | None = None, progress: bool = False, log=print) -> pd.DataFrame:
    """Per held-out plot: its fold, size and the mean AMI of each method; also written to
    ``out_dir/crossval.csv``. ``n_plots`` generated plots are drawn for mixing into each fine-tune
    (``n_val`` more validate it when a fold leaves fewer than 5 human plots to hold out)."""
    from data import InvalidScatterplot
    from models.annotated import load_annotations

    from models import ClusterNet, make_clusterer

    plots = source if isinstance(source, list) else load_annotations(source)
    if len(plots) < 2 or not 2 <= folds <= len(plots):
        raise InvalidScatterplot(f"cross-validation needs 2 <= folds <= plots; got {folds} folds of {len(plots)} plots")
    out = Path(out_dir)
    fold_of = fold_ids(len(plots), folds, seed)
    shipped = ClusterNet.pretrained()
    rows = []
    for k in range(folds):
        weights = out / f"fold{k}" / "clusternet.pt"
        training = [p for p, f in zip(plots, fold_of) if f != k]
        run = {"annotations": [p.name for p in training], "seed": seed, "epochs": epochs, "plots": n_plots}
        if not _finished(weights, run):
            train(out=weights.parent, epochs=epochs, n_plots=n_plots, n_val=n_val, seed=seed, annotations=training,
                  threads=threads, max_batches=max_batches, progress=progress, log=log)
        tuned = ClusterNet.pretrained(weights)
        methods = {SHIPPED: shipped, FINETUNED: tuned, **{name: make_clusterer(name) for name in baselines}}
        fold_rows = []
        for plot in (p for p, f in zip(plots, fold_of) if f == k):
            row = {"plot": plot.name, "fold": k, "n": len(plot), "annotators": len(plot.labelings)}
            for name, est in methods.items():
                row[name] = mean_ami(est.fit(plot.xy).labels_, plot.labelings)
            fold_rows.append(row)
        frame = pd.DataFrame(fold_rows)
        log(f"fold {k + 1}/{folds}: " + ", ".join(f"{m} {frame[m].mean():.3f}" for m in methods))
        rows.append(frame)
    table = pd.concat(rows, ignore_index=True)
    table.to_csv(out / "crossval.csv", index=False)
    return table


def _finished(weights: Path, run: dict) -> bool:
    """Whether a fold's training run finished: its weights' metadata matches ``run`` and carries
    the grouping settings, which are written last."""
    import torch

    if not weights.exists():
        return False
    meta = torch.load(weights, map_location="cpu", weights_only=True)["meta"]
    return "calibration" in meta and all(meta.get(key) == value for key, value in run.items())
