"""The `visclust` command line end to end, in a subprocess as a user runs it."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


def visclust(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_help_everywhere():
    out = visclust("--help")
    assert out.returncode == 0
    for command in ("datasets", "generate", "cluster", "serve"):
        assert command in out.stdout
        assert visclust(command, "--help").returncode == 0


def test_commands_grouped_by_job():
    from app.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["train", "clusternet", "--epochs", "2"]).epochs == 2
    assert parser.parse_args(["train", "separability", "--plots", "9"]).plots == 9
    assert parser.parse_args(["evaluate", "clams", "--plots", "7"]).plots == 7
    assert parser.parse_args(["evaluate", "clusternet", "--tuned"]).tuned is True
    assert parser.parse_args(["evaluate", "crossval", "--annotations", "d"]).folds == 5
    top = visclust("--help").stdout
    for flat in ("train-clusternet", "train-separability", "evaluate-clams", "evaluate-clusternet",
                 "crossval-clusternet"):
        assert flat not in top
    for group in ("train", "evaluate"):
        out = visclust(group)
        assert out.returncode == 2 and "required" in out.stderr


def test_datasets():
    out = visclust("datasets")
    assert out.returncode == 0 and "moons" in out.stdout.split()


def test_generate_then_cluster(tmp_path):
    plot_file = tmp_path / "blobs.csv"
    out = visclust("generate", "blobs", "n=500", "k=3", "separation=9", "seed=2", "-o", plot_file)
    assert out.returncode == 0, out.stderr
    labels_file = tmp_path / "labels.parquet"
    out = visclust("cluster", plot_file, "--method", "kmeans", "-o", labels_file)
    assert out.returncode == 0, out.stderr
    assert "3 clusters" in out.stdout
    table = pd.read_parquet(labels_file)
    assert list(table.columns) == ["x", "y", "kmeans"] and len(table) == 500


def test_cluster_with_params_and_bundled_name(tmp_path):
    out = visclust("cluster", "moons", "--method", "dbscan", "--param", "min_samples=8",
                   "-o", tmp_path / "l.csv")
    assert out.returncode == 0, out.stderr
    assert len(pd.read_csv(tmp_path / "l.csv")) == 1000


@pytest.mark.parametrize("args,message", [
    (("cluster", "missing.csv"), "no such file"),
    (("cluster", "moons", "--method", "nope"), "unknown clustering method"),
    (("generate", "blobs", "k", "-o", "x.csv"), "KEY=VALUE"),
    (("generate", "blobs", "bogus=1", "-o", "x.csv"), "bad parameter"),
])
def test_errors_are_one_line(tmp_path, args, message):
    out = visclust(*args, cwd=None)
    assert out.returncode != 0
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\nx,y\nz,w\n")
    out = visclust("cluster", bad)
    assert out.returncode == 2 and "numeric" in out.stderr and "Traceback" not in out.stderr


def test_serve_raises_the_upload_cap(monkeypatch):
    """`visclust serve` and `make serve` start Panel with the websocket cap that the upload
    browser test relies on."""
    import app.commands.core as core
    from app.cli import main

    calls = []
    monkeypatch.setattr(core.subprocess, "call", lambda cmd, env=None: calls.append(cmd) or 0)
    assert main(["serve", "--port", "5999"]) == 0
    cmd = calls[0]
    assert cmd[cmd.index("--websocket-max-message-size") + 1] == str(core.MAX_MESSAGE_BYTES)
    # the README's `make serve` passes the same cap
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert f"--websocket-max-message-size {core.MAX_MESSAGE_BYTES}" in makefile


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cluster_keeps_one_row_per_input_row(tmp_path, suffix):
    """Rows with NaN coordinates are not clustered but keep their place in the output, marked."""
    import numpy as np

    rng = np.random.default_rng(0)
    xy = np.vstack([rng.normal(0, 0.3, (20, 2)), rng.normal(20, 0.3, (20, 2))])
    xy[[3, 25], 1] = np.nan  # one NaN row in each blob
    points = tmp_path / "points.csv"
    pd.DataFrame(xy, columns=["x", "y"]).to_csv(points, index=False)
    out = visclust("cluster", points, "--method", "kmeans", "-o", tmp_path / f"labels{suffix}")
    assert out.returncode == 0, out.stderr
    assert "2 of 40 rows have missing or infinite coordinates" in out.stderr
    table = pd.read_csv(tmp_path / "labels.csv") if suffix == ".csv" else pd.read_parquet(tmp_path / "labels.parquet")
    assert len(table) == 40 and list(table.columns) == ["x", "y", "kmeans", "dropped"]
    assert np.flatnonzero(table["dropped"]).tolist() == [3, 25]
    assert table["kmeans"].isna().tolist() == table["dropped"].tolist()
    kept = ~table["dropped"].to_numpy()
    np.testing.assert_allclose(table["x"].to_numpy(float)[kept], xy[kept, 0])
    labels = table["kmeans"].to_numpy(float)
    assert len(set(labels[:20][kept[:20]])) == 1 and len(set(labels[20:][kept[20:]])) == 1  # each blob one cluster
    assert labels[0] != labels[39]


def test_cluster_a_parquet_folder_of_any_size_through_dask(tmp_path):
    from data.large import gaussian_mixture, write_points

    plot = gaussian_mixture(60_000, k=3, separation=8.0, seed=4)
    folder = write_points(plot.xy, tmp_path / "points", partitions=3)
    out = visclust("cluster", folder, "--dask", "--method", "kmeans", "--sample", "5000", "-o", tmp_path / "lab")
    assert out.returncode == 0, out.stderr
    assert "subsample of 5,000 of 60,000 points" in out.stdout
    written = pd.read_parquet(tmp_path / "lab")
    assert len(written) == 60_000 and written.label.nunique() == 3
    assert visclust("cluster", folder, "--dask").stderr.strip().endswith("name it with -o")
