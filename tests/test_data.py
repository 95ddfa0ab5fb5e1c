"""Loaders, writers, generators, bundled sets and input validation."""
import json

import numpy as np
import pandas as pd
import pytest

import data
from data import InvalidScatterplot, generate as g


@pytest.fixture
def plot():
    return g.blobs(300, k=3, separation=6, seed=3)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".json", ".npy", ".npz"])
def test_round_trip_every_format(tmp_path, plot, suffix):
    path = data.save(plot, tmp_path / f"p{suffix}")
    back = data.load(path)
    np.testing.assert_allclose(back.xy, plot.xy)
    if suffix != ".npy":  # a bare array has no label column
        np.testing.assert_array_equal(back.labels, plot.labels)


def test_bytes_upload_and_column_choice():
    csv = b"name,a,b,c\np,1,10,100\nq,2,20,200\nr,3,30,300\ns,4,40,400\n"
    plot = data.load(csv, format="csv")
    np.testing.assert_array_equal(plot.xy[:, 0], [1, 2, 3, 4])  # first two numeric columns
    by_name = data.load(csv, x="c", y="a", format="csv")
    np.testing.assert_array_equal(by_name.xy[:, 0], [100, 200, 300, 400])
    by_index = data.load(csv, x=3, y=1, format="csv")
    np.testing.assert_array_equal(by_index.xy, by_name.xy)


def test_json_pairs_and_records(tmp_path):
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps([[0, 0], [1, 1], [2, 0]]))
    assert data.load(pairs).xy.shape == (3, 2)
    records = tmp_path / "records.json"
    records.write_text(json.dumps([{"u": 1, "v": 2, "label": 0}, {"u": 2, "v": 1, "label": 1},
                                   {"u": 3, "v": 3, "label": 1}]))
    plot = data.load(records)
    np.testing.assert_array_equal(plot.labels, [0, 1, 1])


def test_benchmark_layout(tmp_path):
    pd.DataFrame({"x": [0, 1, 2, 3], "y": [0, 1, 0, 1]}).to_csv(tmp_path / "toy.csv", index=False)
    pd.DataFrame({"labels0": [1, 1, 2, 0], "labels1": [1, 2, 2, 1]}).to_csv(tmp_path / "toy.labels.csv", index=False)
    plot = data.load(tmp_path / "toy")
    assert plot.labels.shape == (2, 4)
    np.testing.assert_array_equal(plot.labels[0], [0, 0, 1, -1])  # 0 = noise there, -1 here
    assert data.load(tmp_path / "toy.csv").labels.shape == (2, 4)
    assert data.benchmark_names(tmp_path) == ["toy"]


def test_human_reference_sets_load(wut_dir):
    names = data.benchmark_names(wut_dir)
    assert len(names) == 19
    for name in names:
        plot = data.load(wut_dir / name)
        assert plot.xy.shape[1] == 2 and plot.labelings.shape[1] == len(plot)


def test_bundled_sets():
    names = data.datasets()
    assert {"iris", "digits", "penguins", "moons", "spirals"} <= set(names)
    assert len([n for n in names if n in data.gallery.GALLERY]) >= 12
    for name in names:
        plot = data.load(name)
        assert len(plot) >= 100 and plot.labels is not None
    copy = data.bundled("moons")
    copy.xy[:] = 0
    assert np.any(data.bundled("moons").xy != 0)  # callers cannot corrupt the cache


@pytest.mark.parametrize("kind,params", [
    ("two_gaussians", dict(n=400, distance=2.0, sigma_ratio=0.5, rotation=30, size_ratio=0.3)),
    ("blobs", dict(n=500, k=5, density_range=3, size_imbalance=1, elongation=4, noise=0.1)),
    ("shapes", dict(kind="spirals", n=400, background=0.1)),
    ("scene", dict(n=600, k=5, gap=0.03, noise=0.05)),
    ("noise", dict(n=200)),
])
def test_generators_deterministic(kind, params):
    a, b = g.generate(kind, seed=7, **params), g.generate(kind, seed=7, **params)
    c = g.generate(kind, seed=8, **params)
    np.testing.assert_array_equal(a.xy, b.xy)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.xy, c.xy)
    assert len(a) == params["n"] and a.labels.shape == (params["n"],)


def test_two_gaussians_parameters():
    plot = g.two_gaussians(3000, distance=10, size_ratio=0.5, seed=1)
    assert (plot.labels == 1).sum() == 1000
    means = [plot.xy[plot.labels == i].mean(axis=0) for i in (0, 1)]
    assert np.linalg.norm(means[1] - means[0]) == pytest.approx(10, abs=0.3)


