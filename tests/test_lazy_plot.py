"""Dask-backed plots (data.large.LazyPlot): Parquet of any size in Explore, views, colour-by and lassos."""
from __future__ import annotations

import datashader as ds
import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from app import plots
from app.explore_state import polygon_selection
from app.sources import ROOTS_ENV, resolve
from data import InvalidScatterplot
from data.large import LazyPlot, gaussian_mixture, write_points

N = 240_000


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    plot = gaussian_mixture(N, k=6, separation=5.0, seed=3)
    return plot.xy, write_points(plot.xy, tmp_path_factory.mktemp("lazy") / "points", partitions=6)


def counts(table, x_range, y_range, agg=None):
    canvas = ds.Canvas(plot_width=200, plot_height=150, x_range=x_range, y_range=y_range)
    return np.asarray(canvas.points(table, "x", "y", agg if agg is not None else ds.count()).values)


@pytest.mark.parametrize("zoom", [1.0, 0.2])
def test_a_view_through_dask_equals_the_same_view_in_memory(parquet, zoom):
    xy, path = parquet
    lazy = LazyPlot(path)
    assert len(lazy) == N and lazy.frame.npartitions == 6
    (x0, x1), (y0, y1) = lazy.extent
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, zoom * (x1 - x0) / 2, zoom * (y1 - y0) / 2
    view = ((cx - hx, cx + hx), (cy - hy, cy + hy))
    eager = counts(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}), *view)
    np.testing.assert_array_equal(counts(lazy.frame, *view), eager)
    assert eager.sum() > 0


def test_colour_by_labels_every_point_of_every_partition(parquet, tmp_path):
    xy, path = parquet
    lazy = LazyPlot(path)
    sample = lazy.sample(5_000, seed=1)
    assert len(sample) == 5_000 and sample.meta["total_points"] == N
    np.testing.assert_array_equal(sample.xy, lazy.sample(5_000, seed=1).xy)  # seeded
    labels = np.arange(len(sample)) % 7  # any labeling: each point must take its nearest sample point's
    out = lazy.propagate(sample.xy, labels, tmp_path / "labelled")
    written = pd.read_parquet(out)
    assert len(list(out.glob("*.parquet"))) == 6  # one file per partition
    np.testing.assert_array_equal(written[["x", "y"]].to_numpy(), xy)  # one row per input row, in order
    np.testing.assert_array_equal(written.label.to_numpy(), labels[cKDTree(sample.xy).query(xy)[1]])
    # The categorical view of the labelled points equals the same aggregation in memory.
    table = plots.labelled_frame(out, 7)
    assert table.cluster.cat.known
    eager = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "cluster": plots.category_column(written.label, 7)})
    by = ds.by("cluster", ds.count())
    np.testing.assert_array_equal(counts(table, *lazy.extent, by), counts(eager, *lazy.extent, by))


def test_rows_without_finite_coordinates_keep_their_place_with_label_minus_one(tmp_path):
    xy = np.random.default_rng(0).normal(size=(3_000, 2))
    xy[[5, 1_700, 2_999]] = [np.nan, 1.0], [np.inf, 0.0], [0.0, np.nan]
    lazy = LazyPlot(write_points(xy, tmp_path / "points", partitions=3))
    assert len(lazy) == 3_000 and np.isfinite(lazy.extent).all()
    sample = lazy.sample(10_000)
    assert len(sample) == 2_997  # every finite point, once
    written = pd.read_parquet(lazy.propagate(sample.xy, np.zeros(len(sample), int), tmp_path / "labelled"))
    assert len(written) == 3_000
    np.testing.assert_array_equal(np.flatnonzero(written.label < 0), [5, 1_700, 2_999])


def test_lasso_on_a_dask_backed_plot_selects_exactly_the_points_inside(parquet):
    xy, path = parquet
    xs, ys = [0.0, 9.0, 4.0], [-3.0, 0.0, 8.0]
    rows, coords = LazyPlot(path).select_polygon(xs, ys)
    expected = polygon_selection(xy, xs, ys)
    assert len(expected) > 100
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_array_equal(coords, xy[expected])


def test_parquet_paths_are_read_only_under_the_data_roots(parquet, monkeypatch, tmp_path):
    _, path = parquet
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))
    with pytest.raises(InvalidScatterplot, match="outside the folders"):
        resolve(f"parquet:{path}")
    monkeypatch.setenv(ROOTS_ENV, str(path.parent))
    lazy = resolve(f"parquet:{path}")
    assert isinstance(lazy, LazyPlot) and len(lazy.subsample) == len(lazy.sample())
    with pytest.raises(InvalidScatterplot, match="no such Parquet"):
        resolve(f"parquet:{path.parent / 'missing'}")


def test_explorer_opens_parquet_and_colours_every_point(parquet):
    from app import Explorer
    from app.jobs import propagation_job

    xy, path = parquet
    ex = Explorer(path, color_by="kmeans")
    assert ex.lazy is not None and len(ex.lazy) == N and len(ex.plot) == len(ex.lazy.subsample)
    assert "240,000 points" in repr(ex)
    labels = ex.labels  # the subsample's
    folder = propagation_job(ex.app.loaded, ex.lazy, "kmeans", labels).future.result()
    written = pd.read_parquet(folder)
    assert len(written) == N and written.label.min() >= 0
    np.testing.assert_array_equal(written.label.to_numpy(), labels[cKDTree(ex.plot.xy).query(xy)[1]])
    rows = ex.select_polygon([0.0, 9.0, 4.0], [-3.0, 0.0, 8.0])
    np.testing.assert_array_equal(rows, polygon_selection(xy, [0.0, 9.0, 4.0], [-3.0, 0.0, 8.0]))
    assert len(ex.state.selection_table()) == len(rows)
