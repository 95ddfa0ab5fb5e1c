"""The served Annotate page under load: 20 annotators x 50 submissions over the websocket.

    python -m bench.bench_annotate [--annotators 20] [--submissions 50]

A `panel serve app/main.py` server on SQLite and on a throw-away durable PostgreSQL (fsync and
synchronous commit on, bench/pg.py); annotators are Bokeh client sessions (bench/annotate_client.py)
that lasso and submit as a browser does. Rows: the round trip from the Submit click to the next
plot, p99 with all annotators at once against one annotator alone in the same run; every
submission is checked to be stored exactly once (the note says how many were lost).
"""
from __future__ import annotations

import argparse

import numpy as np
import psutil

from bench.annotate_client import run_annotators
from bench.bench_store import _databases
from bench.common import row, serve_app
from data.store import AnnotationStore

POINTS = 1000


def measure(db_url: str, annotators: int, submissions: int, seed: int = 0) -> dict:
    """Round trips of ``annotators`` at once, each submitting ``submissions`` plots; checks none is lost."""
    rng = np.random.default_rng(seed)
    with AnnotationStore(db_url) as store:
        info = store.create_study("load", [rng.normal(size=(POINTS, 2)) for _ in range(submissions)])
        tokens = [store.add_annotator(info) for _ in range(annotators)]
    server, url = serve_app({"VISCLUST_DB_URL": db_url})
    try:
        before = psutil.Process(server.pid).cpu_times()
        times, wall = run_annotators(url, info.id, tokens, submissions)
        after = psutil.Process(server.pid).cpu_times()
    finally:
        server.terminate()
        server.wait(timeout=30)
    with AnnotationStore(db_url) as store:
        stored = store.annotations(info)
    pairs = {(a.annotator_id, a.plot_id) for a in stored}
    wrong = sum(not np.all(a.labels == 0) for a in stored)  # each lasso took every point
    sent = sum(len(t) for t in times)
    ms = np.concatenate(times) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "sent": sent,
            "stored": len(stored), "lost": annotators * submissions - len(pairs),
            "duplicates": len(stored) - len(pairs), "wrong": wrong, "per_s": sent / wall,
            "server_cpu_ms": (after.user + after.system - before.user - before.system) / max(sent, 1) * 1000}


def run(quick: bool = False) -> list[dict]:
    annotators, submissions = (20, 10) if quick else (20, 50)
    rows = []
    for name, url in _databases():
        alone = measure(url("alone"), 1, submissions)
        r = measure(url("load"), annotators, submissions)
        rows.append(row(f"Annotate page submit round trip p99, {annotators} annotators over websockets, {name}",
                        r["p99_ms"] / 1000, "one annotator alone (p99)", alone["p99_ms"] / 1000,
                        target="0 lost, duplicated or wrong",
                        passed=r["lost"] == 0 and r["duplicates"] == 0 and r["wrong"] == 0,
                        note=f"p50 {r['p50_ms']:.0f} ms, {r['per_s']:.1f} submits/s, {r['stored']} of "
                             f"{annotators * submissions} stored, {r['lost']} lost, {r['duplicates']} duplicated, "
                             f"{r['wrong']} wrong; server CPU {r['server_cpu_ms']:.0f} ms a submission; click to next plot "
                             f"of {POINTS} points"))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--submissions", type=int, default=50)
    args = parser.parse_args()
    for name, url in _databases():
        r = measure(url("bench"), args.annotators, args.submissions)
        print(f"{name:14s} sent={r['sent']} stored={r['stored']} lost={r['lost']} duplicated={r['duplicates']} "
              f"wrong={r['wrong']} server_cpu={r['server_cpu_ms']:.0f} ms p50={r['p50_ms']:.0f} ms p99={r['p99_ms']:.0f} ms throughput={r['per_s']:.1f}/s")


if __name__ == "__main__":
    main()
