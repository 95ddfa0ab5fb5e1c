"""Rendering benchmark of the dashboard (a measurement, not a test).

1. First paint of a 1M-point plot in headless Chromium (target < 3 s), cold and cached.
2. Pan/zoom re-render of 10M points (target < 1 s): from a wheel event to the arrival of
   the re-aggregated image over the websocket, plus one animation frame.
3. Datashader aggregation of 10M points against numpy.histogram2d at the same resolution.

Run: .venv/bin/python bench/bench_render.py [--quick]   (needs /usr/bin/chromium), or
`visclust bench --only render`.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import datashader as ds
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, wait_for_http  # noqa: E402

BIG_FRAME = 100_000  # bytes: a websocket message this large carries a new image
PLOT = ".vc-main-plot"


def aggregation(n: int = 10_000_000, size: int = 600, repeats: int = 3) -> dict:
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.standard_normal((n, 2)), columns=["x", "y"])
    canvas = ds.Canvas(plot_width=size, plot_height=size, x_range=(-5, 5), y_range=(-5, 5))
    canvas.points(table, "x", "y")  # numba compiles on the first call
    t_ds = min(_timed(lambda: canvas.points(table, "x", "y")) for _ in range(repeats))
    x, y = table["x"].to_numpy(), table["y"].to_numpy()
    t_np = min(_timed(lambda: np.histogram2d(x, y, bins=size, range=[[-5, 5], [-5, 5]])) for _ in range(repeats))
    return {"datashader_s": t_ds, "histogram2d_s": t_np}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def first_paint(browser, url: str, text: str) -> float:
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    start = time.perf_counter()
    page.goto(url)
    page.locator(f"{PLOT} canvas").first.wait_for(timeout=300_000)
    page.get_by_text(text).wait_for(timeout=300_000)
    elapsed = time.perf_counter() - start
    page.close()
    return elapsed


def zoom_rerender(browser, url: str, repeats: int = 5) -> list[float]:
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    frames: list[float] = []

    def on_ws(ws):
        ws.on("framereceived", lambda payload: frames.append(time.perf_counter())
              if len(payload) > BIG_FRAME else None)

    page.on("websocket", on_ws)
    page.goto(url)
    page.locator(f"{PLOT} canvas").first.wait_for(timeout=300_000)
    page.get_by_text("10,000,000 points").wait_for(timeout=300_000)
    page.wait_for_timeout(3000)
    box = page.locator(f"{PLOT} canvas").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    times = []
    for i in range(repeats):
        seen = len(frames)
        start = time.perf_counter()
        page.mouse.wheel(0, -240 if i % 2 == 0 else 240)
        while len(frames) == seen and time.perf_counter() - start < 30:
            page.wait_for_timeout(10)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
        times.append(time.perf_counter() - start)
        page.wait_for_timeout(1500)  # let the debounced range stream settle
    page.close()
    return times


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, in MB."""
    with open(f"/proc/{pid}/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
    return kb / 1024


def run(quick: bool = False) -> list[dict]:
    """Rows for `visclust bench`: aggregation, first paint, zoom re-render and server memory."""
    from playwright.sync_api import sync_playwright

    from bench.common import row

    agg = aggregation(repeats=1 if quick else 3)
    rows = [row("datashader aggregation, 10M points", agg["datashader_s"], "numpy.histogram2d, 10M points",
                agg["histogram2d_s"], "ratio <= 2", agg["datashader_s"] / agg["histogram2d_s"] <= 2)]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", str(ROOT / "app" / "main.py"), "--port", str(port),
         "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/main"
    try:
        wait_for_http(url, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            small = first_paint(browser, url, "1,200 points")
            first_paint(browser, f"{url}?dataset=gaussian-1M", "1,000,000 points")  # generate and cache
            big = first_paint(browser, f"{url}?dataset=gaussian-1M", "1,000,000 points")
            rows.append(row("first paint, 1M points (cached on the server)", big,
                            "first paint, 1,200 points", small, "< 3 s", big < 3))
            times = zoom_rerender(browser, f"{url}?dataset=gaussian-10M", repeats=3 if quick else 5)
            zoom = statistics.median(times)
            rows.append(row("zoom re-render, 10M points (median)", zoom, "datashader aggregation, 10M points",
                            agg["datashader_s"], "< 1 s", zoom < 1))
            rss = peak_rss_mb(server.pid)
            rows.append(row("server peak RSS exploring 10M points (MB, not s)", rss, "the points' float64 size (MB)",
                            10_000_000 * 2 * 8 / 1e6, note="memory, not time"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return rows


def main():
    for r in run(quick="--quick" in sys.argv):
        print(r)


if __name__ == "__main__":
    main()
