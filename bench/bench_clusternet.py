"""ClusterNet on a 1M-point plot vs. HDBSCAN (models.classical, defaults) on 100k points.

Run: `.venv/bin/python bench/bench_clusternet.py [--quick]` (quick: 100k vs. 10k points).
Both are timed in the same run; ClusterNet's time is the best of two after a warm-up call
(the first call loads the weights). Target: ratio ClusterNet / HDBSCAN below 1.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import row, timed  # noqa: E402
from data.generate import blobs  # noqa: E402
from models import make_clusterer  # noqa: E402
from models import ClusterNet  # noqa: E402


def run(quick: bool = False) -> list[dict]:
    if not ClusterNet.available():
        return [row("clusternet", float("nan"), note="weights missing (assets/clusternet.pt)")]
    n_net, n_hdb = (100_000, 10_000) if quick else (1_000_000, 100_000)
    big = blobs(n_net, k=6, separation=4, noise=0.05, seed=0).xy
    small = blobs(n_hdb, k=6, separation=4, noise=0.05, seed=0).xy
    net = ClusterNet.pretrained()
    net.fit(small[:1000])  # warm-up
    t_net, _ = timed(net.fit, big, repeat=2)
    t_hdb, _ = timed(make_clusterer("hdbscan").fit, small)
    return [row(f"clusternet {n_net:,} points", t_net, f"hdbscan {n_hdb:,} points", t_hdb,
                target="ratio < 1", passed=t_net < t_hdb, note=f"{net.n_clusters_} clusters")]


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
        if r["ratio"] is not None:
            print(f"ratio ClusterNet / HDBSCAN: {r['ratio']:.3f}")
