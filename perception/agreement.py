"""Agreement between point-wise cluster labelings (annotators, simulated observers, algorithms).

Every function takes labelings as an int array (m, n) or a list of m arrays of length n,
one labeling per annotator; -1 marks a point the annotator left unlabelled (noise).

Noise conventions (chosen once, used everywhere here):
- AMI / ARI (and so ``human_ambiguity``): noise is one more class. Two annotators who both
  leave the same points unlabelled agree on them, which is what CLAMS' study measures when
  unlassoed points count as noise (Jeon et al., VIS 2023). ``human_ambiguity(noise="ignored")``
  is the alternative reading, reported beside it by the CLAMS evaluation.
- Krippendorff's alpha: -1 is a missing value, the usual reading of "unlabelled" in
  content-analysis reliability (Krippendorff, *Content Analysis*, ch. 12).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

__all__ = ["ABSENT", "ami_matrix", "ari_matrix", "consensus", "human_ambiguity", "krippendorff_alpha",
           "kappa_alpha", "pair_values"]

ABSENT = -2  # the annotator did not see the point (models.annotated.ABSENT): no vote at all


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


def _agreement_labelled(a: np.ndarray, b: np.ndarray) -> float:
    """AMI on the points both labelled, times the share of the points either labelled that both did."""
    both, either = (a >= 0) & (b >= 0), (a >= 0) | (b >= 0)
    if not either.any():
        return 1.0  # neither labelled anything: nothing to disagree on
    if both.sum() < 2:
        return 0.0
    return float(adjusted_mutual_info_score(a[both], b[both])) * both.sum() / either.sum()


def human_ambiguity(labelings, noise: str = "class") -> float:
    """Mean pairwise (1 - AMI) among annotators: CLAMS' ground-truth ambiguity of a plot.

    0 when everyone agrees (or there is a single annotator); about 1 for unrelated labelings.
    ``noise="class"`` counts -1 as one more class (the module's convention). ``noise="ignored"``
    scores a pair by the AMI on the points both labelled, times the Jaccard share of the points
    labelled by both: on one blob that everyone reads as one cluster, leaving different outliers
    unlabelled costs about their share, where as a class it costs most of the AMI (the two
    labelings' only information is which few points are noise).
    """
    if noise not in ("class", "ignored"):
        raise ValueError(f"noise must be 'class' or 'ignored', got {noise!r}")
    arr = _as_labelings(labelings)
    m = len(arr)
    if m < 2:
        return 0.0
    ami = ami_matrix(arr) if noise == "class" else _pairwise(arr, _agreement_labelled)
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


def _ari(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index of two codings 0..k-1 (sklearn's formula, without its overhead)."""
    kb = int(b.max()) + 1
    cont = np.bincount(a * kb + b, minlength=(int(a.max()) + 1) * kb)
    pairs = lambda c: float((c * (c - 1)).sum()) / 2  # noqa: E731
    sum_ab, sum_a = pairs(cont), pairs(np.bincount(a))
    sum_b, total = pairs(np.bincount(b)), len(a) * (len(a) - 1) / 2
    expected = sum_a * sum_b / total
    top = (sum_a + sum_b) / 2 - expected
    return 1.0 if top == 0 else (sum_ab - expected) / top


def consensus(labelings) -> tuple[np.ndarray, np.ndarray]:
    """The one consensus of several labelings: majority label and agreement per point.

    ``labelings`` (m, n): cluster ids >= 0, -1 = the annotator saw the point and left it
    unlabelled (noise), ``ABSENT`` (-2) = the annotator did not see it.

    1. Reference: the labeling with the highest mean ARI to the others (every code, noise and
       absence included, is a class for this choice only).
    2. Each labeling's cluster ids are matched to the reference's by Hungarian matching of
       their contingency table over the points both put in a cluster. A cluster that matches
       nothing it overlaps keeps an id of its own, distinct from every other (an observer who
       splits a cluster votes for a new cluster with the split-off part, not for noise).
    3. Votes per point: every annotator who saw the point votes for its aligned id or for
       noise (-1 is a vote like any cluster); absent annotators do not vote. The majority is
       the most voted value, ties going to the smallest value (noise before any cluster).
    4. Agreement: the majority's share of the votes (1 where nobody saw the point, which then
       is noise).

    Returns ``(majority (n,) int64, -1 = noise; agreement (n,) float in [0, 1])``. Used by
    training targets, every evaluation's reference and the Compare page's people row.
    """
    lab = np.atleast_2d(np.asarray(labelings, dtype=np.int64))
    m, n = lab.shape
    if m == 1:
        return np.where(lab[0] == ABSENT, -1, lab[0]), np.ones(n)
    codes = np.stack([np.unique(row, return_inverse=True)[1].ravel() for row in lab])
    ari = np.ones((m, m))
    for a in range(m):
        for b in range(a + 1, m):
            ari[a, b] = ari[b, a] = _ari(codes[a], codes[b])
    ref = lab[int(np.argmax(ari.mean(axis=1)))]
    ref_ids = np.unique(ref[ref >= 0])
    aligned = np.full_like(lab, -1)
    fresh = int(ref_ids.max() + 1) if len(ref_ids) else 0
    for o in range(m):
        ids = np.unique(lab[o][lab[o] >= 0])
        mapping = {}
        if len(ids) and len(ref_ids):
            cont = np.zeros((len(ids), len(ref_ids)))
            both = (lab[o] >= 0) & (ref >= 0)
            np.add.at(cont, (np.searchsorted(ids, lab[o][both]), np.searchsorted(ref_ids, ref[both])), 1)
            rows, cols = linear_sum_assignment(-cont)
            mapping = {ids[r]: ref_ids[c] for r, c in zip(rows, cols) if cont[r, c] > 0}
        for cid in ids:
            if cid not in mapping:
                mapping[cid] = fresh
                fresh += 1
            aligned[o][lab[o] == cid] = mapping[cid]
    aligned[lab == ABSENT] = ABSENT
    values = np.unique(aligned[aligned >= -1])
    if len(values) == 0:
        return np.full(n, -1, np.int64), np.ones(n)
    counts = np.stack([(aligned == v).sum(axis=0) for v in values])
    voters = (aligned >= -1).sum(axis=0)
    majority = np.where(voters > 0, values[counts.argmax(axis=0)], -1)
    return majority.astype(np.int64), np.where(voters > 0, counts.max(axis=0) / np.maximum(voters, 1), 1.0)
