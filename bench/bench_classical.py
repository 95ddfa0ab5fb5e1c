"""Every classical clusterer at 10k and 100k points; the baseline is k-means on the same plot."""
from __future__ import annotations

import sys


from bench.common import row, timed
from data import generate
from models import CLASSICAL, make_clusterer

# Methods too slow for 100k points even subsampled are still run: the table shows it.
SIZES_QUICK = (10_000,)
SIZES_FULL = (10_000, 100_000)


def run(quick: bool = False) -> list[dict]:
    rows = []
    for n in SIZES_QUICK if quick else SIZES_FULL:
        plot = generate.blobs(n, k=6, separation=5, density_range=2, noise=0.05, seed=0)
        base, _ = timed(lambda: make_clusterer("kmeans").fit(plot.xy))
        for name in CLASSICAL:
            seconds, model = timed(lambda: make_clusterer(name).fit(plot.xy))
            note = f"subsample of {model.subsample_size_}" if model.subsample_size_ else "all points"
            rows.append(row(f"{name} at {n // 1000}k points", seconds, f"k-means at {n // 1000}k", base,
                            note=f"{note}; {model.n_clusters_} clusters"))
    return rows


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
