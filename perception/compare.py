"""Compare several clusterings of one plot: label it with each method, pick a reference, score agreement.

The dashboard's Compare page, the CLI and Python users call these same functions:

    from perception import compare
    runs = compare.label_all(plot.xy, ["kmeans", "hdbscan"])
    result = compare.compare({compare.display_name(m): r.labels for m, r in runs.items()},
                             references=plot.labelings, metric="AMI")
    result.names, result.matrix, result.reference, result.scores

Tuned rows (``tuned_rows``) add each classical method at its best hyperparameters on this very
plot, chosen against the reference (``perception.tuned``): upper bounds named
``"<method> (tuned)"``, not methods.

References, in the order ``reference="auto"`` tries them: the majority of stored human
annotations (``humans``, m x n), then the plot's own reference labelings (a generator's labels,
``references``). A method's display name picks that method's labels instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from data import Scatterplot
from data.writers import labels_table

from . import agreement

AUTO, PEOPLE, GENERATOR = "auto", "people", "generator"


@dataclass
class Labeling:
    """Labels from one method, with what a reader shows next to them."""

    method: str
    labels: np.ndarray
    runtime: float
    n_clusters: int
    values: np.ndarray | None = None  # per-point agreement (ClusterNet)
    note: str = ""


def display_name(method: str) -> str:
    from models import get_method

    return get_method(method).display_name


def label(xy: np.ndarray, method: str, params: dict | None = None, seed: int = 0) -> Labeling:
    """Labels of ``xy`` by a ClusterNet variant or a registered classical clusterer."""
    from models import ClusterNet, get_method

    perceptual = get_method(method).perceptual
    # Without shipped weights ClusterNet would fail deep inside; say why instead.
    if perceptual and not ClusterNet.available():
        raise RuntimeError("ClusterNet is unavailable: no trained ClusterNet weights were found")
    model = get_method(method).make(random_state=seed, **(params or {})).fit(xy)
    labels = np.asarray(model.labels_, dtype=np.int64)
    if perceptual:
        return Labeling(method, labels, model.runtime_, model.n_clusters_,
                        values=np.asarray(model.agreement_, dtype=np.float64))
    note = f"clustered a {model.subsample_size_:,}-point sample" if model.subsample_size_ else ""
    return Labeling(method, labels, model.runtime_, model.n_clusters_, note=note)


def label_all(xy: np.ndarray, methods, seed: int = 0,
              progress: Callable[[float, str], None] | None = None) -> dict[str, Labeling]:
    """``label`` for each method in turn; ``progress(fraction done, what runs next)`` between them."""
    out = {}
    for i, method in enumerate(methods):
        if progress is not None:
            progress(i / len(methods), f"Running {display_name(method)}")
        out[method] = label(xy, method, seed=seed)
    return out


def people_name(humans: np.ndarray) -> str:
    return f"people (majority of {len(humans)})"


def labelings(methods: dict[str, np.ndarray], humans: np.ndarray | None = None,
              references: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """All labelings to compare, by name: the methods', the human majority, then the references."""
    out = dict(methods)
    if humans is not None and len(humans):
        out[people_name(humans)] = agreement.consensus(humans)[0]
    if references is not None:
        for i, lab in enumerate(references):
            out["reference" if len(references) == 1 else f"reference {i + 1}"] = lab
    return out


def reference_raters(choice: str, methods: dict[str, np.ndarray], humans: np.ndarray | None = None,
                     references: np.ndarray | None = None) -> tuple[str, np.ndarray | None]:
    """``(name, raters (m, n))`` of the reference the methods are scored against, or ``("", None)``.

    ``choice``: AUTO (people when any annotated the plot, else the generator's labels), PEOPLE,
    GENERATOR or a method's name (as a key of ``methods``).
    """
    has_people = humans is not None and len(humans) > 0
    if choice == AUTO:
        choice = PEOPLE if has_people else GENERATOR
    if choice == PEOPLE:
        return (people_name(humans), np.atleast_2d(humans)) if has_people else ("", None)
    if choice == GENERATOR:
        return ("reference", np.atleast_2d(references)) if references is not None else ("", None)
    if choice in methods:
        return choice, np.atleast_2d(methods[choice])
    raise ValueError(f"reference must be {AUTO!r}, {PEOPLE!r}, {GENERATOR!r} or one of {list(methods)}, "
                     f"not {choice!r}")


