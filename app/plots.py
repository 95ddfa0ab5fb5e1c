"""Rendering helpers: datashaded HoloViews plots, CLAMS overlays, heatmaps and PNG mosaics.

Points are always aggregated by datashader on the server, so the browser receives one
image whatever the point count; pan and zoom re-aggregate only the visible range.
"""
from __future__ import annotations

import colorcet as cc
import datashader as ds
import datashader.transfer_functions as tf
import holoviews as hv
import numpy as np
import pandas as pd
from holoviews.operation.datashader import datashade, dynspread, rasterize
from PIL import Image, ImageDraw

MAX_COLORS = 50
NOISE = "noise"
NOISE_COLOR = "#d3d3d3"
PALETTE = ["#%02x%02x%02x" % tuple(int(255 * c) for c in rgb) for rgb in cc.glasbey_category10[:MAX_COLORS]]
SIZE = 560
MAX_LEGEND = 12


def category_column(labels: np.ndarray) -> pd.Categorical:
    """Labels as categories: noise first, clusters beyond MAX_COLORS reuse the palette."""
    labels = np.asarray(labels, dtype=np.int64)
    codes = np.where(labels < 0, 0, labels % MAX_COLORS + 1)
    shown = min(MAX_COLORS, int(labels.max(initial=-1)) + 1)
    return pd.Categorical.from_codes(codes, categories=[NOISE] + [str(i) for i in range(shown)])


def color_key() -> dict[str, str]:
    return {NOISE: NOISE_COLOR, **{str(i): c for i, c in enumerate(PALETTE)}}


def frame(xy: np.ndarray, labels=None, values=None) -> pd.DataFrame:
    table = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]})
    if labels is not None:
        table["cluster"] = category_column(labels)
    if values is not None:
        table["agreement"] = np.asarray(values, dtype=np.float64)
    return table


def _padded_range(values: np.ndarray) -> tuple[float, float]:
    lo, hi = float(values.min()), float(values.max())
    pad = 0.03 * (hi - lo) or 0.5
    return lo - pad, hi + pad


