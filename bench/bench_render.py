"""Rendering benchmark of the dashboard (a measurement, not a test).

1. Datashader aggregation of 10M points against numpy.histogram2d at the same resolution.
2. First paint in headless Chromium of a 1M- and a 10M-point plot (both cached on the server):
   target 10M <= 2x 1M.
3. Pan/zoom re-render of 10M points, from a wheel event to the arrival of the re-aggregated
   image over the websocket plus one animation frame, against datashader's aggregation alone of
   the same points and view in this process (float64 pandas): target <= 5x; density and
   coloured by the reference labels.
4. The server's peak RSS after all of it against the points' float64 size: target <= 3x.

Run: .venv/bin/python -m bench.bench_render [--quick]   (needs /usr/bin/chromium), or
`visclust bench --only render`. Profile the server side of a re-render with
`python -m bench.bench_render --profile` (pyinstrument, no browser).
"""
from __future__ import annotations

import statistics
import sys
import time

import datashader as ds
import numpy as np
import pandas as pd

from bench.common import CHROMIUM, CHROMIUM_ARGS, serve_app

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


def view_aggregation(key: str = "gaussian-10M", repeats: int = 3, labels: bool = False) -> float:
    """Datashader alone on the plot's points (float64 pandas), at the plot's size, over the full and a 2x view.

    The smaller of the two views' best times: the stricter baseline for the re-render.
    """
    from app import display, plots
    from app.sources import resolve

    plot = resolve(key)
    table = pd.DataFrame({"x": plot.xy[:, 0], "y": plot.xy[:, 1]})
    agg = ds.count()
    if labels:
        table["cluster"] = plots.category_column(plot.reference_labels)
        agg = ds.by("cluster", ds.count())
    (x0, x1), (y0, y1) = display.square_ranges(plot.xy)
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 4, (y1 - y0) / 4
    best = float("inf")
    for xr, yr in [((x0, x1), (y0, y1)), ((cx - hx, cx + hx), (cy - hy, cy + hy))]:
        canvas = ds.Canvas(plot_width=plots.SIZE, plot_height=plots.SIZE, x_range=xr, y_range=yr)
        canvas.points(table, "x", "y", agg)
        best = min([best] + [_timed(lambda: canvas.points(table, "x", "y", agg)) for _ in range(repeats)])
    return best


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


# Timed inside the page, so the test driver's own relaying of a 1.25 MB frame is not counted:
# from the wheel event to the second animation frame after a websocket message carrying an image
# (the first lets Bokeh apply the patch, the second has it painted).
PAGE_CLOCK = """
window.__vc = {wheel: [], frames: []};
window.addEventListener('wheel', () => window.__vc.wheel.push(performance.now()), {capture: true});
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', (e) => {
      const size = e.data.byteLength ?? e.data.size ?? e.data.length;
      if (size > %d) requestAnimationFrame(() => requestAnimationFrame(() => window.__vc.frames.push(performance.now())));
    });
  }
};
""" % BIG_FRAME


