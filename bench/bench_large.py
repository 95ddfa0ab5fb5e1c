"""A Parquet point set far larger than one partition, rendered through Dask (`visclust render`).

Rows: peak memory of the whole process tree (client, scheduler, workers) against the points'
float64 size, and the render time against reading the same Parquet into pandas.
Full: 100M points; quick: 10M.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


from bench.common import row
from data.large import mixture_chunks

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
    size_mb = n * 2 * 8 / 2**20
    label = f"{n // 1_000_000}M points"
    return [row(f"render {label} from Parquet through Dask (s)", seconds, f"pandas.read_parquet of the {label}",
                read_s, note="2 local worker threads, 800x800"),
            row(f"peak RSS rendering {label}, all processes (MB, not s)", peak, "the points' float64 size (MB)",
                size_mb, "well below the data size", peak < size_mb,
                note=f"pandas.read_parquet peaked at {read_peak:.0f} MB")]


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
