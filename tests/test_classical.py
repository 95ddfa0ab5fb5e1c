"""Every registered method: scikit-learn's estimator contract, one registry, fair defaults."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from data import InvalidParameter, InvalidScatterplot, generate as g
from models import CLASSICAL, METHODS, PERCEPTUAL, ClusterNet, make_clusterer
from models.classical import consecutive

REQUIRED = {"kmeans", "kmedoids", "dbscan", "hdbscan", "optics", "gmm", "agglomerative-ward",
            "agglomerative-single", "agglomerative-average", "spectral", "meanshift", "birch"}

# Checks our estimators cannot pass by design, with the reason (scikit-learn's own estimators
# declare theirs the same way): they cluster 2-D plots, so X must have exactly two columns,
# while these checks fit on 1, 3, 5 or 10 random features.
TWO_COLUMNS = "clusters 2-D scatterplots: X must have exactly two columns (x, y)"
TWO_COLUMN_CHECKS = [
    "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object", "check_estimators_dtypes",
    "check_estimators_nan_inf", "check_estimators_pickle", "check_f_contiguous_array_estimator",
    "check_fit2d_1sample", "check_fit2d_predict1d", "check_fit_score_takes_y",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_n_features_in_after_fitting", "check_pipeline_consistency", "check_positive_only_tag_during_fit"]


def test_registry_complete():
    assert REQUIRED == set(CLASSICAL)
    assert set(PERCEPTUAL) == {"clusternet", "clusternet-average"}
    for method in METHODS.values():
        assert method.display_name
        assert set(method.params) <= set(method.estimator().get_params())


def test_every_menu_entry_is_a_registry_entry():
    from app.options import COLOR_CHOICES, METHOD_NAMES

    assert set(METHOD_NAMES) == set(METHODS)
    assert set(COLOR_CHOICES) - {"density", "reference", "agreement"} == set(METHODS)


def test_cli_choices_are_the_registry():
    from app.commands.core import _methods

    assert _methods() == list(METHODS)


def _estimators():
    return [method.make() for method in METHODS.values()]


def _expected_failed(estimator):
    failed = dict.fromkeys(TWO_COLUMN_CHECKS, TWO_COLUMNS)
    if getattr(estimator, "grouping", None) == "average":
        failed["check_clustering"] = ("the shipped weights' average-linkage grouping calls scikit-learn's "
                                      "50-point, 3-blob plot one cluster (issue 21 tracks ClusterNet's failures)")
    return failed


@parametrize_with_checks(_estimators(), expected_failed_checks=_expected_failed)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", list(METHODS))
def test_contract_on_two_columns(name, tmp_path):
    """What the checks above test on random wide data, on 2-D plots: pickling, idempotent fit,
    dtypes, order invariance up to relabelling, NaN refused, fitted attributes."""
    import pickle

    plot = g.blobs(300, k=3, separation=10, seed=3)
    est = METHODS[name].make(random_state=2)
    labels = est.fit(plot.xy).labels_.copy()
    assert est.fit(plot.xy.astype(np.float32)).labels_.shape == (300,)
    np.testing.assert_array_equal(est.fit(plot.xy).labels_, labels)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.labels_, labels)
    order = np.random.default_rng(0).permutation(300)
    assert adjusted_rand_score(labels[order], clone(est).fit_predict(plot.xy[order])) > 0.95
    assert est.n_features_in_ == 2 and est.runtime_ >= 0
    bad = plot.xy.copy()
    bad[5, 1] = np.nan
    with pytest.raises(InvalidScatterplot, match="1 point\\(s\\) have NaN or infinite coordinates"):
        clone(est).fit(bad)


def test_clone_and_set_params():
    est = make_clusterer("kmeans", k=3)
    assert clone(est).get_params()["k"] == 3
    assert est.set_params(k=5).k == 5
    assert make_clusterer("clusternet-average").grouping == "average"
    assert make_clusterer("clusternet").grouping is None


def test_grid_search_over_k():
    plot = g.blobs(400, k=4, separation=10, seed=1)

    def ami(estimator, X, y):
        return adjusted_mutual_info_score(y, estimator.fit_predict(X))
    search = GridSearchCV(make_clusterer("kmeans"), {"k": [2, 3, 4, 6]}, scoring=ami, cv=3).fit(plot.xy, plot.labels)
    assert search.best_params_ == {"k": 4}


@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize("k", [3, 30])
def test_recovers_separated_blobs(name, k):
    plot = g.blobs(60 * k + 300, k=k, separation=12, seed=5)
    model = make_clusterer(name).fit(plot.xy)
    assert adjusted_mutual_info_score(plot.labels, model.labels_) > 0.9, model.params_
    assert model.n_clusters_ >= 2
    assert set(np.unique(model.labels_[model.labels_ >= 0])) == set(range(model.n_clusters_))
    if not METHODS[name].marks_noise:
        assert model.labels_.min() >= 0  # -1 is only ever noise


@pytest.mark.parametrize("name", ["kmeans", "hdbscan", "gmm", "dbscan"])
def test_deterministic_and_scale_invariant(name):
    plot = g.blobs(600, k=3, separation=6, seed=2)
    a = make_clusterer(name, random_state=1).fit_predict(plot.xy)
    b = make_clusterer(name, random_state=1).fit_predict(plot.xy * 1000 + 5)
    np.testing.assert_array_equal(a, b)


def test_bad_hyperparameters_name_the_parameter():
    plot = g.blobs(400, k=3, separation=8, seed=1)
    assert make_clusterer("kmeans", k=2).fit(plot.xy).n_clusters_ == 2
    assert make_clusterer("kmeans", k="2").fit(plot.xy).n_clusters_ == 2  # a number written as text
    with pytest.raises(InvalidParameter, match=r"k-means has no parameter\(s\) \['bogus'\]"):
        make_clusterer("kmeans", bogus=1)
    with pytest.raises(InvalidParameter, match="unknown clustering method 'nope'"):
        make_clusterer("nope")
    for bad in ("x", 1.5, 0, [2], True):
        with pytest.raises(InvalidParameter, match=r"^k-means parameter k must be an integer from 1 to 1000 "
                                                   r"\(or None: chosen automatically\), got"):
            make_clusterer("kmeans", k=bad).fit(plot.xy)
    with pytest.raises(InvalidParameter, match="DBSCAN parameter eps must be a number"):
        make_clusterer("dbscan", eps=-1).fit(plot.xy)
    with pytest.raises(InvalidParameter, match="ClusterNet parameter grouping must be one of 'average', 'graph'"):
        ClusterNet(grouping="nope").fit(plot.xy)
    assert not issubclass(InvalidParameter, InvalidScatterplot) and issubclass(InvalidParameter, ValueError)


def test_large_plots_are_subsampled_and_propagated():
    plot = g.blobs(12000, k=3, separation=10, seed=4)
    model = make_clusterer("spectral").fit(plot.xy)
    assert model.subsample_size_ == model.max_points == 5000
    assert model.labels_.shape == (12000,)
    assert adjusted_rand_score(plot.labels, model.labels_) > 0.9
    assert make_clusterer("kmeans").fit(plot.xy).subsample_size_ is None


@pytest.mark.parametrize("xy", [np.array([[np.nan, 1], [1, 2]]), np.zeros((0, 2)), np.zeros((4, 3))])
def test_bad_input(xy):
    with pytest.raises(InvalidScatterplot):
        make_clusterer("kmeans").fit(xy)


@pytest.mark.parametrize("name", CLASSICAL)
def test_tiny_identical_and_collinear_inputs(name):
    tiny = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    line = np.c_[np.linspace(0, 1, 50), np.zeros(50)]
    for xy in (tiny, line, np.zeros((5, 2)), np.ones((1, 2))):
        labels = make_clusterer(name).fit_predict(xy)
        assert labels.shape == (len(xy),) and labels.min() >= -1
    assert make_clusterer(name).fit(np.zeros((5, 2))).n_clusters_ == 1


@pytest.mark.parametrize("name", ["agglomerative-single", "dbscan"])
def test_noise_aware_cuts(name):
    """Single linkage's cut and DBSCAN's eps hold at 5% background noise (noise left as -1)."""
    plot = g.blobs(2000, k=4, separation=10, noise=0.05, seed=3)
    model = make_clusterer(name).fit(plot.xy)
    keep = plot.labels >= 0
    assert model.n_clusters_ == 4
    assert adjusted_mutual_info_score(plot.labels[keep], model.labels_[keep]) > 0.8


@pytest.mark.parametrize("name", ["optics", "hdbscan", "dbscan"])
def test_density_methods_find_100_blobs(name):
    """Each of 100 equal blobs holds 1% of the points: the density methods' smallest cluster is below that."""
    plot = g.blobs(5000, k=100, separation=10, seed=7)
    model = make_clusterer(name).fit(plot.xy)
    assert model.n_clusters_ >= 95, model.params_
    assert adjusted_mutual_info_score(plot.labels, model.labels_) > 0.95


