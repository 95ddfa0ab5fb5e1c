"""Reducers, high-dimensional tables and the low-ambiguity projection search."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from data import InvalidScatterplot
from data.tables import load_table, table_datasets
from models.embedding import REDUCERS, Reducer
from perception.projection_search import neighbourhood_scores, search_projections, settings


@pytest.fixture(scope="module")
def separated():
    X, y = make_blobs(300, n_features=10, centers=4, cluster_std=1.0, center_box=(-20, 20), random_state=3)
    return X, y


@pytest.mark.parametrize("method", sorted(REDUCERS))
def test_reducers_are_2d_finite_and_seeded(separated, method):
    X, _ = separated
    a = Reducer(method, random_state=1).fit_transform(X)
    b = Reducer(method, random_state=1).fit_transform(X)
    assert a.shape == (300, 2) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b)


def test_bad_tables():
    with pytest.raises(InvalidScatterplot, match="no parameter"):
        Reducer("umap", {"perplexity": 3}).fit_transform(np.random.default_rng(0).normal(size=(50, 3)))
    with pytest.raises(InvalidScatterplot, match="missing"):
        Reducer("pca").fit_transform(np.full((20, 3), np.nan))
    with pytest.raises(InvalidScatterplot, match="two numeric"):
        load_table(pd.DataFrame({"a": [1.0] * 20, "name": ["x"] * 20}))


def test_bundled_tables_keep_labels():
    for name in table_datasets():
        table = load_table(name)
        assert table.X.shape[1] >= 4 and table.labels is not None and len(table.labels) == len(table.X)


def test_settings_start_with_defaults_and_cover_the_space():
    trials = settings("umap", 9, seed=0)
    assert trials[0] == {"n_neighbors": 15, "min_dist": 0.1} and len(trials) == 9
    assert all(5 <= t["n_neighbors"] <= 100 and 0 <= t["min_dist"] <= 0.99 for t in trials)
    assert len({t["n_neighbors"] for t in trials}) > 4
    assert settings("pca", 9) == [{}]


def test_search_ranking_sorted_and_reproducible(separated):
    X, y = separated
    result = search_projections(X, y, methods=("pca", "umap"), budget=4, seed=0)
    ranking = result.ranking
    assert len(ranking) == 5 and list(ranking["rank"]) == [1, 2, 3, 4, 5]
    assert ranking["ambiguity"].is_monotonic_increasing
    from perception.clams import CLAMS

    from sklearn.preprocessing import StandardScaler

    for _, row in ranking.iterrows():
        emb = result.embeddings[row["trial"]]
        assert CLAMS(random_state=0).fit(emb).ambiguity_ == pytest.approx(row["ambiguity"])
        trust, cont = neighbourhood_scores(StandardScaler().fit_transform(X), emb, 0)
        assert (trust, cont) == pytest.approx((row["trustworthiness"], row["continuity"]))
    assert ranking["ambiguity"].iloc[0] <= ranking["ambiguity"].median()
    assert ranking["label_ami"].max() > 0.8  # well-separated classes are seen as clusters somewhere


def test_reduce_cli(tmp_path):
    table = tmp_path / "t.csv"
    X, y = make_blobs(120, n_features=5, centers=3, random_state=0)
    pd.DataFrame(X, columns=list("abcde")).assign(species=y).to_csv(table, index=False)
    out = subprocess.run([sys.executable, "-m", "app.cli", "reduce", str(table), "--label", "species",
                          "--methods", "pca,isomap", "--budget", "2", "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    ranking = pd.read_csv(tmp_path / "out" / "ranking.csv")
    assert len(ranking) == 3 and ranking["ambiguity"].is_monotonic_increasing
    for name in ranking["file"]:
        assert len(pd.read_parquet(tmp_path / "out" / name)) == 120


def test_dask_search_matches_in_process(separated):
    from data.large import dask_client

    X, y = separated
    local = search_projections(X, y, methods=("pca", "isomap"), budget=2, seed=0)
    with dask_client(n_workers=2) as client:
        remote = search_projections(X, y, methods=("pca", "isomap"), budget=2, seed=0, client=client)
    cols = ["trial", "method", "params", "ambiguity", "trustworthiness", "continuity", "label_ami"]
    pd.testing.assert_frame_equal(local.ranking[cols], remote.ranking[cols])
    for trial, emb in local.embeddings.items():
        np.testing.assert_allclose(emb, remote.embeddings[trial])
