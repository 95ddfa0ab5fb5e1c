"""CLAMS, its separability regressor and the perception commands."""
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from data import InvalidScatterplot
from data import generate as gen
from perception import separability, separability_train
from perception.clams import CLAMS, binary_entropy, gabriel_pairs


def test_one_gaussian_is_unambiguous():
    est = CLAMS().fit(gen.two_gaussians(2000, distance=0, seed=0))
    assert est.n_components_ == 1 and est.ambiguity_ == 0.0 and len(est.pairs_) == 0


def test_far_apart_gaussians_are_two_clear_clusters():
    est = CLAMS().fit(gen.two_gaussians(2000, distance=12, seed=0))
    assert est.n_components_ == 2
    assert est.pair_probabilities_[0] < 0.15
    assert est.ambiguity_ < 0.5
    assert est.means_.shape == (2, 2) and est.covariances_.shape == (2, 2, 2)
    assert est.weights_.sum() == pytest.approx(1.0)


def test_p_one_cluster_decreases_with_distance():
    model = separability.default_model()
    p = [model.predict(separability.component_pair_features(gen.two_gaussians(1500, distance=d, seed=1).xy))[0]
         for d in (0.5, 2, 3.5, 5, 8)]
    assert p[0] > 0.7 and p[-1] < 0.15
    assert spearmanr([0.5, 2, 3.5, 5, 8], p).statistic <= -0.9
    assert all(b <= a + 0.05 for a, b in zip(p, p[1:])), p


def test_scatterplot_and_array_give_the_same_score():
    plot = gen.blobs(1500, k=3, seed=2)
    assert CLAMS(random_state=1).score(plot) == CLAMS(random_state=1).fit(plot.xy).ambiguity_
    assert 0.0 <= CLAMS().score(plot) <= 1.0


def test_degenerate_inputs():
    for xy in (np.ones((1, 2)), np.ones((50, 2)), np.ones((2, 2))):  # identical points: one cluster
        est = CLAMS().fit(xy)
        assert est.n_components_ == 1 and est.ambiguity_ == 0.0
    # ten collinear points: more clusters read than a third of the points allows components
    for xy in (np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]), np.c_[np.arange(200.0), 3 * np.arange(200.0)],
               np.c_[np.linspace(0, 1, 10), np.zeros(10)]):
        est = CLAMS().fit(xy)
        assert 0.0 <= est.ambiguity_ <= 1.0 and est.n_components_ >= 1


def test_nan_input_raises_the_common_error():
    xy = gen.blobs(300, k=2, seed=0).xy.copy()
    xy[5, 0] = np.nan
    with pytest.raises(InvalidScatterplot, match="NaN"):
        CLAMS().fit(xy)


@pytest.mark.parametrize("k, n", [(1, 1000), (5, 1500), (30, 4000), (60, 7000)])
def test_components_follow_separated_blobs(k, n):
    est = CLAMS().fit(gen.blobs(n, k=k, separation=10, seed=k))
    assert abs(est.n_components_ - k) <= max(0, round(0.2 * k)), (est.perceived_k_, est.n_components_)


def test_rings_are_unambiguous_despite_several_components():
    est = CLAMS().fit(gen.shapes("rings", 1500, noise=0.03, seed=0))
    assert est.n_components_ > 2 and est.ambiguity_ < 0.3


def test_helpers():
    np.testing.assert_allclose(binary_entropy([0.0, 0.5, 1.0]), [0.0, 1.0, 0.0], atol=1e-9)
    g = gabriel_pairs(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
    assert g[0, 1] and g[1, 2] and not g[0, 2]


def test_model_is_plain_json_and_round_trips(tmp_path):
    model = separability.default_model()
    assert separability.DEFAULT_MODEL_PATH.suffix == ".json"
    path = separability.save(model, tmp_path / "m.json")
    again = separability.load(path)
    x = np.random.default_rng(0).normal(size=(5, len(separability.FEATURES)))
    np.testing.assert_allclose(model.predict(x), again.predict(x))
    assert "validation" in model.info


def test_train_from_a_judgments_table(tmp_path):
    rng = np.random.default_rng(0)
    rows = [dict(n=300, distance=d, sigma_x1=1, sigma_y1=1, sigma_x2=1, sigma_y2=0.5, rotation1=0, rotation2=30,
                 size_ratio=1, probSingle=float(np.clip(1 - d / 5, 0, 1))) for d in rng.uniform(0, 8, 20)]
    path = tmp_path / "judgments.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    model = separability_train.train_separability(judgments=path, seed=0)
    assert model.info["n_train"] + model.info["n_validation"] == 20
    with pytest.raises(InvalidScatterplot):
        separability_train.train_separability(judgments=pd.DataFrame({"distance": [1.0]}))


def test_cli_ambiguity(tmp_path, capsys):
    from app.cli import main

    path = tmp_path / "p.csv"
    pd.DataFrame(gen.two_gaussians(800, distance=6, seed=0).xy, columns=["x", "y"]).to_csv(path, index=False)
    assert main(["ambiguity", str(path)]) == 0
    assert 0.0 <= float(capsys.readouterr().out) <= 1.0
    assert main(["ambiguity", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_components"] == len(out["components"]) and "pairs" in out
    assert main(["ambiguity", str(tmp_path / "missing.csv")]) == 2


def test_evaluation_writes_results(tmp_path):
    from perception.clams_eval import BASELINES, run_evaluation

    table = run_evaluation(tmp_path, n_plots=3, seed=5, n_observers=5, n_runs=2)
    assert len(table) == 3 and {"human", "clams", *BASELINES} <= set(table.columns)
    assert table["human"].between(0, 1).all() and table["clams"].between(0, 1).all()
    assert (tmp_path / "results.csv").is_file() and "Spearman" in (tmp_path / "summary.md").read_text()
