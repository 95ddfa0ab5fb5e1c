"""The lean render path: one shared display copy per plot, one aggregation per view."""
import datashader as ds
import datashader.transfer_functions as tf
import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from bokeh.events import RangesUpdate
from bokeh.models import ColumnDataSource, Legend, LinearColorMapper

from app import display, plots


def test_sessions_share_one_display_copy_per_plot():
    xy = np.random.default_rng(0).normal(size=(5000, 2))
    a, b = plots.frame(xy), plots.frame(xy, labels=np.arange(5000) % 3)
    assert a["x"].dtype == np.float32
    assert np.shares_memory(a["x"].to_numpy(), b["x"].to_numpy())
    assert not np.shares_memory(a["x"].to_numpy(), plots.frame(xy.copy())["x"].to_numpy())


def test_display_keeps_float64_where_float32_would_blur_a_zoomed_pixel():
    xy = 1e9 + np.random.default_rng(0).normal(size=(100, 2))
    assert plots.frame(xy)["x"].dtype == np.float64
    assert display.display_dtype(np.random.default_rng(0).normal(size=(100, 2))) is np.float32


def test_density_shading_matches_datashaders_eq_hist():
    xy = np.random.default_rng(1).normal(size=(200_000, 2))
    canvas = ds.Canvas(plot_width=120, plot_height=100, x_range=(-3, 3), y_range=(-3, 3))
    counts = canvas.points(plots.frame(xy), "x", "y")
    ours = plots.shade_density(counts).data.view(np.uint8).reshape(counts.shape + (4,)).astype(int)
    theirs = tf.shade(counts, cmap=plots.DENSITY_CMAP, how="eq_hist").data.view(np.uint8)
    theirs = theirs.reshape(counts.shape + (4,)).astype(int)
    np.testing.assert_array_equal(ours[..., 3], theirs[..., 3])
    assert np.abs(ours[..., :3] - theirs[..., :3]).max() <= 2


def test_density_codes_are_what_the_browsers_colour_mapper_draws():
    hv.extension("bokeh")
    xy = np.random.default_rng(5).normal(size=(20_000, 2))
    figure = hv.renderer("bokeh").get_plot(plots.scatter(xy)).state
    (mapper,) = figure.select(LinearColorMapper)
    n = len(plots.DENSITY_CMAP)
    assert [c.lower() for c in mapper.palette] == [c.lower() for c in plots.DENSITY_CMAP]
    assert (mapper.low, mapper.high, mapper.low_color) == (0.5, n + 0.5, "rgba(0, 0, 0, 0)")
    # Bokeh's linear mapping of code c: palette index floor((c - low) / (high - low) * n) = c - 1.
    codes = np.arange(1, n + 1)
    np.testing.assert_array_equal(np.floor((codes - mapper.low) / (mapper.high - mapper.low) * n), codes - 1)
    canvas = ds.Canvas(plot_width=80, plot_height=80, x_range=(-3, 3), y_range=(-3, 3))
    counts = canvas.points(plots.frame(xy), "x", "y")
    drawn = plots.density_codes(counts).values
    rgba = plots.shade_density(counts).data
    hexes = np.array(["#%02x%02x%02x" % (v & 255, v >> 8 & 255, v >> 16 & 255) for v in rgba[drawn > 0]])
    np.testing.assert_array_equal(hexes, np.array([c.lower() for c in plots.DENSITY_CMAP])[drawn[drawn > 0] - 1])
    assert (rgba[drawn == 0] == 0).all() and (drawn[counts.values > 0] > 0).all()


