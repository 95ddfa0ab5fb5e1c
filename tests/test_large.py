"""Dask + datashader aggregation of large Parquet point sets agrees with the in-memory result."""
import datashader as ds
import numpy as np
import pandas as pd
import pytest

from data import InvalidScatterplot
from data.large import aggregate, dask_client, extent, open_points, write_points


@pytest.fixture(scope="module")
def big_parquet(tmp_path_factory):
    rng = np.random.default_rng(0)
    xy = np.vstack([rng.normal(0, 1, (1_500_000, 2)), rng.normal(6, 0.5, (1_500_000, 2))])
    return xy, write_points(xy, tmp_path_factory.mktemp("big") / "points.parquet", partitions=12)


def test_dask_local_cluster_matches_in_memory(big_parquet):
    xy, path = big_parquet
    frame = open_points(path)
    x_range, y_range = extent(frame)
    assert x_range == pytest.approx((xy[:, 0].min(), xy[:, 0].max()))
    with dask_client(n_workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        lazy = aggregate(path, 300, 200, x_range, y_range)
    canvas = ds.Canvas(plot_width=300, plot_height=200, x_range=x_range, y_range=y_range)
    eager = canvas.points(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}), "x", "y", agg=ds.count()).values
    np.testing.assert_array_equal(lazy, eager)
    assert lazy.sum() == len(xy)


def test_scheduler_address_from_environment(monkeypatch):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        monkeypatch.setenv("VISCLUST_DASK_SCHEDULER", cluster.scheduler_address)
        with dask_client() as client:
            assert client.scheduler.address == cluster.scheduler_address


def test_missing_file_and_columns(tmp_path):
    with pytest.raises(InvalidScatterplot, match="no such"):
        open_points(tmp_path / "nope.parquet")
    path = write_points(np.ones((10, 2)), tmp_path / "p.parquet", partitions=1)
    with pytest.raises(InvalidScatterplot, match="columns"):
        open_points(path, x="u", y="v")


def test_cluster_many_through_dask(tmp_path):
    import subprocess
    import sys

    from data import generate, save

    for k in (2, 3):
        save(generate.blobs(400, k=k, separation=10, seed=k), tmp_path / f"blobs{k}.csv")
    (tmp_path / "broken.csv").write_text("a,b\nx,y\n")
    out = subprocess.run([sys.executable, "-m", "app.cli", "cluster", str(tmp_path), "--many", "--method", "gmm",
                          "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert list(summary["file"]) == ["blobs2.csv", "blobs3.csv", "broken.csv"]
    assert list(summary["clusters"][:2]) == [2, 3]
    assert "numeric" in summary["error"].iloc[2]
    assert len(pd.read_csv(tmp_path / "out" / "blobs3.labels.gmm.csv")) == 400


def test_ambiguity_many_ranks_plots(tmp_path):
    import subprocess
    import sys

    from data import generate, save

    save(generate.two_gaussians(500, distance=3.5, seed=1), tmp_path / "close.csv")
    save(generate.two_gaussians(500, distance=12, seed=1), tmp_path / "apart.csv")
    save(generate.blobs(500, k=1, seed=1), tmp_path / "one.csv")
    out = subprocess.run([sys.executable, "-m", "app.cli", "ambiguity", str(tmp_path), "--many",
                          "-o", str(tmp_path / "table.csv")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(tmp_path / "table.csv")
    assert table["ambiguity"].is_monotonic_increasing
    assert table.set_index("file").loc["close.csv", "ambiguity"] > table.set_index("file").loc["apart.csv", "ambiguity"]


def test_render_command_writes_the_image(big_parquet, tmp_path):
    import subprocess
    import sys

    from PIL import Image

    _, path = big_parquet
    out = subprocess.run([sys.executable, "-m", "app.cli", "render", str(path), "-o", str(tmp_path / "p.png"),
                          "--size", "300"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "3,000,000 points" in out.stdout
    assert Image.open(tmp_path / "p.png").size == (300, 300)


def test_gaussian_mixture_is_seeded_and_filled_chunk_by_chunk():
    from data.large import gaussian_mixture, mixture_chunks

    plot = gaussian_mixture(2_500, k=3, seed=4)
    again = gaussian_mixture(2_500, k=3, seed=4)
    np.testing.assert_array_equal(plot.xy, again.xy)
    parts = list(mixture_chunks(2_500, k=3, seed=4, chunk=1_000))
    assert [len(lab) for _, lab in parts] == [1000, 1000, 500]
    assert set(np.unique(plot.labels)) == {0, 1, 2}
    assert not np.array_equal(plot.xy, gaussian_mixture(2_500, k=3, seed=5).xy)
    with pytest.raises(InvalidScatterplot):
        gaussian_mixture(0)
