"""Agreement metrics on hand-computed cases."""
import numpy as np
import pytest

from perception.agreement import ami_matrix, ari_matrix, human_ambiguity, kappa_alpha, krippendorff_alpha


def test_identical_and_permuted_labelings_agree_fully():
    a = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    permuted = np.array([2, 2, 2, 0, 0, 0, 1, 1, 1])
    for matrix in (ami_matrix([a, a, permuted]), ari_matrix([a, a, permuted])):
        np.testing.assert_allclose(matrix, np.ones((3, 3)))
    assert human_ambiguity([a, permuted]) == pytest.approx(0.0)
    assert krippendorff_alpha([a, permuted]) == pytest.approx(1.0)


def test_unrelated_labelings_disagree():
    a = np.repeat([0, 1], 50)
    b = np.tile([0, 1], 50)  # each cluster of a split evenly by b
    assert ari_matrix([a, b])[0, 1] == pytest.approx(-0.0101, abs=1e-3)  # (1200 - 1212.63) / (2450 - 1212.63)
    assert human_ambiguity([a, b]) == pytest.approx(1.0, abs=0.02)
    assert krippendorff_alpha([a, b], n_pairs=50000) < 0.05


def test_ambiguity_with_noise_ignored_does_not_count_outliers_as_another_reading():
    rng = np.random.default_rng(0)
    one_blob = np.zeros((20, 1000), dtype=np.int64)  # everyone sees one cluster ...
    for row in one_blob:
        row[rng.choice(1000, 30, replace=False)] = -1  # ... and leaves out a different 3%
    assert human_ambiguity(one_blob) > 0.9  # as a class, the noise is all the labelings say
    assert human_ambiguity(one_blob, noise="ignored") == pytest.approx(0.058, abs=0.01)  # 1 - Jaccard
    split = np.repeat([0, 1], 500)
    whole = np.zeros(1000, dtype=np.int64)
    assert human_ambiguity([split, whole], noise="ignored") == pytest.approx(1.0)  # one vs two clusters
    half = np.where(np.arange(1000) < 500, 0, -1)  # one cluster, the other half left out
    assert human_ambiguity([whole, half], noise="ignored") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="noise must be"):
        human_ambiguity([split, whole], noise="drop")


def test_noise_is_one_class_for_ami_and_missing_for_alpha():
    a = np.array([0, 0, 0, 1, 1, 1, -1, -1])
    b = np.array([5, 5, 5, 7, 7, 7, -1, -1])
    assert ami_matrix([a, b])[0, 1] == pytest.approx(1.0)
    c = np.array([0, 0, 0, 1, 1, 1, 1, 1])  # puts the noise points into cluster 1
    assert ami_matrix([a, c])[0, 1] < 1.0
    # alpha ignores pairs with a missing value, so c agrees with a on every pairable unit
    assert krippendorff_alpha([a, c]) == pytest.approx(1.0)


def test_alpha_hand_computed():
    a = [0, 0, 1, 1]
    b = [0, 0, 0, 1]
    # the 6 point pairs: a = (1,0,0,0,0,1), b = (1,1,0,1,0,0); 3 of 6 disagree.
    # Sampling P pairs uniformly: N0 = 7P/6, N1 = 5P/6, N = 2P, sum n0 n1 / (m-1) = P/2,
    # so alpha -> 1 - 2P * (P/2) / (35 P^2 / 36) = 1 - 36/35 for large P.
    alpha = krippendorff_alpha([a, b], n_pairs=200000)
    assert alpha == pytest.approx(1 - 36 / 35, abs=0.01)


def test_kappa_alpha_prefers_an_algorithm_matching_the_annotators():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 2000)
    humans = np.array([np.where(rng.random(2000) < 0.15, rng.integers(-1, 4, 2000), truth) for _ in range(8)])
    good = kappa_alpha(truth, humans)
    bad = kappa_alpha(rng.integers(0, 4, 2000), humans)
    assert good > 0 > bad


def test_alpha_fast_for_twenty_annotators_on_10k_points():
    import time

    labelings = np.random.default_rng(1).integers(-1, 5, (20, 10_000))
    start = time.perf_counter()
    krippendorff_alpha(labelings)
    assert time.perf_counter() - start < 0.5


def test_consensus_policy_for_noise_unmatched_clusters_and_absent_points():
    from perception.agreement import ABSENT, consensus

    labs = np.array([[0, 0, 1, 1, -1, 2],
                     [1, 1, 0, 0, -1, 0],  # the same partition under other ids
                     [0, 0, 1, 3, -1, ABSENT]])  # splits a cluster off, did not see the last point
    majority, agreement = consensus(labs)
    assert majority[4] == -1 and agreement[4] == 1  # noise is a vote like any cluster
    assert len(set(majority[[0, 1]])) == 1 and len(set(majority[[2, 3]])) == 1 and majority[0] != majority[2]
    np.testing.assert_allclose(agreement[:4], [1, 1, 1, 2 / 3])  # the split-off point voted for a new id
    assert agreement[5] == 0.5  # two voters: absent observers do not vote
    none_saw = consensus(np.full((2, 3), ABSENT))
    np.testing.assert_array_equal(none_saw[0], -1)
    np.testing.assert_array_equal(consensus(np.array([[0, ABSENT, 1]]))[0], [0, -1, 1])
