"""Shared helpers of the benchmarks: timing, machine description, result rows and a local server.

Every benchmark module ``bench/bench_*.py`` defines ``run(quick: bool) -> list[dict]``; each
row compares a measured time with a baseline measured in the same run (see :func:`row`).
The tests use the server helpers too (tests may import bench; the product imports neither).
"""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def timed(fn, *args, repeat: int = 1, **kwargs):
    """(best wall time in seconds over ``repeat`` calls, the last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def row(benchmark: str, seconds: float, baseline: str | None = None, baseline_seconds: float | None = None,
        target: str = "", passed: bool | None = None, note: str = "") -> dict:
    """One result: ``ratio`` = seconds / baseline_seconds (lower is faster than the baseline)."""
    ratio = seconds / baseline_seconds if baseline_seconds else None
    return {"benchmark": benchmark, "seconds": round(seconds, 4), "baseline": baseline or "",
            "baseline_seconds": None if baseline_seconds is None else round(baseline_seconds, 4),
            "ratio": None if ratio is None else round(ratio, 4), "target": target, "passed": passed,
            "note": note}


def machine() -> dict:
    import importlib.metadata as md

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for pkg in ("visclust", "numpy", "scikit-learn", "torch", "datashader", "panel", "hdbscan", "SQLAlchemy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "versions": versions}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def serve_app(env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`panel serve app/main.py` on a free localhost port, as a user starts it; (process, page URL).

    ``env``: variables added to this process's environment (a store URL, data roots).
    """
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", str(root / "app" / "main.py"), "--port", str(port),
         "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"],
        cwd=root, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/main"
    try:
        wait_for_http(url, server)
    except BaseException:
        server.terminate()
        raise
    return server, url
