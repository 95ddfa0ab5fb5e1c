"""Every classical clusterer at its parameter-free default, on generated plots and on wut.

    python -m bench.baselines --per-group 5 --wut ../shared/data/clustering-benchmarks/wut --out runs/baselines

Generated plots (seeded, never used to choose a default) are scored against the generator's
components, noise points left out; wut against each plot's first human labelling (label 0 =
noise, left out). Writes ``baselines.csv`` (one row per plot and method) and prints the mean
AMI per group and method, the share of blob plots where the method found a single cluster,
and each method's mean clusters found against k on the blob groups.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_mutual_info_score

from data import benchmark_names, generate as g, load_benchmark
from models import CLASSICAL, make_clusterer

BLOB_KS = (2, 5, 10, 20, 35, 50, 100)


def plots(per_group: int, seed: int = 0):
    """(group, plot) pairs spanning cluster count, size, overlap, shape, noise and imbalance."""
    rng = np.random.default_rng(seed)

    def draw():
        return int(rng.integers(2**31))
    for k in BLOB_KS:
        for _ in range(per_group):
            n = int(min(100_000, max(1000, k * rng.integers(80, 400))))
            yield f"blobs k={k}", g.blobs(n, k=k, separation=float(rng.uniform(6, 10)), seed=draw())
    for _ in range(per_group):
        yield "two gaussians, touching", g.two_gaussians(int(rng.integers(1000, 20_000)),
                                                         distance=float(rng.uniform(2.5, 4)), seed=draw())
        yield "shapes + noise", g.shapes(str(rng.choice(["moons", "rings", "spirals"])), int(rng.integers(300, 10_000)),
                                         noise=0.03, background=float(rng.uniform(0, 0.1)), seed=draw())
        yield "density/size imbalance", g.blobs(int(rng.integers(1000, 20_000)), k=int(rng.integers(3, 8)),
                                                separation=6.0, density_range=4.0, size_imbalance=5.0, seed=draw())
        yield "blobs + 5% noise", g.blobs(int(rng.integers(1000, 20_000)), k=int(rng.integers(3, 12)),
                                          separation=8.0, noise=0.05, seed=draw())


def ami(truth, labels) -> float:
    keep = truth >= 0
    return float(adjusted_mutual_info_score(truth[keep], labels[keep]))


def run(per_group: int, wut_dir, methods, seed: int = 0) -> pd.DataFrame:
    rows = []
    sets = [(group, plot) for group, plot in plots(per_group, seed)]
    if wut_dir:
        sets += [("wut", load_benchmark(wut_dir, name)) for name in benchmark_names(wut_dir)]
    for i, (group, plot) in enumerate(sets):
        truth = plot.reference_labels
        for method in methods:
            model = make_clusterer(method).fit(plot.xy)
            rows.append({"group": group, "plot": i, "n": len(plot), "k": int(truth.max() + 1), "method": method,
                         "clusters": model.n_clusters_, "ami": ami(truth, model.labels_),
                         "seconds": model.runtime_})
        print(f"{i + 1}/{len(sets)} {group} n={len(plot)}", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def report(df: pd.DataFrame) -> str:
    table = df.pivot_table(index="method", columns="group", values="ami", aggfunc="mean")
    generated = df[df.group != "wut"]
    table.insert(0, "generated (mean)", generated.groupby("method").ami.mean())
    blobs = df[df.group.str.startswith("blobs k=")]
    table["blob plots with 1 cluster"] = blobs.assign(one=blobs.clusters <= 1).groupby("method").one.mean()
    found = blobs.assign(ratio=blobs.clusters / blobs.k).groupby("method").ratio.mean()
    table["clusters / k on blobs"] = found
    table = table.round(3).reset_index()
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-group", type=int, default=5)
    parser.add_argument("--wut", help="folder of the wut battery (clustering-benchmarks layout)")
    parser.add_argument("--methods", nargs="*", default=CLASSICAL)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/baselines")
    parser.add_argument("--table", help="print the report of an earlier run's baselines.csv instead")
    args = parser.parse_args()
    if args.table:
        print(report(pd.read_csv(args.table)))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df = run(args.per_group, args.wut, args.methods, args.seed)
    df.to_csv(out / "baselines.csv", index=False)
    print(report(df))


if __name__ == "__main__":
    main()
