"""Rendering helpers: datashaded HoloViews plots, CLAMS overlays, heatmaps and PNG mosaics.

Points are always aggregated by datashader on the server, so the browser receives one
image whatever the point count; pan and zoom re-aggregate only the visible range.
"""
from __future__ import annotations

import weakref
from functools import partial

import colorcet as cc
import datashader as ds
import datashader.transfer_functions as tf
import holoviews as hv
import numpy as np
import pandas as pd
from bokeh.events import RangesUpdate
from bokeh.models import Legend, LegendItem
from panel.io.document import unlocked
from PIL import Image, ImageDraw

from app import display
from app.display import CHUNK, padded_range, square_around, square_ranges

MAX_COLORS = 50
NOISE = "noise"
NOISE_COLOR = "#d3d3d3"
PALETTE = ["#%02x%02x%02x" % tuple(int(255 * c) for c in rgb) for rgb in cc.glasbey_category10[:MAX_COLORS]]
SIZE = 560
MAX_LEGEND = 12
DENSITY_CMAP = cc.kbc[::-1][40:]


def category_column(labels: np.ndarray, n_clusters: int | None = None) -> pd.Categorical:
    """Labels as categories: noise first, clusters beyond MAX_COLORS reuse the palette.

    ``n_clusters``: the labeling's cluster count when ``labels`` is only part of it (one Dask
    partition), so that every part has the same categories.
    """
    labels = np.asarray(labels, dtype=np.int64)
    codes = np.empty(len(labels), np.int8)
    for start in range(0, len(labels), CHUNK):  # by chunks: no int64 temporaries the size of the plot
        part = labels[start:start + CHUNK]
        codes[start:start + CHUNK] = np.where(part < 0, 0, part % MAX_COLORS + 1)
    shown = min(MAX_COLORS, int(labels.max(initial=-1)) + 1 if n_clusters is None else n_clusters)
    return pd.Categorical.from_codes(codes, categories=[NOISE] + [str(i) for i in range(shown)])


def color_key() -> dict[str, str]:
    return {NOISE: NOISE_COLOR, **{str(i): c for i, c in enumerate(PALETTE)}}


def frame(xy: np.ndarray, labels=None, values=None) -> pd.DataFrame:
    """Points (the shared display copy, not a new one) with an optional cluster or agreement column.

    Built once per figure, never per render; a category column costs one byte a point.
    """
    shown = display.shared(np.asarray(xy))
    columns = {"x": shown.x, "y": shown.y}
    if labels is not None:
        categories = category_column(labels)
        columns["cluster"] = pd.Categorical.from_codes(shown.in_order(categories.codes), categories.categories)
    if values is not None:
        columns["agreement"] = shown.in_order(values, np.float32)
    return pd.DataFrame(columns, copy=False)


def shade_view(table: pd.DataFrame, x_range, y_range, size: int, kind: str = "density"):
    """One view: a single datashader aggregation of the visible range, then shading and spreading.

    ``kind``: "density" (counts, eq_hist blues), "cluster" (counts per category, blended
    with :func:`color_key`) or "agreement" (mean agreement per pixel, 0-1). Returns, spread:
    for density each pixel's DENSITY_CMAP colour as uint8 codes (:func:`density_codes`; a
    quarter of an RGBA image to send), for clusters a datashader Image (RGBA), for agreement
    the mean aggregate.
    """
    canvas = ds.Canvas(plot_width=size, plot_height=size, x_range=tuple(x_range), y_range=tuple(y_range))
    if kind == "agreement":
        agg = canvas.points(table, "x", "y", ds.mean("agreement"))
        return tf.dynspread(agg, threshold=0.6, max_px=3, how="max")
    if kind == "cluster":
        return tf.dynspread(shade_clusters(canvas.points(table, "x", "y", ds.by("cluster", ds.count()))),
                            threshold=0.6, max_px=3)
    # Spread as opaque RGBA with the code in the red byte: over opaque pixels datashader's
    # RGBA spreading only copies values, and its RGBA kernel is the one numba compiled already.
    codes = density_codes(canvas.points(table, "x", "y", ds.count()))
    opaque = tf.Image(np.where(codes.data > 0, codes.data | np.uint32(255 << 24), np.uint32(0)),
                      coords=codes.coords, dims=codes.dims)
    spread = tf.dynspread(opaque, threshold=0.6, max_px=3)
    return spread.copy(data=(spread.data & 0xFF).astype(np.uint8))


_DENSITY_LUT = np.array([0] + [int(c[1:3], 16) | int(c[3:5], 16) << 8 | int(c[5:7], 16) << 16 | 255 << 24
                               for c in DENSITY_CMAP], np.uint32)  # by density code: 0 is empty


def _eq_hist(values: np.ndarray) -> np.ndarray:
    """datashader's eq_hist for whole-number counts, as a table from count to level 0-1: a
    pixel's level is the share of non-empty pixels with at most its count (lowest count 0,
    highest 1). A bincount instead of datashader's sort and interpolation."""
    cdf = np.cumsum(np.bincount(values.ravel(), minlength=2)).astype(np.float64)  # empty pixels cancel out
    return (cdf - cdf[1]) / max(cdf[-1] - cdf[1], 1.0)