def test_scene_keeps_primitives_apart():
    from sklearn.neighbors import KDTree

    plot = g.scene(3000, k=6, gap=0.04, seed=3)
    ids = np.unique(plot.labels)
    assert len(ids) >= 4  # a primitive that finds no free place after 200 tries is dropped
    for i in ids:
        inside, outside = plot.xy[plot.labels == i], plot.xy[plot.labels != i]
        assert KDTree(outside).query(inside, k=1)[0].min() >= 0.04
    crossing = g.scene(3000, k=6, gap=0.04, overlap=1.0, seed=3)
    assert len(np.unique(crossing.labels)) == 6  # placed ignoring the gap: none dropped
    # each is centred on a point of an earlier one, so it touches or crosses the earlier ones
    for i in range(1, 6):
        earlier = KDTree(crossing.xy[crossing.labels < i])
        assert earlier.query(crossing.xy[crossing.labels == i], k=1)[0].min() < 0.04


def test_generated_noise_is_labelled_minus_one():
    plot = g.blobs(1000, k=3, noise=0.2, seed=0)
    assert (plot.labels == -1).sum() == 200


@pytest.mark.parametrize("content,fmt,message", [
    (b"", "csv", "no"),
    (b"x,y\n1,2\n3,4\n", "csv", "at least 3"),
    (b"x,y\n1,1\n1,1\n1,1\n", "csv", "identical"),
    (b"x,y\nnan,1\ninf,2\n", "csv", "no point has finite"),
    (b"a,b\nfoo,bar\nbaz,qux\nx,y\n", "csv", "numeric"),
    (b"[[1, 2], [3,", "json", "malformed JSON"),
    (b"\x00\x01\x02garbage", "parquet", "could not read"),
    (b"\x00\x01binary\x00", "csv", "binary"),
    (b"not numpy", "npy", "could not read"),
])
def test_bad_input_messages(content, fmt, message):
    with pytest.raises(InvalidScatterplot, match=message):
        data.load(content, format=fmt)


def test_nonfinite_rows_dropped_and_counted_or_strict():
    csv = b"x,y\n0,0\n1,nan\n2,2\n3,inf\n4,1\n"
    plot = data.load(csv, format="csv")
    assert len(plot) == 3 and plot.meta["dropped_nonfinite"] == 2
    with pytest.raises(InvalidScatterplot, match="2 point"):
        data.load(csv, format="csv", strict=True)


def test_duplicates_are_valid():
    assert len(data.load(np.array([[0, 0], [0, 0], [1, 1], [1, 1]]))) == 4


def test_unknown_format_and_size_cap(tmp_path):
    (tmp_path / "p.xlsx").write_bytes(b"..")
    with pytest.raises(InvalidScatterplot, match="unknown file format"):
        data.load(tmp_path / "p.xlsx")
    big = tmp_path / "big.csv"
    big.write_text("x,y\n" + "1,2\n" * 1000)
    with pytest.raises(InvalidScatterplot, match="limit"):
        data.load(big, max_bytes=100)
    with pytest.raises(InvalidScatterplot, match="no such file"):
        data.load(tmp_path / "missing.csv")


def test_display_normalize_equal_aspect():
    xy = np.array([[0.0, 0.0], [10.0, 1.0], [5.0, 0.5]])
    norm = data.display_normalize(xy)
    assert norm[:, 0].max() - norm[:, 0].min() == pytest.approx(1.0)
    assert norm[:, 1].max() - norm[:, 1].min() == pytest.approx(0.1)
    extreme = data.display_normalize(xy * 1e300)
    assert np.all(np.isfinite(extreme))


def test_labels_written_back_to_every_input_row(tmp_path):
    plot = data.load(b"x,y\n0,0\n1,nan\n2,2\n3,inf\n4,1\n", format="csv")
    assert plot.meta["dropped_rows"] == [1, 3]
    for suffix in (".json", ".npy"):
        data.save_labels({"k": np.array([0, 1, -1])}, tmp_path / f"l{suffix}", plot)
    records = json.loads((tmp_path / "l.json").read_text())
    assert [r["k"] for r in records] == [0, None, 1, None, -1] and [r["dropped"] for r in records][1]
    array = np.load(tmp_path / "l.npy")  # readable without pickle: dropped rows are NaN
    assert array.shape == (5, 4) and np.isnan(array[3, :3]).all() and array[4, 2] == -1
    clean = data.load(b"x,y\n0,0\n1,1\n2,2\n", format="csv")
    data.save_labels({"k": np.array([0, 0, 1])}, tmp_path / "c.csv", clean)
    assert list(pd.read_csv(tmp_path / "c.csv").columns) == ["x", "y", "k"]
