"""Study logic over the annotation store: routing by ambiguity, CLAMS priors, annotator statistics.

data.store persists studies and knows nothing of perception; what a study needs from this
layer is injected (``AnnotationStore(url, router=..., prior=...)``) or computed here from what
the store returns. :func:`open_store` is the store the app and the CLI use.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.store import AnnotationRecord, AnnotationStore, flagged_annotators

from .agreement import kappa_alpha
from .routing import RoutingCache

__all__ = ["AnnotatorStats", "annotator_stats", "clams_prior", "open_store"]


def clams_prior(xy: np.ndarray) -> float | None:
    """CLAMS' predicted ambiguity, routing's guess before anyone has annotated; None if unavailable."""
    try:
        from .clams import CLAMS

        return float(CLAMS().score(xy))
    except (ImportError, FileNotFoundError):  # the shipped separability model may still be in training
        return None


def open_store(url: str | None = None) -> AnnotationStore:
    """The store at ``url`` (default: data.store.default_url) wired for every study policy: the
    "ambiguity" policy routes through a RoutingCache (kept for the store's life: AMIs are costly)
    and its plots get CLAMS priors at creation."""
    return AnnotationStore(url, router=RoutingCache(), prior=clams_prior)


@dataclass(frozen=True)
class AnnotatorStats:
    annotator_id: int
    name: str
    annotations: int
    median_seconds: float | None
    loo_kappa_alpha: float | None  # mean over their plots of kappa_alpha(them, the others)
    attention_score: float | None  # lowest AMI with the truth over their attention checks
    flagged: bool


def annotator_stats(store: AnnotationStore, study, exclude_flagged: bool = False) -> list[AnnotatorStats]:
    """Per annotator: annotations, median seconds per plot, leave-one-out kappa_alpha (their
    agreement with the others on the plots they share, others filtered by ``exclude_flagged``)
    and attention-check score."""
    scores = store.attention_scores(study)
    flagged = flagged_annotators(scores)
    records = store.annotations(study, kind="plot")
    by_plot: dict[int, list[AnnotationRecord]] = {}
    for r in records:
        if not (exclude_flagged and r.annotator_id in flagged):
            by_plot.setdefault(r.plot_id, []).append(r)
    out = []
    for who in store.annotators(study):
        if exclude_flagged and who.id in flagged:
            continue
        mine = [r for r in records if r.annotator_id == who.id]
        kappas = []
        for r in mine:
            others = [o.labels for o in by_plot.get(r.plot_id, []) if o.annotator_id != who.id]
            if len(others) >= 2:  # alpha among the others needs two of them
                kappas.append(kappa_alpha(r.labels, np.stack(others)))
        seconds = [r.seconds for r in mine if r.seconds is not None]
        out.append(AnnotatorStats(who.id, who.name, len(mine), float(np.median(seconds)) if seconds else None,
                                  float(np.mean(kappas)) if kappas else None,
                                  min(scores[who.id]) if who.id in scores else None, who.id in flagged))
    return out
