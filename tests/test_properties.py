"""Property-based tests: any finite input of any size >= 3 gives labels of the right length or a
clear InvalidScatterplot, for the loaders, every clusterer, CLAMS and ClusterNet."""
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import data
from data import InvalidScatterplot
from models import CLASSICAL, make_clusterer
from perception import CLAMS, ClusterNet

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Finite values across magnitudes, including the extremes a loader may meet.
finite = st.one_of(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
                   st.sampled_from([0.0, 1e-300, -1e-300, 1e300, -1e300, 5e-324]))
any_value = st.one_of(finite, st.sampled_from([np.nan, np.inf, -np.inf]))


def point_sets(values=finite, min_size=3, max_size=60):
    return st.integers(min_size, max_size).flatmap(
        lambda n: arrays(np.float64, (n, 2), elements=values))


def structured():
    """Point sets with the shapes that break clusterers: duplicates, lines, constants."""
    return st.one_of(
        point_sets(),
        point_sets().map(lambda xy: np.vstack([xy, xy])),                       # every point twice
        st.integers(3, 40).map(lambda n: np.c_[np.linspace(0, 1, n), np.zeros(n)]),  # collinear
        st.integers(3, 40).map(lambda n: np.c_[np.arange(n) % 2, np.zeros(n)]),  # two stacks
    )


def labels_or_clear_error(fn, xy):
    try:
        labels = np.asarray(fn(xy))
    except InvalidScatterplot as exc:
        assert str(exc)  # a message a person can read
        return None
    assert labels.shape == (len(xy),)
    assert labels.min() >= -1
    return labels


@SETTINGS
@given(point_sets(values=any_value, min_size=0))
def test_loader_validates_any_array(xy):
    try:
        plot = data.load(xy)
    except InvalidScatterplot as exc:
        assert str(exc)
        return
    assert np.isfinite(plot.xy).all() and len(plot) >= 3
    assert plot.meta["dropped_nonfinite"] == int((~np.isfinite(xy).all(axis=1)).sum())


@SETTINGS
@given(point_sets(), st.sampled_from(["int", "float32", "float64"]))
def test_csv_round_trip_of_any_dtype(xy, dtype):
    table = pd.DataFrame(xy, columns=["x", "y"])
    if dtype == "int":
        table = table.clip(-1e9, 1e9).round().astype(np.int64)
    elif dtype == "float32":
        table = table.clip(-1e30, 1e30).astype(np.float32)
    try:
        plot = data.load(table.to_csv(index=False).encode(), format="csv")
    except InvalidScatterplot:
        assert len(np.unique(table.to_numpy(), axis=0)) < 2  # only identical points are refused
        return
    assert len(plot) == len(table)


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from(["csv", "tsv", "json", "parquet", "npy", "npz"]))
def test_any_bytes_give_a_plot_or_a_message(raw, fmt):
    """Upload fuzzing: truncated, binary or wrong-encoding content never escapes as another error."""
    try:
        plot = data.load(raw, format=fmt)
    except InvalidScatterplot as exc:
        assert str(exc)
        return
    assert np.isfinite(plot.xy).all()


@pytest.mark.parametrize("name", CLASSICAL)
@SETTINGS
@given(xy=structured())
def test_every_clusterer_on_any_input(name, xy):
    labels_or_clear_error(make_clusterer(name).fit_predict, xy)


@SETTINGS
@given(structured())
def test_clams_on_any_input(xy):
    try:
        score = CLAMS().score(xy)
    except InvalidScatterplot:
        return
    assert 0.0 <= score <= 1.0


@SETTINGS
@given(structured())
def test_clusternet_on_any_input(xy):
    net = ClusterNet.pretrained()
    labels = labels_or_clear_error(net.fit_predict, xy)
    if labels is not None:
        assert np.all((net.agreement_ >= 0) & (net.agreement_ <= 1))


def test_truncated_parquet_is_a_clear_error():
    buffer = io.BytesIO()
    pd.DataFrame({"x": np.arange(100.0), "y": np.arange(100.0)}).to_parquet(buffer)
    with pytest.raises(InvalidScatterplot, match="could not read"):
        data.load(buffer.getvalue()[: len(buffer.getvalue()) // 2], format="parquet")


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from(["a.csv", "b.tsv", "c.json", "d.parquet", "e.npy", "f.npz",
                                                 "g.txt", "noextension", "h.xlsx"]))
def test_dashboard_upload_path_keeps_the_plot(raw, filename):
    """Whatever is uploaded, the page either shows the new plot or a message and keeps the old one."""
    from app.state import AppState

    app = AppState(dataset="moons")
    app.load_now()
    before = app.plot
    if app.upload(raw, filename):
        assert len(app.plot) >= 3 and app.error == ""
    else:
        assert app.error.startswith(filename) and app.plot is before and app.dataset == "moons"
