"""CLAMS runtime vs a naive full GMM-BIC sweep (k = 1..20 on all points), in one run.

Run: nice .venv/bin/python -m bench.bench_clams [--repeats 3]
Prints a table of median wall times and the ratio naive / CLAMS.
"""
from __future__ import annotations

import argparse
import statistics
import time


import numpy as np
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from data import display_normalize
from data import generate as gen
from perception.clams import CLAMS


def naive_sweep(xy, k_max=20, seed=0):
    """What CLAMS' step 1 costs without subsampling, warm starts or pruning.

    Single-threaded like CLAMS, so the ratio measures the algorithmic savings only (with
    default threading on a loaded 2-core machine the naive sweep is several times slower).
    """
    pts = display_normalize(xy)
    with threadpool_limits(1):
        bic = [GaussianMixture(k, covariance_type="full", random_state=seed).fit(pts).bic(pts)
               for k in range(1, k_max + 1)]
    return int(np.argmin(bic)) + 1


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(quick: bool = False) -> list[dict]:
    """Rows for `visclust bench`: CLAMS at 5k vs the naive sweep (<= 0.1x), 50 clusters at 10k and 1M points (< 2 s)."""
    from bench.common import row

    repeats = 1 if quick else 3
    plots = _plots()
    CLAMS().fit(plots["blobs k=5, 5k"])  # load the model and compile the observer once, outside the timings
    t = {name: timed(lambda: CLAMS().fit(xy), repeats) for name, xy in plots.items()}
    t_naive = timed(lambda: naive_sweep(plots["blobs k=5, 5k"]), 1)
    return [row("CLAMS, 5k points", t["blobs k=5, 5k"], "naive GMM-BIC sweep k=1..20, 5k", t_naive,
                "ratio <= 0.1 (>= 10x faster)", t["blobs k=5, 5k"] / t_naive <= 0.1),
            row("CLAMS, 50 blobs, 10k points", t["blobs k=50, 10k"], "CLAMS, 5k points", t["blobs k=5, 5k"],
                "< 2 s", t["blobs k=50, 10k"] < 2.0),
            row("CLAMS, 1M points", t["blobs k=5, 1M"], "CLAMS, 5k points", t["blobs k=5, 5k"], "< 2 s",
                t["blobs k=5, 1M"] < 2.0)]


def _plots():
    return {"blobs k=5, 5k": gen.blobs(5000, k=5, seed=1).xy,
            "two gaussians, 5k": gen.two_gaussians(5000, distance=3, seed=1).xy,
            "blobs k=50, 10k": gen.blobs(10_000, k=50, separation=8, seed=1).xy,
            "blobs k=5, 1M": gen.blobs(1_000_000, k=5, seed=1).xy}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    plots = _plots()
    CLAMS().fit(plots["blobs k=5, 5k"])  # load the model and warm caches once, outside the timings
    print("| plot | CLAMS s | naive GMM-BIC k=1..20 s | naive / CLAMS |")
    print("|---|---|---|---|")
    for name, xy in plots.items():
        t_clams = timed(lambda: CLAMS().fit(xy), args.repeats)
        if len(xy) <= 5000:
            t_naive = timed(lambda: naive_sweep(xy), 1)
            print(f"| {name} | {t_clams:.3f} | {t_naive:.2f} | {t_naive / t_clams:.0f}x |")
        else:
            print(f"| {name} | {t_clams:.3f} | (not run) | |")


if __name__ == "__main__":
    main()