def density_codes(counts):
    """Counts as DENSITY_CMAP colours by histogram equalisation, as codes: 0 for an empty pixel,
    i + 1 for the colour DENSITY_CMAP[i] (a colour per count, then one lookup per pixel)."""
    values = np.asarray(counts.values)
    codes = 1 + np.clip((_eq_hist(values) * len(DENSITY_CMAP)).astype(np.uint32), 0, len(DENSITY_CMAP) - 1)
    codes[0] = 0
    return counts.copy(data=codes[values])


def shade_density(counts) -> tf.Image:
    """Counts shaded by histogram equalisation onto DENSITY_CMAP, empty pixels transparent: what
    ``tf.shade(counts, cmap, how="eq_hist")`` shows, ~2 ms instead of 80 ms at 10M points."""
    codes = density_codes(counts)
    return tf.Image(_DENSITY_LUT[codes.data], coords=codes.coords, dims=codes.dims)


def shade_clusters(counts, min_alpha: int = 120) -> tf.Image:
    """Counts per category blended with :func:`color_key`, opacity by eq_hist of the total.

    What ``tf.shade(counts, color_key=color_key(), min_alpha=min_alpha)`` shows: each pixel the
    count-weighted mean of its categories' colours, empty pixels transparent; a few ms instead of
    datashader's ~70 ms at 560 x 560 (its float copies and NaN handling serve inputs counts never are).
    """
    data = np.asarray(counts.values)
    key = color_key()
    rgb = np.array([[int(key[c][i:i + 2], 16) for i in (1, 3, 5)] for c in counts.coords[counts.dims[-1]].values],
                   np.float32).reshape(-1, 3)
    total = data.sum(axis=2, dtype=np.int64)
    filled = total > 0
    mixed = (data.astype(np.float32) @ rgb / np.maximum(total, 1)[..., None]).astype(np.uint32)
    alpha = (min_alpha + _eq_hist(total)[total] * (255 - min_alpha)).astype(np.uint32)
    rgba = np.where(filled, mixed[..., 0] | mixed[..., 1] << 8 | mixed[..., 2] << 16 | alpha << 24, np.uint32(0))
    return tf.Image(rgba, coords={d: counts.coords[d] for d in counts.dims[:2]},
                    dims=counts.dims[:2])


def _legend_hook(labels: np.ndarray):
    """A Bokeh hook adding the clusters' legend to the figure once (a glyph per cluster at one NaN
    point, so nothing is drawn but the legend can show it: Bokeh draws no legend marker for empty data).

    On the figure rather than as HoloViews Points overlaid on the view: an overlay re-renders
    every layer on each pan and zoom (~35 ms at 10M points, for a legend that never changes).
    """
    names = [NOISE] * bool((labels < 0).any()) + [str(i) for i in range(int(labels.max(initial=-1)) + 1)]
    key = color_key()

    def hook(plot, element):
        figure = plot.state
        if any(isinstance(item, Legend) for item in figure.right):
            return  # hooks also run on every update
        glyphs = [figure.scatter(x=[np.nan], y=[np.nan], color=key[name], size=8) for name in names]
        items = [LegendItem(label=name, renderers=[glyph]) for name, glyph in zip(names, glyphs)]
        figure.add_layout(Legend(items=items), "right")

    return hook


def scatter(xy: np.ndarray, labels=None, values=None, *, title: str = "", size: int = SIZE,
            tools=("box_select",), legend: bool = True):
    """A scatterplot aggregated on the server for each view: density, clusters (noise grey) or a 0-1 value.

    Every view is one datashader pass over the plot's shared display copy (see :func:`frame`);
    pan and zoom re-aggregate only the visible range.
    """
    xy = np.asarray(xy)
    kind = "agreement" if values is not None else "cluster" if labels is not None else "density"
    shown = display.shared(xy)
    return _dynamic(frame(xy, labels, values), shown.ranges, kind, labels, title, size, tools, legend, shown.rows)


def labelled_frame(folder, n_clusters: int):
    """Labelled points written by ``data.large.LazyPlot.propagate``, as a Dask frame whose label is a
    category column known to every partition (what a categorical aggregation needs)."""
    import dask.dataframe as dd

    labelled = dd.read_parquet(str(folder), columns=["x", "y", "label"])
    meta = pd.DataFrame({"x": labelled._meta.x, "y": labelled._meta.y,
                         "cluster": category_column(np.zeros(0, np.int64), n_clusters)})
    return labelled.map_partitions(
        lambda part: pd.DataFrame({"x": part.x.to_numpy(), "y": part.y.to_numpy(),
                                   "cluster": category_column(part.label.to_numpy(), n_clusters)}), meta=meta)


