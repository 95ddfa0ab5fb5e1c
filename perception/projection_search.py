"""Find 2-D projections of a table that people will read consistently (low cluster ambiguity).

Following the CLAMS paper's application (AmbReducer), each reducer is tried at a budget of
hyperparameter settings and every projection is scored by:
- ``ambiguity``: CLAMS cluster ambiguity of the 2-D result (lower = people agree more);
- ``trustworthiness`` / ``continuity``: how well the projection keeps the data's neighbourhoods
  (scikit-learn's trustworthiness, and the same with the two spaces swapped);
- ``label_ami`` (when class labels are given): AMI between the clusters perceived in the
  projection (ClusterNet when shipped, else HDBSCAN) and the classes.
Settings are the reducer's defaults plus a scrambled Sobol sequence over its space: for the small
budgets an analyst waits for, that covers the space more evenly than random or grid search.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.stats import qmc
from sklearn.manifold import trustworthiness
from sklearn.metrics import adjusted_mutual_info_score

from models.embedding import Reducer, get_reducer

SCORE_SAMPLE = 1500


@dataclass
class SearchResult:
    ranking: pd.DataFrame  # one row per trial, best first
    embeddings: dict[int, np.ndarray]  # trial id -> (n, 2)


class Cancelled(Exception):
    """The search was stopped by its caller."""


def settings(method: str, budget: int, seed: int = 0) -> list[dict]:
    """The defaults first, then budget - 1 Sobol points over the method's space."""
    spec = get_reducer(method)
    if not spec.space:
        return [{}]
    out = [spec.defaults]
    if budget > 1:
        # Draw a power-of-two block (Sobol's balanced unit) and use its first budget - 1 points.
        m = int(np.ceil(np.log2(budget - 1))) if budget > 2 else 0
        points = qmc.Sobol(len(spec.space), scramble=True, seed=seed).random_base2(m)[: budget - 1]
        out += [{d.name: d.value(u) for d, u in zip(spec.space, row)} for row in points]
    return out


def neighbourhood_scores(X, emb, seed: int = 0, n_neighbors: int = 10) -> tuple[float, float]:
    """Trustworthiness and continuity on a seeded subsample (both are quadratic in n)."""
    idx = np.arange(len(X))
    if len(X) > SCORE_SAMPLE:
        idx = np.sort(np.random.default_rng(seed).choice(len(X), SCORE_SAMPLE, replace=False))
    k = min(n_neighbors, len(idx) // 2 - 1)
    return (float(trustworthiness(X[idx], emb[idx], n_neighbors=k)),
            float(trustworthiness(emb[idx], X[idx], n_neighbors=k)))


def perceived_clusters(emb, seed: int = 0) -> np.ndarray:
    from models import ClusterNet

    if ClusterNet.available():
        return ClusterNet.pretrained().fit_predict(emb)
    from models import make_clusterer

    return make_clusterer("hdbscan", random_state=seed).fit_predict(emb)


def score_trial(X, scaled, labels, method: str, params: dict, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Project with one setting and score the result: (row of scores, embedding)."""
    from perception.clams import CLAMS

    start = time.perf_counter()
    emb = Reducer(method, params, random_state=seed).fit_transform(X)
    elapsed = time.perf_counter() - start
    trust, cont = neighbourhood_scores(scaled, emb, seed)
    row = {"method": method, "params": _describe(params),
           "ambiguity": float(CLAMS(random_state=seed).fit(emb).ambiguity_),
           "trustworthiness": trust, "continuity": cont, "seconds": elapsed, **params}
    if labels is not None:
        row["label_ami"] = float(adjusted_mutual_info_score(labels, perceived_clusters(emb, seed)))
    return row, emb


def search_projections(X, labels=None, methods=("pca", "tsne", "umap"), budget: int = 8, seed: int = 0,
                       progress: Callable[[int, int, dict], None] | None = None,
                       cancel: threading.Event | None = None, client=None) -> SearchResult:
    """Try ``budget`` settings of each method; rank by ambiguity (then trustworthiness).

    With a ``dask.distributed`` client the trials run as parallel tasks on its workers.
    """
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, dtype=np.float64)
    scaled = StandardScaler().fit_transform(X)
    trials = [(m, s) for m in methods for s in settings(m, budget, seed)]
    if client is not None:
        from distributed import as_completed

        data_refs = client.scatter([X, scaled, labels], broadcast=True)
        futures = [client.submit(score_trial, *data_refs, m, s, seed, pure=False) for m, s in trials]
        index = {f.key: i for i, f in enumerate(futures)}
        results = [None] * len(trials)
        for done, future in enumerate(as_completed(futures), 1):
            if cancel is not None and cancel.is_set():
                client.cancel(futures)
                raise Cancelled("projection search cancelled")
            results[index[future.key]] = future.result()
            if progress is not None:
                progress(done, len(trials), results[index[future.key]][0])
    else:
        results = []
        for i, (method, params) in enumerate(trials):
            if cancel is not None and cancel.is_set():
                raise Cancelled("projection search cancelled")
            results.append(score_trial(X, scaled, labels, method, params, seed))
            if progress is not None:
                progress(i + 1, len(trials), results[-1][0])
    rows = [{"trial": i, **row} for i, (row, _) in enumerate(results)]
    embeddings = {i: emb for i, (_, emb) in enumerate(results)}
    ranking = pd.DataFrame(rows).sort_values(["ambiguity", "trustworthiness"], ascending=[True, False],
                                             kind="stable").reset_index(drop=True)
    ranking.insert(0, "rank", np.arange(1, len(ranking) + 1))
    return SearchResult(ranking, embeddings)


def _describe(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
