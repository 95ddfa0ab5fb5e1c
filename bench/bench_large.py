"""A Parquet point set far larger than one partition, rendered through Dask (`visclust render`) and
explored in the served app as a Dask-backed plot (``?dataset=parquet:<folder>``).

Rows: peak memory of the whole process tree (client, scheduler, workers) against the points'
float64 size; the render time against reading the same Parquet into pandas; Explore's zoom
re-render (wheel event to painted image, in Chromium) against the Dask aggregation that
`visclust render` does, of a view the same size; the server's peak memory against the points'
size. Full: 100M points; quick: 10M.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import statistics

import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import CHROMIUM, CHROMIUM_ARGS, row, serve_app
from data.large import aggregate, dask_client, mixture_chunks, open_points


PART = 5_000_000


def write_parquet(folder: Path, n: int, seed: int = 0) -> Path:
    """n points of five Gaussian clusters, written part by part so the writer never holds them all."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (xy, _) in enumerate(mixture_chunks(n, k=5, seed=seed, chunk=PART)):
        pq.write_table(pa.table({"x": xy[:, 0], "y": xy[:, 1]}), folder / f"part.{i:04d}.parquet")
    return folder


def peak_tree_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak summed RSS in MB of the process and all its descendants)."""
    import psutil

    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            try:
                procs = [proc] + proc.children(recursive=True)
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.1)

    thread = threading.Thread(target=sample)
    thread.start()
    proc.wait()
    done.set()
    thread.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with {proc.returncode}")
    return time.perf_counter() - start, peak


def run(quick: bool = False) -> list[dict]:
    n = 10_000_000 if quick else 100_000_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_parquet(Path(tmp) / "points", n)
        seconds, peak = peak_tree_rss_mb([sys.executable, "-m", "app.cli", "render", str(folder),
                                          "-o", str(Path(tmp) / "points.png")])
        read_s, read_peak = peak_tree_rss_mb([sys.executable, "-c",
                                              f"import pandas as pd; pd.read_parquet({str(folder)!r})"])
        explore = explore_rows(folder, n, repeats=3)
    size_mb = n * 2 * 8 / 2**20
    label = f"{n // 1_000_000}M points"
    return explore + [row(f"render {label} from Parquet through Dask (s)", seconds, f"pandas.read_parquet of the {label}",
                read_s, note="2 local worker threads, 800x800"),
            row(f"peak RSS rendering {label}, all processes (MB, not s)", peak, "the points' float64 size (MB)",
                size_mb, "well below the data size", peak < size_mb,
                note=f"pandas.read_parquet peaked at {read_peak:.0f} MB")]


def view_aggregation(folder: Path, size: int = 560, repeats: int = 3) -> float:
    """What `visclust render` does for one view, without its start-up and PNG: the Dask aggregation
    of every partition (best of ``repeats``, local cluster of threads as the server's)."""
    frame = open_points(folder)
    with dask_client(processes=False):
        aggregate(frame, size, size)  # extent and numba compilation out of the timing
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            aggregate(frame, size, size, (-10.0, 10.0), (-10.0, 10.0))
            times.append(time.perf_counter() - start)
    return min(times)


def explore_rows(folder: Path, n: int, repeats: int = 3) -> list[dict]:
    """Explore on the Dask-backed plot: first paint, zoom re-renders and the server's peak memory."""
    from playwright.sync_api import sync_playwright

    from bench.bench_render import first_paint, rss_mb, zoom_rerender

    label, text = f"{n // 1_000_000}M points", f"{n:,} points"
    baseline = view_aggregation(folder)
    server, url = serve_app({"VISCLUST_DATA_ROOTS": str(folder.parent)})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            first_paint(browser, url, "1,200 points")
            idle = rss_mb(server.pid, "VmRSS")
            paint = first_paint(browser, f"{url}?dataset=parquet:{folder}", text)
            zoom = statistics.median(zoom_rerender(browser, f"{url}?dataset=parquet:{folder}", text, repeats))
            browser.close()
        peak = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=20)
    size_mb = n * 2 * 8 / 1e6
    return [row(f"Explore zoom re-render, {label} Dask-backed (median of {repeats})", zoom,
                "Dask aggregation of one view, as `visclust render` (best of 3)", baseline, "ratio <= 2",
                zoom / baseline <= 2),
            row(f"Explore first paint, {label} Dask-backed", paint, "Dask aggregation of one view", baseline,
                note="two passes: rows, extent and the 100k sample in one, then the first view"),
            row(f"server peak RSS growth exploring {label} Dask-backed (MB, not s)", peak - idle,
                "the points' float64 size (MB)", size_mb, "below the data size", peak - idle < size_mb,
                note=f"memory, not time; idle server {idle:.0f} MB, peak {peak:.0f} MB")]


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
