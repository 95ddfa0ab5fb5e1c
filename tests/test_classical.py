"""Every registered clusterer: scikit-learn contract, parameter-free defaults, subsampling."""
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from data import InvalidScatterplot, generate as g
from models import CLUSTERERS, make_clusterer
from models.classical import consecutive

REQUIRED = {"kmeans", "kmedoids", "dbscan", "hdbscan", "optics", "gmm", "agglomerative-ward",
            "agglomerative-single", "agglomerative-average", "spectral", "meanshift", "birch"}


def test_registry_complete():
    assert REQUIRED <= set(CLUSTERERS)
    for spec in CLUSTERERS.values():
        assert spec.display_name and set(spec.defaults) == {p.name for p in spec.params}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_recovers_separated_blobs(name):
    plot = g.blobs(900, k=4, separation=10, seed=5)
    model = make_clusterer(name).fit(plot.xy)
    assert adjusted_rand_score(plot.labels, model.labels_) > 0.9
    assert model.labels_.shape == (900,) and model.labels_.min() >= -1
    assert set(np.unique(model.labels_[model.labels_ >= 0])) == set(range(model.n_clusters_))
    if not CLUSTERERS[name].noise:
        assert model.labels_.min() >= 0  # -1 is only ever noise


@pytest.mark.parametrize("name", ["kmeans", "hdbscan", "gmm", "dbscan"])
def test_deterministic_and_scale_invariant(name):
    plot = g.blobs(600, k=3, separation=6, seed=2)
    a = make_clusterer(name, random_state=1).fit_predict(plot.xy)
    b = make_clusterer(name, random_state=1).fit_predict(plot.xy * 1000 + 5)
    np.testing.assert_array_equal(a, b)


def test_explicit_parameters_and_unknown_ones():
    plot = g.blobs(400, k=3, separation=8, seed=1)
    assert make_clusterer("kmeans", k=2).fit(plot.xy).n_clusters_ == 2
    with pytest.raises(InvalidScatterplot, match="no parameter"):
        make_clusterer("kmeans", bogus=1).fit(plot.xy)
    with pytest.raises(InvalidScatterplot, match="unknown clustering method"):
        make_clusterer("nope")
    assert make_clusterer("kmeans", k="2").fit(plot.xy).n_clusters_ == 2  # a number written as text
    for bad in ("x", 1.5, 0, [2], True):
        with pytest.raises(InvalidScatterplot, match=r"k-means parameter k must be an integer from 1 to 50, got"):
            make_clusterer("kmeans", k=bad).fit(plot.xy)


def test_large_plots_are_subsampled_and_propagated():
    plot = g.blobs(12000, k=3, separation=10, seed=4)
    model = make_clusterer("spectral").fit(plot.xy)
    assert model.subsample_size_ == CLUSTERERS["spectral"].max_points
    assert model.labels_.shape == (12000,)
    assert adjusted_rand_score(plot.labels, model.labels_) > 0.9
    assert make_clusterer("kmeans").fit(plot.xy).subsample_size_ is None


@pytest.mark.parametrize("xy", [np.zeros((5, 2)), np.array([[np.nan, 1], [1, 2]]), np.zeros((0, 2))])
def test_bad_input(xy):
    with pytest.raises(InvalidScatterplot):
        make_clusterer("kmeans").fit(xy)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_tiny_and_collinear_inputs(name):
    tiny = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    line = np.c_[np.linspace(0, 1, 50), np.zeros(50)]
    for xy in (tiny, line):
        labels = make_clusterer(name).fit_predict(xy)
        assert labels.shape == (len(xy),) and labels.min() >= -1


def test_consecutive_keeps_noise():
    np.testing.assert_array_equal(consecutive(np.array([7, -1, 3, 7, 3])), [0, -1, 1, 0, 1])
