"""Tuned reference rows: each classical method at its best grid setting on the reference, an upper bound."""
import numpy as np
import pandas as pd
import pytest

from data import InvalidParameter
from data.generate import blobs, shapes
from models import CLASSICAL, get_method, make_clusterer
from perception import compare, devbench, tuned
from perception.clusternet_eval import TUNED_CHOICE, estimator_factory, method_summary, run_evaluation, wut_scores


@pytest.fixture(scope="module")
def rings():
    return shapes("rings", 1500, noise=0.03, seed=0)


@pytest.mark.parametrize("method", CLASSICAL)
def test_every_classical_method_has_a_grid_of_its_own_parameters(method):
    grid = tuned.param_grid(method, 2000, 5)
    assert grid[0] == {} and len(grid) > 3  # the default first, then real alternatives
    assert all(set(setting) <= set(get_method(method).params) for setting in grid)
    make_clusterer(method, **grid[-1])  # every setting is one the estimator accepts


def test_tuning_finds_what_the_default_misses_and_never_scores_below_it(rings):
    default = devbench.ami_noise_excluded(make_clusterer("agglomerative-average").fit(rings.xy).labels_, rings.labels)
    est = tuned.TunedClusterer("agglomerative-average").fit(rings.xy, rings.labels)
    assert est.default_score_ == pytest.approx(default)
    assert est.best_score_ >= est.default_score_ + 0.3 and est.best_params_
    assert est.best_score_ == pytest.approx(np.nanmax([r["score"] for r in est.results_]))
    assert devbench.ami_noise_excluded(est.labels_, rings.labels) == pytest.approx(est.best_score_)
    assert len(est.labels_) == len(rings) and est.n_clusters_ == devbench.n_clusters(est.labels_)


def test_several_raters_and_the_grid_cap():
    plot = blobs(600, k=4, separation=8, seed=2)
    raters = np.vstack([plot.labels, np.where(plot.labels == 3, 2, plot.labels)])  # one rater merges two blobs
    est = tuned.TunedClusterer("kmeans", max_combos=3, random_state=1).fit(plot.xy, raters)
    assert len(est.results_) == 3 and est.results_[0]["params"] == {}
    assert est.best_score_ == pytest.approx(devbench.mean_ami(est.labels_, raters))


def test_bad_calls_say_what_is_wrong(rings):
    with pytest.raises(InvalidParameter, match="reference labels"):
        tuned.TunedClusterer("kmeans").fit(rings.xy)
    with pytest.raises(InvalidParameter, match="1500 points"):
        tuned.TunedClusterer("kmeans").fit(rings.xy, rings.labels[:10])
    with pytest.raises(InvalidParameter, match="not tuned"):
        tuned.TunedClusterer("clusternet").fit(rings.xy, rings.labels)
    with pytest.raises(InvalidParameter, match="max_combos"):
        tuned.TunedClusterer("kmeans", max_combos=0).fit(rings.xy, rings.labels)


def test_devbench_tunes_on_the_majority_it_scores_against(tmp_path):
    kw = dict(per_group=2, max_points=1500, groups=["moons"], cache_dir=tmp_path, n_observers=5)
    default = devbench.score("agglomerative-average", **kw)
    best = devbench.score(estimator_factory(tuned.tuned_name("agglomerative-average")), **kw)
    assert (best.ami_majority.values >= default.ami_majority.values - 1e-9).all()
    assert best.ami_majority.mean() > default.ami_majority.mean()


def test_evaluation_adds_marked_tuned_rows(tmp_path):
    table = run_evaluation(tmp_path, per_group=1, max_points=1500, groups=["rings"], methods=["kmeans"],
                           with_tuned=True)
    assert list(table.method) == ["kmeans", "kmeans:tuned"]
    assert "kmeans:tuned" in (tmp_path / "clusternet_eval.md").read_text()
    summary = pd.read_csv(tmp_path / "summary.csv")  # the Models page's table
    assert list(summary.method) == ["kmeans", "kmeans:tuned"]
    assert summary.devbench_ami.tolist() == pytest.approx(table.ami_majority.round(3).tolist())
    assert summary.worst_group.str.startswith("rings ").all()
    with pytest.raises(Exception, match="unknown method"):
        run_evaluation(tmp_path, per_group=1, groups=["rings"], methods=["clusternet:tuned"])


def test_wut_tuned_row_is_tuned_on_labels0(wut_dir):
    default = wut_scores(estimator_factory("kmeans"), wut_dir)
    best = wut_scores(estimator_factory("kmeans:tuned"), wut_dir)
    assert all(best[name] >= default[name] - 1e-9 for name in default)  # the grid holds the default
    assert "upper bound" in TUNED_CHOICE


def test_compare_tuned_rows_follow_the_reference(rings):
    methods = {"k-means": make_clusterer("kmeans").fit(rings.xy).labels_,
               "HDBSCAN": make_clusterer("hdbscan").fit(rings.xy).labels_}
    registry = {"k-means": "kmeans", "HDBSCAN": "hdbscan"}
    refs = rings.labels[None]
    rows = compare.tuned_rows(rings.xy, methods, registry, compare.GENERATOR, references=refs)
    assert set(rows) == {"k-means (tuned)", "HDBSCAN (tuned)"}
    result = compare.compare({**methods, **rows}, references=refs, reference=compare.GENERATOR)
    assert result.scores["HDBSCAN (tuned)"] >= result.scores["HDBSCAN"] - 1e-9
    against_hdbscan = compare.tuned_rows(rings.xy, methods, registry, "HDBSCAN")
    assert set(against_hdbscan) == {"k-means (tuned)"}  # a reference is not tuned on itself
    assert compare.tuned_rows(rings.xy, methods, registry, compare.PEOPLE) == {}
    assert isinstance(compare.export_table({**methods, **rows}), pd.DataFrame)


def test_method_summary_counts_groups_and_keeps_wut():
    table = pd.DataFrame([
        {"group": "a", "method": "m", "ami_majority": 0.9, "seconds": 1.0},
        {"group": "b", "method": "m", "ami_majority": 0.3, "seconds": 3.0},
        {"group": "wut", "method": "m", "ami_human": 0.55, "wut_choice": "none"},
        {"group": "wut", "method": "m-loo", "ami_human": 0.5, "wut_choice": "leave-one-out"}])
    summary = method_summary(table).set_index("method")
    assert summary.loc["m", "devbench_ami"] == pytest.approx(0.6)
    assert summary.loc["m", "groups_below_half"] == 1 and summary.loc["m", "worst_group"] == "b 0.30"
    assert summary.loc["m", "seconds_per_plot"] == pytest.approx(2.0)
    assert summary.loc["m", "wut_ami"] == 0.55 and summary.loc["m-loo", "wut_choice"] == "leave-one-out"
    assert pd.isna(summary.loc["m-loo", "devbench_ami"])
