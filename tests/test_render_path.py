"""The lean render path: one shared display copy per plot, one aggregation per view."""
import datashader as ds
import datashader.transfer_functions as tf
import holoviews as hv
import numpy as np
import pytest

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


@pytest.mark.parametrize("kind", ["density", "cluster", "agreement"])
def test_a_range_event_renders_the_new_view(kind):
    hv.extension("bokeh")
    rng = np.random.default_rng(2)
    xy = rng.normal(size=(3000, 2))
    extra = {"cluster": {"labels": (xy[:, 0] > 0).astype(int)}, "agreement": {"values": rng.uniform(size=3000)},
             "density": {}}[kind]
    element = plots.scatter(xy, **extra)
    hv.renderer("bokeh").get_plot(element)
    # With a legend the view sits under an overlay: it is an input of the overlay's callbacks.
    maps, (view, stream) = [element], (None, None)
    while maps:
        dmap = maps.pop()
        maps += getattr(getattr(dmap, "callback", None), "inputs", [])
        view, stream = next(((dmap, s) for s in getattr(dmap, "streams", []) if isinstance(s, plots.ViewRange)), (view, stream))
    stream.event(x_range=(0.0, 1.0), y_range=(0.0, 1.0))
    shown = view[()]
    assert shown.bounds.lbrt() == (0.0, 0.0, 1.0, 1.0)
    assert shown.dimension_values(2, flat=False).shape == (plots.SIZE, plots.SIZE)