def scatter_lazy(table, extent, legend_labels=None, *, title: str = "", size: int = SIZE,
                 tools=("box_select",), legend: bool = True):
    """:func:`scatter` of a Dask frame (a LazyPlot's points or :func:`labelled_frame`): each view
    one aggregation over its partitions.

    ``extent``: the points' (x_range, y_range); ``legend_labels``: a sample's labels when the
    frame has a cluster column.
    """
    ranges = square_around(*(padded_range(r) for r in extent))
    kind = "cluster" if "cluster" in table.columns else "density"
    return _dynamic(table, ranges, kind, legend_labels, title, size, tools, legend)


class _LiveView:
    """A raster that follows each figure's view: a range update aggregates the visible range once
    and writes the image straight into that figure's Bokeh source.

    HoloViews' own path (a DynamicMap on a RangeXY stream) builds, validates and re-encodes a new
    element per view and waits a loop cycle before it starts: ~70 ms of a 10M-point re-render at
    560 x 560, more than the aggregation. ``rows``: the table's rows a view's y range needs (a
    display copy's bands), or None for all.
    """

    def __init__(self, table, ranges, kind: str, size: int, rows=None):
        self.table, self.ranges, self.kind, self.size, self.rows = table, ranges, kind, size, rows
        self.latest = weakref.WeakKeyDictionary()  # figure's image source -> its latest view's columns
        self.pending = weakref.WeakKeyDictionary()  # source -> ranges still to render
        self.first = self.data(*ranges)

    def data(self, x_range, y_range) -> dict:
        """The Bokeh image source's columns for one view (image rows bottom up, as datashader's)."""
        shown = self.table if self.rows is None else self.table.iloc[self.rows(y_range)]
        shaded = shade_view(shown, x_range, y_range, self.size, self.kind)
        (x0, x1), (y0, y1) = x_range, y_range
        return dict(image=[np.ascontiguousarray(shaded.values)], x=[x0], y=[y0], dw=[x1 - x0], dh=[y1 - y0])

    def element(self):
        """The first view as a HoloViews element (rows top down, as HoloViews takes them)."""
        (x0, x1), (y0, y1) = self.ranges
        image = self.first["image"][0][::-1]
        if self.kind != "cluster":
            return hv.Image(image, bounds=(x0, y0, x1, y1), vdims=[self.kind])
        return hv.RGB(image.view(np.uint8).reshape(image.shape + (4,)), bounds=(x0, y0, x1, y1), vdims=list("RGBA"))

    def hook(self, plot, element):
        """Follows a newly rendered figure's ranges; re-applies its latest view should HoloViews
        have re-sent the first one (hooks run on every update of an overlay)."""
        source = plot.handles["source"]
        latest = self.latest.get(source)
        if latest is None:
            self.latest[source] = self.first
            plot.state.on_event(RangesUpdate, partial(self._on_ranges, source))
        elif source.data["image"][0] is not latest["image"][0]:
            source.data = dict(latest)

    def _on_ranges(self, source, event):
        """Ranges that arrive while a view renders are coalesced: the next render draws the last."""
        scheduled = source in self.pending
        self.pending[source] = ((event.x0, event.x1), (event.y0, event.y1))
        document = source.document
        if document is None or document.session_context is None:
            self._render(source)
        elif not scheduled:
            document.add_next_tick_callback(partial(self._render, source))

    def _render(self, source):
        x_range, y_range = self.pending.pop(source)
        self.latest[source] = latest = self.data(x_range, y_range)
        with unlocked():  # Panel sends the change at once rather than after the callback
            source.data = dict(latest)


def _dynamic(table, ranges, kind: str, labels, title: str, size: int, tools, legend: bool, rows=None):
    (xr, yr) = ranges
    live = _LiveView(table, ranges, kind, size, rows)
    view = live.element()
    # Square ranges in a square frame give equal aspect without data_aspect, which
    # confuses the sizing of linked grids.
    # lod_interval 0: Bokeh reports a wheel's new ranges as the next frame starts to paint, not
    # lod_timeout after that paint ends (~50 ms later at 10M points); the image has no LOD to lose.
    common = dict(frame_width=size, frame_height=size, xlim=xr, ylim=yr, title=title, tools=list(tools),
                  active_tools=["wheel_zoom"], bgcolor="white", backend_opts={"plot.lod_interval": 0},
                  hooks=[live.hook])
    if kind == "agreement":
        return view.opts(hv.opts.Image(cmap="viridis", clim=(0.0, 1.0), colorbar=legend, clabel="agreement",
                                       **common))
    if kind == "density":  # code i + 1 is DENSITY_CMAP[i]; 0 (empty) falls below the range: transparent
        return view.opts(hv.opts.Image(cmap=DENSITY_CMAP, clim=(0.5, len(DENSITY_CMAP) + 0.5),
                                       clipping_colors={"min": "transparent"}, colorbar=False, **common))
    # A legend only while it stays readable; past a dozen clusters the colours speak alone.
    if kind == "cluster" and legend and labels is not None and labels.max(initial=-1) < MAX_LEGEND:
        common["hooks"].append(_legend_hook(np.asarray(labels)))
    return view.opts(hv.opts.RGB(**common))


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