def test_cluster_shading_matches_datashaders_categorical_shade():
    rng = np.random.default_rng(3)
    xy = np.concatenate([rng.normal(size=(100_000, 2)), rng.normal(1.0, 0.5, size=(50_000, 2))])
    labels = np.repeat([0, 1], [100_000, 50_000])
    labels[::7] = -1  # noise mixed into both
    canvas = ds.Canvas(plot_width=120, plot_height=100, x_range=(-3, 3), y_range=(-3, 3))
    counts = canvas.points(plots.frame(xy, labels), "x", "y", ds.by("cluster", ds.count()))
    ours = plots.shade_clusters(counts).data.view(np.uint8).reshape(counts.shape[:2] + (4,)).astype(int)
    theirs = tf.shade(counts, color_key=plots.color_key(), min_alpha=120).data.view(np.uint8)
    theirs = theirs.reshape(counts.shape[:2] + (4,)).astype(int)
    shown = theirs[..., 3] > 0
    np.testing.assert_array_equal(ours[..., 3] > 0, shown)
    assert np.abs(ours[..., 3] - theirs[..., 3]).max() <= 1
    assert np.abs(ours[shown, :3] - theirs[shown, :3]).max() <= 1
    assert len(np.unique(ours[shown, :3], axis=0)) > 10  # blends, not one colour per cluster


def test_display_copy_in_bands_aggregates_like_the_points_in_their_order():
    rng = np.random.default_rng(4)
    xy = rng.normal(size=(100_000, 2)) * [1.0, 3.0]
    labels = (xy[:, 0] > 0).astype(int) + (xy[:, 1] > 1)
    shown, table = display.shared(xy), plots.frame(xy, labels)
    original = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "cluster": plots.category_column(labels)})
    for y_range in [(-1.0, 1.0), (0.3, 0.31), (-20.0, 20.0), (5.0, 9.0), (-9.7, -2.0)]:
        canvas = ds.Canvas(plot_width=90, plot_height=70, x_range=(-1.5, 1.0), y_range=y_range)
        ours = canvas.points(table.iloc[shown.rows(y_range)], "x", "y", ds.by("cluster", ds.count()))
        theirs = canvas.points(original, "x", "y", ds.by("cluster", ds.count()))
        np.testing.assert_array_equal(ours.values, theirs.values)
    assert shown.rows((0.3, 0.31)).stop - shown.rows((0.3, 0.31)).start < len(xy) / 20  # a thin view reads few points


@pytest.mark.parametrize("kind", ["density", "cluster", "agreement"])
def test_a_range_event_renders_the_new_view(kind):
    hv.extension("bokeh")
    rng = np.random.default_rng(2)
    xy = rng.normal(size=(3000, 2))
    extra = {"cluster": {"labels": (xy[:, 0] > 0).astype(int)}, "agreement": {"values": rng.uniform(size=3000)},
             "density": {}}[kind]
    element = plots.scatter(xy, **extra)
    figure = hv.renderer("bokeh").get_plot(element * hv.Points([]))  # overlaid, as Explore shows it
    (source,) = [m for m in figure.state.select(ColumnDataSource) if "image" in m.data]
    first = source.data["image"][0].copy()
    for _ in range(2):  # what BokehJS sends after a pan or zoom
        figure.state._trigger_event(RangesUpdate(figure.state, x0=0.0, x1=1.0, y0=0.0, y1=1.0))
    assert (source.data["x"], source.data["y"], source.data["dw"], source.data["dh"]) == ([0.0], [0.0], [1.0], [1.0])
    shown = source.data["image"][0]
    assert shown.shape == (plots.SIZE, plots.SIZE) and not np.array_equal(shown, first)
    # Bokeh draws image rows bottom up: the view's lowest row holds the points just above y = 0.
    canvas = ds.Canvas(plot_width=plots.SIZE, plot_height=plots.SIZE, x_range=(0, 1), y_range=(0, 1))
    counts = canvas.points(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}), "x", "y").values
    filled = ~np.isnan(shown) if kind == "agreement" else shown > 0
    assert filled[counts > 0].all()
    # The clusters' legend sits on the figure, once, however many views were rendered.
    legends = [item for item in figure.state.right if isinstance(item, Legend)]
    assert [[i.label.value for i in legend.items] for legend in legends] == ([["0", "1"]] if kind == "cluster" else [])
