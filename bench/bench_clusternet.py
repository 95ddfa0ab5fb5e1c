"""ClusterNet on a 1M-point plot vs. HDBSCAN (boruvka, min_cluster_size 50) on 100k points.

Run: `.venv/bin/python -m bench.bench_clusternet [--quick]` (quick: 100k vs. 10k points).
Both are timed in the same run; ClusterNet's time is the best of two after a warm-up call
(the first call loads the weights). Target (issue 21): ratio ClusterNet / HDBSCAN <= 0.5.
A second row counts ClusterNet's clusters on the 1M-point plot of 6 separated blobs for
seeds 0-3 (target: 6 on every draw).
"""
from __future__ import annotations

import sys


from bench.common import row, timed
from data.generate import blobs
from models import ClusterNet, make_clusterer

TARGET_RATIO = 0.5


def run(quick: bool = False) -> list[dict]:
    if not ClusterNet.available():
        return [row("clusternet", float("nan"), note="weights missing (assets/clusternet.pt)")]
    n_net, n_hdb = (100_000, 10_000) if quick else (1_000_000, 100_000)
    big = blobs(n_net, k=6, separation=4, noise=0.05, seed=0).xy
    small = blobs(n_hdb, k=6, separation=4, noise=0.05, seed=0).xy
    net = ClusterNet.pretrained()
    net.fit(small[:1000])  # warm-up
    t_net, _ = timed(net.fit, big, repeat=2)
    # hdbscan.HDBSCAN picks boruvka_kdtree for 2-D data at its default algorithm="best"
    t_hdb, _ = timed(make_clusterer("hdbscan", min_cluster_size=50).fit, small)
    rows = [row(f"clusternet {n_net:,} points", t_net, f"hdbscan {n_hdb:,} points", t_hdb,
                target=f"ratio <= {TARGET_RATIO}", passed=t_net <= TARGET_RATIO * t_hdb,
                note=f"{net.n_clusters_} clusters")]
    counts = [ClusterNet.pretrained().fit(blobs(n_net, k=6, separation=4, noise=0.05, seed=s).xy).n_clusters_
              for s in range(4)]
    rows.append(row(f"clusternet clusters on {n_net:,} points, 6 blobs, seeds 0-3", 0.0, target="6 on every seed",
                    passed=all(c == 6 for c in counts), note=str(counts)))
    return rows


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
        if r["ratio"] is not None:
            print(f"ratio ClusterNet / HDBSCAN: {r['ratio']:.3f}")
