"""The lean render path: one shared display copy per plot, one aggregation per view."""
import datashader as ds
import datashader.transfer_functions as tf
import holoviews as hv
import numpy as np
import pytest
from bokeh.models import Legend

from app import plots


def test_sessions_share_one_display_copy_per_plot():
    xy = np.random.default_rng(0).normal(size=(5000, 2))
    a, b = plots.frame(xy), plots.frame(xy, labels=np.arange(5000) % 3)
    assert a["x"].dtype == np.float32
    assert np.shares_memory(a["x"].to_numpy(), b["x"].to_numpy())
    assert not np.shares_memory(a["x"].to_numpy(), plots.frame(xy.copy())["x"].to_numpy())


def test_display_keeps_float64_where_float32_would_blur_a_zoomed_pixel():
    xy = 1e9 + np.random.default_rng(0).normal(size=(100, 2))
    assert plots.frame(xy)["x"].dtype == np.float64
    assert plots.display_dtype(np.random.default_rng(0).normal(size=(100, 2))) is np.float32


def test_density_shading_matches_datashaders_eq_hist():
    xy = np.random.default_rng(1).normal(size=(200_000, 2))
    canvas = ds.Canvas(plot_width=120, plot_height=100, x_range=(-3, 3), y_range=(-3, 3))
    counts = canvas.points(plots.frame(xy), "x", "y")
    ours = plots.shade_density(counts).data.view(np.uint8).reshape(counts.shape + (4,)).astype(int)
    theirs = tf.shade(counts, cmap=plots.DENSITY_CMAP, how="eq_hist").data.view(np.uint8)
    theirs = theirs.reshape(counts.shape + (4,)).astype(int)
    np.testing.assert_array_equal(ours[..., 3], theirs[..., 3])
    assert np.abs(ours[..., :3] - theirs[..., :3]).max() <= 2


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


@pytest.mark.parametrize("kind", ["density", "cluster", "agreement"])
def test_a_range_event_renders_the_new_view(kind):
    hv.extension("bokeh")
    rng = np.random.default_rng(2)
    xy = rng.normal(size=(3000, 2))
    extra = {"cluster": {"labels": (xy[:, 0] > 0).astype(int)}, "agreement": {"values": rng.uniform(size=3000)},
             "density": {}}[kind]
    element = plots.scatter(xy, **extra)
    figure = hv.renderer("bokeh").get_plot(element)
    (stream,) = [s for s in element.streams if isinstance(s, plots.ViewRange)]
    for _ in range(2):
        stream.event(x_range=(0.0, 1.0), y_range=(0.0, 1.0))
    shown = element[()]
    assert shown.bounds.lbrt() == (0.0, 0.0, 1.0, 1.0)
    # The clusters' legend sits on the figure, once, however many views were rendered.
    legends = [item for item in figure.state.right if isinstance(item, Legend)]
    assert [[i.label.value for i in legend.items] for legend in legends] == ([["0", "1"]] if kind == "cluster" else [])
    assert shown.dimension_values(2, flat=False).shape == (plots.SIZE, plots.SIZE)