@pytest.mark.parametrize("name", ["agglomerative-average", "agglomerative-ward"])
def test_linkage_falls_back_to_the_best_silhouette_cut(name):
    """A scene of three primitives where no cluster count persists over the smooth merge heights of
    average linkage: one cluster before the silhouette fallback, the three primitives with it."""
    from perception import devbench

    *_, (_, plot, _) = devbench.plots(seed=0, per_group=4, max_points=3000, groups=["chameleon"])
    keep = plot.labels >= 0
    model = make_clusterer(name).fit(plot.xy)
    assert model.n_clusters_ == 3, model.params_
    assert adjusted_mutual_info_score(plot.labels[keep], model.labels_[keep]) > 0.9


def test_single_blobs_stay_whole_under_the_linkage_fallback():
    """The benchmark's single-blob plots: no persistent split, and no cut with reasonable silhouette.
    (Not every blob: a 2-cut of a Gaussian's tail can reach silhouette 0.54; docs/clusterers.md.)"""
    from perception import devbench

    for _, plot, _ in devbench.plots(seed=0, per_group=5, max_points=3000, groups=["single"]):
        assert make_clusterer("agglomerative-average").fit(plot.xy).n_clusters_ == 1, plot.name


def test_dbscan_eps_holds_on_large_plots():
    """eps is chosen on a 10k-point subsample and rescaled: 60k points still give the k blobs."""
    plot = g.blobs(60_000, k=12, separation=10, seed=6)
    model = make_clusterer("dbscan").fit(plot.xy)
    assert model.n_clusters_ == 12, model.params_
    assert adjusted_mutual_info_score(plot.labels, model.labels_) > 0.95


def test_consecutive_keeps_noise():
    np.testing.assert_array_equal(consecutive(np.array([7, -1, 3, 7, 3])), [0, -1, 1, 0, 1])


@pytest.mark.parametrize("shape", ["rings", "moons", "spirals"])
def test_average_linkage_along_the_neighbour_graph_follows_shapes(shape):
    """Average linkage over any pair gives one cluster or compact pieces of two rings, moons or
    arms; merging only along the 10-NN graph (``n_neighbors``) keeps each shape whole. The
    default stays any pair."""
    plot = g.shapes(shape, n=1500, noise=0.03, seed=1)
    free = make_clusterer("agglomerative-average").fit(plot.xy)
    graph = make_clusterer("agglomerative-average", n_neighbors=10).fit(plot.xy)
    assert free.get_params()["n_neighbors"] == 0
    assert adjusted_mutual_info_score(plot.labels, free.labels_) < 0.6
    assert graph.n_clusters_ == 2, graph.params_
    assert adjusted_mutual_info_score(plot.labels, graph.labels_) > 0.95
