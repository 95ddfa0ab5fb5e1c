"""How far ClusterNet weights are from the density observers on blob plots and thin rings.

Run: `.venv/bin/python -m bench.clusternet_vs_observers WEIGHTS [WEIGHTS ...]`
(no argument: the shipped weights). Prints, per weights file:
- blobs: mean AMI with the 20-observer majority (crowd seed = plot seed; points the majority
  labels) on `blobs(n, k, separation=4, noise=0.05, seed)`, k 3 and 6, seeds 0-3, at 2,000,
  10,000 and 30,000 points;
- rings: AMI with the two true rings of `shapes("rings", 1500, noise=0.02, seed)`, seeds 1-3,
  for the default grouping and without the cut (`split_threshold=0`), beside the majority.
Quality figures for the model card, not timings; a few minutes on a 2-core CPU.
"""
from __future__ import annotations

import functools
import sys

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score as ami


from data.generate import blobs, shapes
from models import ClusterNet
from perception.devbench import mean_ami
from perception.agreement import consensus
from perception.observers import simulate_crowd


@functools.cache
def _blob_plot(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A blob plot and its observers' majority, made once for every weights file compared."""
    xy = blobs(n, k=k, separation=4, noise=0.05, seed=seed).xy
    return xy, consensus(simulate_crowd(xy, seed=seed))[0]


@functools.cache
def _ring_plot(seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """A two-ring plot, its true rings and the observers' majority's AMI with them (made once)."""
    plot = shapes("rings", 1500, noise=0.02, seed=seed)
    truth = plot.reference_labels
    return plot.xy, truth, ami(truth, consensus(simulate_crowd(plot.xy, seed=seed))[0])


def blob_scores(net: ClusterNet, sizes=(2000, 10000, 30000)) -> dict[int, float]:
    out = {}
    for n in sizes:
        scores = []
        for k in (3, 6):
            for seed in range(4):
                xy, major = _blob_plot(n, k, seed)
                scores.append(mean_ami(net.fit_predict(xy), major[None]))
        out[n] = float(np.mean(scores))
    return out


def ring_scores(net: ClusterNet, no_cut: ClusterNet) -> list[dict]:
    rows = []
    for seed in (1, 2, 3):
        xy, truth, majority = _ring_plot(seed)
        rows.append({"seed": seed, "default": ami(truth, net.fit_predict(xy)),
                     "no cut": ami(truth, no_cut.fit_predict(xy)), "majority": majority})
    return rows


def main(paths: list[str]) -> None:
    for weights in paths or [None]:
        print(weights or "shipped weights")
        net = ClusterNet.pretrained(weights)
        for n, score in blob_scores(net).items():
            print(f"  blobs, {n:,} points: {score:.3f}")
        for r in ring_scores(net, ClusterNet.pretrained(weights, split_threshold=0)):
            print(f"  rings, seed {r['seed']}: default {r['default']:.3f}, no cut {r['no cut']:.3f}, "
                  f"majority {r['majority']:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