TUNED_LABEL = " (tuned)"


def tuned_rows(xy: np.ndarray, methods: dict[str, np.ndarray], registry: dict[str, str], reference: str = AUTO,
               humans: np.ndarray | None = None, references: np.ndarray | None = None, seed: int = 0,
               progress: Callable[[float, str], None] | None = None) -> dict[str, np.ndarray]:
    """``"<name> (tuned)" -> labels`` for every classical method among ``methods`` (display name ->
    labels; ``registry``: display name -> registry name), each at the grid setting that best
    matches the reference chosen as ``compare`` would (``reference_raters``); {} without a
    reference. The reference's own method is not tuned against itself."""
    from models import CLASSICAL

    from .tuned import TunedClusterer

    name, raters = reference_raters(reference, methods, humans, references)
    if raters is None:
        return {}
    todo = [m for m in methods if registry.get(m) in CLASSICAL and m != name]
    out = {}
    for i, display in enumerate(todo):
        if progress is not None:
            progress(i / len(todo), f"Tuning {display} on {name}")
        out[display + TUNED_LABEL] = TunedClusterer(registry[display], random_state=seed).fit(xy, raters).labels_
    return out


def agreement_matrix(labelings: dict[str, np.ndarray], metric: str = "AMI") -> np.ndarray:
    """Pairwise AMI or ARI between named labelings, in their order."""
    stacked = np.vstack([np.asarray(v, dtype=np.int64) for v in labelings.values()])
    fn = agreement.ami_matrix if metric == "AMI" else agreement.ari_matrix
    return np.asarray(fn(stacked), dtype=np.float64)


@dataclass
class Comparison:
    """Everything the Compare page shows about a set of labelings."""

    labelings: dict[str, np.ndarray]
    metric: str
    matrix: np.ndarray | None  # agreement between all labelings; None with fewer than two
    reference: str = ""  # name of the reference the scores are against ('' when there is none)
    scores: dict[str, float] = field(default_factory=dict)  # method -> metric against the reference
    kappa: dict[str, float] = field(default_factory=dict)  # method -> kappa_alpha (reference of 2+ raters)

    @property
    def names(self) -> list[str]:
        return list(self.labelings)


def compare(methods: dict[str, np.ndarray], humans: np.ndarray | None = None, references: np.ndarray | None = None,
            metric: str = "AMI", reference: str = AUTO) -> Comparison:
    """Agreement of the methods' labelings (name -> labels) with each other and with a reference.

    ``scores``: each method's ``metric`` against the reference's consensus; ``kappa``:
    kappa_alpha, which needs a reference of several raters (people or several reference labelings).
    """
    named = labelings(methods, humans, references)
    matrix = agreement_matrix(named, metric) if len(named) >= 2 else None
    name, raters = reference_raters(reference, methods, humans, references)
    scores, kappa = {}, {}
    if raters is not None:
        target = agreement.consensus(raters)[0]
        others = {m: lab for m, lab in methods.items() if m != name}
        scores = {m: float(agreement_matrix({"m": lab, "r": target}, metric)[0, 1]) for m, lab in others.items()}
        if len(raters) > 1:
            kappa = {m: float(agreement.kappa_alpha(lab, raters)) for m, lab in others.items()}
    return Comparison(named, metric, matrix, name, scores, kappa)


def export_table(labelings: dict[str, np.ndarray], plot: Scatterplot | None = None) -> pd.DataFrame:
    """Points and every labeling, one column each (spaces in names become underscores)."""
    return labels_table({name.replace(" ", "_"): lab for name, lab in labelings.items()}, plot)