def zoom_rerender(browser, url: str, text: str, repeats: int = 5) -> list[float]:
    """Seconds from each wheel event to the re-aggregated image painted, measured in the page."""
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    page.add_init_script(PAGE_CLOCK)
    page.goto(url)
    page.locator(f"{PLOT} canvas").first.wait_for(timeout=300_000)
    page.get_by_text(text).wait_for(timeout=300_000)
    page.locator(".vc-cancel").first.wait_for(state="hidden", timeout=300_000)  # colouring done
    page.wait_for_timeout(3000)
    box = page.locator(f"{PLOT} canvas").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    times = []
    for i in range(repeats):
        seen = page.evaluate("() => window.__vc.frames.length")
        page.mouse.wheel(0, -240 if i % 2 == 0 else 240)
        page.wait_for_function(f"() => window.__vc.frames.length > {seen}", timeout=30_000, polling=20)
        wheel, frame = page.evaluate("() => [window.__vc.wheel.at(-1), window.__vc.frames.at(-1)]")
        times.append((frame - wheel) / 1000)
        page.wait_for_timeout(1500)  # let the range stream settle
    page.close()
    return times


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    """Peak (VmHWM) or current (VmRSS) resident memory of a process, in MB."""
    with open(f"/proc/{pid}/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith(field))
    return kb / 1e3


def run(quick: bool = False) -> list[dict]:
    """Rows for `visclust bench`: aggregation, first paint, zoom re-render and server memory."""
    from playwright.sync_api import sync_playwright

    from bench.common import row

    repeats = 3 if quick else 5
    agg = aggregation(repeats=1 if quick else 3)
    rows = [row("datashader aggregation, 10M points", agg["datashader_s"], "numpy.histogram2d, 10M points",
                agg["histogram2d_s"], "ratio <= 2", agg["datashader_s"] / agg["histogram2d_s"] <= 2)]
    view_s, view_labels_s = view_aggregation(), view_aggregation(labels=True)
    server, url = serve_app()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            first_paint(browser, url, "1,200 points")
            idle = rss_mb(server.pid, "VmRSS")
            paints = {}
            for n, text in (("1M", "1,000,000 points"), ("10M", "10,000,000 points")):
                first_paint(browser, f"{url}?dataset=gaussian-{n}", text)  # generate and cache
                paints[n] = min(first_paint(browser, f"{url}?dataset=gaussian-{n}", text) for _ in range(2))
            rows.append(row("first paint, 10M points (cached on the server, best of 2)", paints["10M"],
                            "first paint, 1M points (cached, best of 2)", paints["1M"], "ratio <= 2",
                            paints["10M"] / paints["1M"] <= 2))
            zoom = statistics.median(zoom_rerender(browser, f"{url}?dataset=gaussian-10M", "10,000,000 points",
                                                   repeats))
            rows.append(row(f"zoom re-render, 10M points, density (median of {repeats})", zoom,
                            "datashader aggregation of the view alone, same points", view_s, "ratio <= 5",
                            zoom / view_s <= 5))
            zoom = statistics.median(zoom_rerender(browser, f"{url}?dataset=gaussian-10M&color=reference",
                                                   "10,000,000 points", repeats))
            rows.append(row(f"zoom re-render, 10M points, coloured by 5 clusters (median of {repeats})", zoom,
                            "datashader by-cluster aggregation of the view alone", view_labels_s, "ratio <= 5",
                            zoom / view_labels_s <= 5))
            browser.close()
        peak, size = rss_mb(server.pid), 10_000_000 * 2 * 8 / 1e6
        rows.append(row("server peak RSS after all of the above (MB, not s)", peak, "the 10M points' float64 size (MB)",
                        size, "ratio <= 3", peak / size <= 3, note="memory, not time"))
        rows.append(row("server peak RSS growth over the idle server (MB, not s)", peak - idle,
                        "the 10M points' float64 size (MB)", size, "ratio <= 3", (peak - idle) / size <= 3,
                        note=f"idle server with the default page: {idle:.0f} MB"))
    finally:
        server.terminate()
        server.wait(timeout=20)
    return rows


def profile(key: str = "gaussian-10M", repeats: int = 6):
    """Where a re-render's time goes on the server (no browser): pyinstrument over the range
    updates BokehJS sends after a pan or zoom."""
    import holoviews as hv
    from bokeh.events import RangesUpdate
    from pyinstrument import Profiler

    from app import display, plots
    from app.sources import resolve

    hv.extension("bokeh")
    plot = resolve(key)
    element = plots.scatter(plot.xy)
    figure = hv.renderer("bokeh").get_plot(element).state
    (x0, x1), (y0, y1) = display.square_ranges(plot.xy)
    profiler = Profiler(interval=0.0005)
    with profiler:
        for i in range(repeats):
            f = 0.25 if i % 2 else 0.5
            cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * f, (y1 - y0) * f
            figure._trigger_event(RangesUpdate(figure, x0=cx - hx, x1=cx + hx, y0=cy - hy, y1=cy + hy))
    print(profiler.output_text(unicode=True, color=False, show_all=False))


def main():
    if "--profile" in sys.argv:
        return profile()
    for r in run(quick="--quick" in sys.argv):
        print(r)


if __name__ == "__main__":
    main()
