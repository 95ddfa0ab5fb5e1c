"""Agreement between point-wise cluster labelings (annotators, simulated observers, algorithms).

Every function takes labelings as an int array (m, n) or a list of m arrays of length n,
one labeling per annotator; -1 marks a point the annotator left unlabelled (noise).

Noise conventions (chosen once, used everywhere here):
- AMI / ARI (and so ``human_ambiguity``): noise is one more class. Two annotators who both
  leave the same points unlabelled agree on them, which is what CLAMS' study measures when
  unlassoed points count as noise (Jeon et al., VIS 2023).
- Krippendorff's alpha: -1 is a missing value, the usual reading of "unlabelled" in
  content-analysis reliability (Krippendorff, *Content Analysis*, ch. 12).
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

__all__ = ["ami_matrix", "ari_matrix", "human_ambiguity", "krippendorff_alpha", "kappa_alpha",
           "pair_values"]


def _as_labelings(labelings) -> np.ndarray:
    arr = np.asarray(labelings)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"labelings must have shape (m, n), got {arr.shape}")
    return arr.astype(np.int64)


def _pairwise(labelings, score) -> np.ndarray:
    arr = _as_labelings(labelings)
    m = len(arr)
    out = np.eye(m)
    for i in range(m):
        for j in range(i + 1, m):
            out[i, j] = out[j, i] = score(arr[i], arr[j])
    return out


def ami_matrix(labelings) -> np.ndarray:
    """(m, m) adjusted mutual information between every two labelings; noise (-1) is one class."""
    return _pairwise(labelings, adjusted_mutual_info_score)


def ari_matrix(labelings) -> np.ndarray:
    """(m, m) adjusted Rand index between every two labelings; noise (-1) is one class."""
    return _pairwise(labelings, adjusted_rand_score)


def human_ambiguity(labelings) -> float:
    """Mean pairwise (1 - AMI) among annotators: CLAMS' ground-truth ambiguity of a plot.

    0 when everyone agrees (or there is a single annotator); about 1 for unrelated labelings.
    """
    arr = _as_labelings(labelings)
    m = len(arr)
    if m < 2:
        return 0.0
    ami = ami_matrix(arr)
    iu = np.triu_indices(m, 1)
    return float(np.clip(np.mean(1.0 - ami[iu]), 0.0, 1.0))


def pair_values(labelings, n_pairs: int = 20000, seed: int = 0) -> np.ndarray:
    """Same-cluster values of a seeded sample of point pairs: (m, n_pairs) of 1 / 0 / -1.

    1 = both points in one cluster, 0 = in different clusters, -1 = missing (either point
    unlabelled). This makes cluster ids comparable between raters without matching them.
    Pairs are drawn uniformly with i != j (with replacement across pairs).
    """
    arr = _as_labelings(labelings)
    n = arr.shape[1]
    if n < 2:
        return np.full((len(arr), 0), -1, dtype=np.int8)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, n_pairs)
    j = (i + rng.integers(1, n, n_pairs)) % n  # uniform over j != i
    a, b = arr[:, i], arr[:, j]
    values = (a == b).astype(np.int8)
    values[(a < 0) | (b < 0)] = -1
    return values


def _alpha_binary(values: np.ndarray) -> float:
    """Nominal Krippendorff's alpha for binary values (raters x units), -1 = missing.

    alpha = 1 - (N - 1) * sum_u n0_u n1_u / (m_u - 1) / (N0 N1), over units with m_u >= 2
    values (N = N0 + N1 pairable values); this is 1 - D_o / D_e of the coincidence matrix.
    """
    present = values >= 0
    m_u = present.sum(axis=0)
    keep = m_u >= 2
    ones = (values == 1).sum(axis=0)[keep].astype(np.float64)
    m_u = m_u[keep].astype(np.float64)
    zeros = m_u - ones
    n1, n0 = ones.sum(), zeros.sum()
    observed = float(np.sum(zeros * ones / (m_u - 1)))
    if observed == 0.0:
        return 1.0  # no disagreement at all (alpha's 0/0 case when every value is the same)
    return float(1.0 - (n0 + n1 - 1.0) * observed / (n0 * n1))


def krippendorff_alpha(labelings, n_pairs: int = 20000, seed: int = 0) -> float:
    """Nominal Krippendorff's alpha of the annotators, invariant to cluster numbering.

    Units are ``n_pairs`` point pairs drawn with ``seed`` (see ``pair_values``); each rater's
    value for a pair is same-cluster / different-cluster, missing when either point is -1.
    1 = perfect agreement, 0 = chance level, negative = systematic disagreement. Cost is
    O(m * n_pairs), independent of n (20 raters x 10k points: a few milliseconds).
    """
    return _alpha_binary(pair_values(labelings, n_pairs, seed))


def kappa_alpha(algorithm_labels, human_labelings, n_pairs: int = 20000, seed: int = 0) -> float:
    """Agreement index of one clustering with a group of annotators (ClusterNet-style).

    kappa_alpha = alpha(annotators + algorithm as one more rater) - alpha(annotators alone),
    both the same-cluster-pair alpha of ``krippendorff_alpha`` on the same seeded pairs.
    Positive: the algorithm agrees with the annotators more than they agree among
    themselves; negative: less. Its magnitude shrinks roughly as 1 / (m + 1) with m
    annotators, so compare algorithms on the same annotator group only. ClusterNet's exact
    formula is not public; this is the variant stated in ../shared/docs/REFERENCES.md.
    """
    humans = _as_labelings(human_labelings)
    algo = _as_labelings(algorithm_labels)
    if algo.shape != (1, humans.shape[1]):
        raise ValueError(f"algorithm_labels must have shape ({humans.shape[1]},), got {np.shape(algorithm_labels)}")
    values = pair_values(np.vstack([humans, algo]), n_pairs, seed)
    return _alpha_binary(values) - _alpha_binary(values[:-1])
