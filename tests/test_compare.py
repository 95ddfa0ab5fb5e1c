"""perception.compare: the labelings, reference choice, agreement and export behind the Compare page."""
from __future__ import annotations

import numpy as np
import pytest

from data.generate import generate
from perception import compare


@pytest.fixture(scope="module")
def blobs():
    return generate("blobs", n=600, k=3, separation=10.0, seed=0)


def test_kmeans_agrees_with_the_generator_on_separated_blobs(blobs):
    runs = compare.label_all(blobs.xy, ["kmeans"])
    assert runs["kmeans"].n_clusters == 3 and runs["kmeans"].labels.shape == (600,)
    result = compare.compare({"k-means": runs["kmeans"].labels}, references=blobs.labelings, metric="AMI")
    assert result.names == ["k-means", "reference"]
    assert result.matrix.shape == (2, 2) and result.matrix[0, 1] > 0.99
    assert result.reference == "reference" and result.scores["k-means"] > 0.99
    assert result.kappa == {}  # one reference labeling: kappa_alpha needs several raters


def test_label_all_reports_progress_before_each_method(blobs):
    seen = []
    compare.label_all(blobs.xy, ["kmeans", "gmm"], progress=lambda f, text: seen.append((f, text)))
    assert [f for f, _ in seen] == [0.0, 0.5] and "k-means" in seen[0][1]


def test_reference_is_the_human_majority_when_people_annotated(blobs):
    truth = blobs.reference_labels
    humans = np.stack([truth, truth, truth])
    humans[0, :50] = -1  # one person left some points out: the majority keeps them
    humans[1, 50:60] = (truth[50:60] + 1) % 3
    name, raters = compare.reference_raters(compare.AUTO, {}, humans, blobs.labelings)
    assert name == "people (majority of 3)" and raters.shape == (3, 600)
    noise = np.where(np.arange(600) % 2 == 0, truth, -1)  # a method that marks half the points noise
    result = compare.compare({"half": noise, "right": truth}, humans=humans, references=blobs.labelings)
    assert result.reference == "people (majority of 3)"
    assert np.array_equal(result.labelings["people (majority of 3)"], truth)
    assert result.scores["right"] == pytest.approx(1.0) and result.scores["half"] < result.scores["right"]
    assert set(result.kappa) == {"half", "right"} and result.kappa["right"] > result.kappa["half"]


def test_reference_choices(blobs):
    methods = {"a": blobs.reference_labels, "b": np.zeros(600, np.int64)}
    assert compare.reference_raters(compare.AUTO, methods, None, blobs.labelings)[0] == "reference"
    assert compare.reference_raters(compare.PEOPLE, methods, None, blobs.labelings) == ("", None)
    name, raters = compare.reference_raters("a", methods, None, blobs.labelings)
    assert name == "a" and np.array_equal(raters[0], methods["a"])
    result = compare.compare(methods, references=blobs.labelings, reference="a")
    assert set(result.scores) == {"b"}  # the reference is not scored against itself
    with pytest.raises(ValueError, match="reference must be"):
        compare.reference_raters("nobody", methods)


def test_export_table_has_the_points_and_every_labeling(blobs):
    result = compare.compare({"k means": blobs.reference_labels}, references=blobs.labelings)
    table = compare.export_table(result.labelings, blobs)
    assert list(table.columns) == ["x", "y", "k_means", "reference"] and len(table) == 600
    assert np.array_equal(table["k_means"].to_numpy(), blobs.reference_labels)


def test_agreement_matrix_is_symmetric():
    a = np.repeat([0, 1], 50)
    m = compare.agreement_matrix({"a": a, "b": a[::-1], "c": np.arange(100) % 3}, "ARI")
    assert m.shape == (3, 3) and np.allclose(m, m.T) and np.isclose(m[0, 1], 1.0)


def test_perception_compare_imports_no_app_panel_or_param():
    import subprocess
    import sys

    code = ("import sys, perception.compare; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('app', 'panel', 'param')]; print(bad); assert not bad")
    subprocess.run([sys.executable, "-c", code], check=True)
