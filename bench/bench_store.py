"""Submit latency of the annotation store with 20 concurrent annotators.

    python bench/bench_store.py [--annotators 20] [--plots 50] [--points 1000]

Runs on a SQLite file in a temporary folder and on a throw-away PostgreSQL server
(tests/pg.py, fsync on), and prints p50/p99 submit latency and throughput for each.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from data.store import AnnotationStore  # noqa: E402
from pg import postgres_server, skip_reason  # noqa: E402


def run(url: str, annotators: int, plots: int, points: int) -> dict:
    rng = np.random.default_rng(0)
    with AnnotationStore(url) as store:
        info = store.create_study("bench", [rng.normal(size=(points, 2)) for _ in range(plots)])
        plot_ids = [p.plot_id for p in store.plots(info)]
        people = [store.annotator_for_token(info, store.add_annotator(info)) for _ in range(annotators)]
        latencies = [[] for _ in people]
        barrier = threading.Barrier(annotators)

        def work(a: int):
            labels = np.random.default_rng(a).integers(-1, 5, size=points)
            barrier.wait()
            for p, plot_id in enumerate(plot_ids):
                t = time.perf_counter()
                store.submit(info, plot_id, people[a], labels, key=f"{a}-{p}", seconds=1.0)
                latencies[a].append(time.perf_counter() - t)

        threads = [threading.Thread(target=work, args=(a,)) for a in range(annotators)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        assert len(store.annotations(info)) == annotators * plots
    ms = np.concatenate(latencies) * 1000
    return {"p50_ms": np.percentile(ms, 50), "p99_ms": np.percentile(ms, 99), "per_s": len(ms) / wall, "n": len(ms)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--plots", type=int, default=50)
    parser.add_argument("--points", type=int, default=1000)
    args = parser.parse_args()
    sizes = (args.annotators, args.plots, args.points)
    print(f"{args.annotators} concurrent annotators x {args.plots} submissions of {args.points} labels")
    with tempfile.TemporaryDirectory() as tmp:
        results = {"SQLite (WAL)": run(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", *sizes)}
    reason = skip_reason()
    if reason:
        print(f"PostgreSQL skipped: {reason}")
    else:
        with postgres_server(durable=True) as server:
            results["PostgreSQL 15"] = run(server.create_database(), *sizes)
    for name, r in results.items():
        print(f"{name:14s} submits={r['n']}  p50={r['p50_ms']:.1f} ms  p99={r['p99_ms']:.1f} ms  "
              f"throughput={r['per_s']:.0f}/s")


if __name__ == "__main__":
    main()