def square_ranges(xy: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """Equal-length x and y ranges around the data, so a square frame keeps equal aspect."""
    (x0, x1), (y0, y1) = _padded_range(xy[:, 0]), _padded_range(xy[:, 1])
    half = max(x1 - x0, y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - half, cx + half), (cy - half, cy + half)


def scatter(xy: np.ndarray, labels=None, values=None, *, title: str = "", size: int = SIZE,
            tools=("box_select",), legend: bool = True):
    """A rasterized scatterplot: density, categorical clusters (noise grey) or a 0-1 value."""
    xr, yr = square_ranges(xy)
    vdims = [d for d in ("cluster", "agreement") if (d == "cluster" and labels is not None)
             or (d == "agreement" and values is not None)]
    points = hv.Points(frame(xy, labels, values), kdims=["x", "y"], vdims=vdims)
    # Square ranges in a square frame give equal aspect without data_aspect, which
    # confuses the sizing of linked grids.
    common = dict(frame_width=size, frame_height=size, xlim=xr, ylim=yr, title=title, tools=list(tools),
                  active_tools=["wheel_zoom"], bgcolor="white")
    if values is not None:
        shaded = rasterize(points, aggregator=ds.mean("agreement")).opts(
            cmap="viridis", clim=(0.0, 1.0), colorbar=legend, clabel="agreement", **common)
    elif labels is not None:
        # A legend only while it stays readable; past a dozen clusters the colours speak alone.
        small = legend and labels.max(initial=-1) < MAX_LEGEND
        shaded = datashade(points, aggregator=ds.by("cluster", ds.count()), color_key=color_key(),
                           min_alpha=120).opts(show_legend=bool(small), legend_position="right", **common)
    else:
        # Shaded on the server: the browser gets 4 bytes a pixel and no colormapping to do.
        shaded = datashade(points, cmap=cc.kbc[::-1][40:], cnorm="eq_hist").opts(**common)
    return dynspread(shaded, threshold=0.6, max_px=3)


def ellipse_paths(means: np.ndarray, covariances: np.ndarray, n_sigma: float = 2.0, steps: int = 64):
    """Outlines of each Gaussian component at ``n_sigma`` standard deviations."""
    t = np.linspace(0, 2 * np.pi, steps)
    circle = np.c_[np.cos(t), np.sin(t)]
    paths = []
    for mean, cov in zip(np.asarray(means), np.asarray(covariances)):
        vals, vecs = np.linalg.eigh(cov)
        outline = circle @ (vecs * (n_sigma * np.sqrt(np.maximum(vals, 0)))).T + mean
        paths.append(outline)
    return paths


def clams_overlay(model):
    """GMM ellipses and the kept pairs, each pair coloured by p(one cluster)."""
    ellipses = hv.Path(ellipse_paths(model.means_, model.covariances_)).opts(color="black", line_width=1.5)
    means = np.asarray(model.means_)
    pairs = np.asarray(model.pairs_, dtype=int).reshape(-1, 2)
    probs = np.asarray(model.pair_probabilities_, dtype=float).reshape(-1)
    segments = hv.Segments(
        pd.DataFrame({"x0": means[pairs[:, 0], 0], "y0": means[pairs[:, 0], 1], "x1": means[pairs[:, 1], 0],
                      "y1": means[pairs[:, 1], 1], "p_one": probs}),
        kdims=["x0", "y0", "x1", "y1"], vdims=["p_one"],
    ).opts(color="p_one", cmap="coolwarm", clim=(0, 1), line_width=4, colorbar=True, clabel="p(one cluster)",
           tools=["hover"])
    centres = hv.Points(means).opts(color="black", size=6)
    return ellipses * segments * centres


def heatmap(matrix: np.ndarray, names: list[str], metric: str):
    rows = [(a, b, round(float(matrix[i, j]), 2)) for i, a in enumerate(names) for j, b in enumerate(names)]
    hm = hv.HeatMap(rows, kdims=["method", "versus"], vdims=[metric]).opts(
        cmap="viridis", clim=(min(0.0, float(matrix.min())), 1.0), colorbar=True, width=520, height=460,
        xrotation=40, tools=["hover"], title=f"Agreement ({metric})", invert_yaxis=True)
    labels = hv.Labels(hm).opts(text_color="white", text_font_size="9pt")
    return hm * labels


def shade_image(xy: np.ndarray, labels, size: int = 300, ranges=None) -> Image.Image:
    """The same categorical rendering as the grid, done by datashader alone, as a PIL image."""
    xr, yr = ranges or square_ranges(xy)
    canvas = ds.Canvas(plot_width=size, plot_height=size, x_range=xr, y_range=yr)
    agg = canvas.points(frame(xy, labels), "x", "y", ds.by("cluster", ds.count()))
    img = tf.dynspread(tf.shade(agg, color_key=color_key(), min_alpha=120), threshold=0.6, max_px=3)
    return tf.set_background(img, "white").to_pil().convert("RGB")


def mosaic(xy: np.ndarray, labelings: dict[str, np.ndarray], titles: dict[str, str], cols: int = 3,
           size: int = 300) -> Image.Image:
    """A PNG-ready grid of the labelings, each with its title above it."""
    ranges = square_ranges(xy)
    names = list(labelings)
    rows = max(1, -(-len(names) // cols))
    head = 22
    sheet = Image.new("RGB", (cols * size, rows * (size + head)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, name in enumerate(names):
        x, y = (i % cols) * size, (i // cols) * (size + head)
        draw.text((x + 6, y + 5), titles.get(name, name), fill="black")
        sheet.paste(shade_image(xy, labelings[name], size, ranges), (x, y + head))
    return sheet
