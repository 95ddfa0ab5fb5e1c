"""Which plot an annotator labels next: assignment policies and whole-study simulation.

Two policies (a study's ``policy`` setting, used by ``AnnotationStore.next_plot``):

- ``balanced``: the plot with the fewest annotations, so every plot gets about as many.
- ``ambiguity``: among plots that have not met the stopping rule, the one whose annotators
  disagree most (human ambiguity, mean pairwise 1 - AMI); before a plot has two annotations,
  its CLAMS score stands in (people tend to disagree where CLAMS says so). A plot stops
  receiving annotators once the bootstrap 90% interval of its human ambiguity (annotators
  resampled with replacement) is narrower than the study's ``target_width``.

Unambiguous plots settle after a few annotations, so the annotators go to the ambiguous ones;
:func:`simulate_study` measures the saving with simulated observers.
"""
from __future__ import annotations

import threading

from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score

__all__ = ["MIN_ANNOTATIONS", "PlotState", "RoutingCache", "ambiguity_interval", "simulate_study", "StudyResult"]

# Fewer than this and a bootstrap interval says little: three people agreeing by chance on an
# ambiguous plot would give a zero-width interval.
MIN_ANNOTATIONS = 5
N_BOOT = 400
LEVEL = 0.90


def ambiguity_interval(ami: np.ndarray, seed: int = 0, n_boot: int = N_BOOT) -> tuple[float, float]:
    """Bootstrap ``LEVEL`` interval of human ambiguity from the annotators' (m, m) AMI matrix.

    Annotators are resampled with replacement; a resample's ambiguity is the mean 1 - AMI over
    pairs of distinct annotators in it (an annotator paired with their own copy says nothing).
    """
    m = len(ami)
    if m < 2:
        return 0.0, 1.0
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, m, size=(n_boot, m))
    dis = 1.0 - ami[idx[:, :, None], idx[:, None, :]]
    distinct = idx[:, :, None] != idx[:, None, :]
    n_pairs = distinct.sum(axis=(1, 2))
    keep = n_pairs > 0
    values = np.clip((dis * distinct).sum(axis=(1, 2))[keep] / n_pairs[keep], 0.0, 1.0)
    if not len(values):
        return 0.0, 1.0
    lo, hi = np.quantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(lo), float(hi)


@dataclass
class PlotState:
    """What routing knows about one plot: its annotations' AMI matrix and a prior guess."""

    prior: float | None = None
    ids: list = field(default_factory=list)
    labelings: list = field(default_factory=list)
    ami: np.ndarray = field(default_factory=lambda: np.eye(0))
    seed: int = 0

    def add(self, key, labels: np.ndarray) -> None:
        """One more annotation: only its AMIs with the earlier ones are computed."""
        row = [adjusted_mutual_info_score(labels, other) for other in self.labelings]
        m = len(self.labelings)
        ami = np.eye(m + 1)
        ami[:m, :m] = self.ami
        ami[m, :m] = ami[:m, m] = row
        self.ami, self.ids, self.labelings = ami, self.ids + [key], self.labelings + [labels]

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def ambiguity(self) -> float | None:
        if self.n < 2:
            return None
        return float(np.clip(np.mean(1.0 - self.ami[np.triu_indices(self.n, 1)]), 0.0, 1.0))

    @property
    def interval(self) -> tuple[float, float]:
        return ambiguity_interval(self.ami, seed=self.seed + self.n)

    @property
    def width(self) -> float:
        lo, hi = self.interval
        return hi - lo

    @property
    def priority(self) -> float:
        """Higher = annotate sooner: the observed ambiguity, else the prior, else first of all."""
        if self.ambiguity is not None:
            return self.ambiguity
        return 1.0 if self.prior is None else float(self.prior)

    def finished(self, target_width: float) -> bool:
        return self.n >= MIN_ANNOTATIONS and self.width < target_width


class RoutingCache:
    """PlotStates of a store's studies, extended as annotations arrive (annotations are never edited)."""

    def __init__(self):
        self._states: dict[tuple[int, int], PlotState] = {}
        # Concurrent next_plot calls (PostgreSQL takes no store-wide lock) must not add an
        # annotation twice.
        self._lock = threading.Lock()

    def state(self, study_id: int, plot_id: int, annotations, prior: float | None) -> PlotState:
        """``annotations``: (id, labels bytes) of the plot, oldest first."""
        with self._lock:
            return self._update(study_id, plot_id, annotations, prior)

    def _update(self, study_id, plot_id, annotations, prior) -> PlotState:
        state = self._states.get((study_id, plot_id))
        known = set() if state is None else set(state.ids)
        if state is None or not known <= {a for a, _ in annotations}:
            state = self._states[(study_id, plot_id)] = PlotState(prior=prior, seed=plot_id)
            known = set()
        for ann_id, labels in annotations:
            if ann_id not in known:
                state.add(ann_id, np.frombuffer(labels, dtype="<i4").astype(np.int64))
        state.prior = prior
        return state


@dataclass
class StudyResult:
    policy: str
    annotations: int
    per_plot: list[int]
    widths: list[float]
    ambiguity: list[float | None]
    target_width: float
    reference: list[float] | None = None  # each plot's ambiguity among all the observers

    @property
    def errors(self) -> list[float] | None:
        """|estimate - reference| per plot: the precision actually reached."""
        if self.reference is None:
            return None
        return [abs((a or 0.0) - r) for a, r in zip(self.ambiguity, self.reference)]

    @property
    def max_width(self) -> float:
        return max(self.widths)

    @property
    def reached(self) -> int:
        """Plots whose interval met the target."""
        return sum(n >= MIN_ANNOTATIONS and w < self.target_width for n, w in zip(self.per_plot, self.widths))


def simulate_study(plots, policy: str = "ambiguity", n_observers: int = 40, target_width: float = 0.1,
                   seed: int = 0, per_observer: int | None = None, priors=None,
                   reference: bool = False) -> StudyResult:
    """Run a whole study with simulated observers and return the annotations it took.

    Observers (one ObserverParams each, sampled from the default distribution) arrive one
    after another and label up to ``per_observer`` plots (default all), each picked by the
    policy as ``next_plot`` would. The study stops when every plot meets the stopping rule
    (interval narrower than ``target_width`` with at least MIN_ANNOTATIONS annotations) or the
    observers run out. ``priors``: CLAMS-like guesses per plot for the ambiguity policy.
    ``reference``: also compute each plot's ambiguity among all ``n_observers`` (the value
    the study estimates), so that the estimates' errors can be compared between policies.
    """
    from .observers import DEFAULT_DISTRIBUTION, simulate_observer

    if policy not in ("balanced", "ambiguity"):
        raise ValueError("policy must be 'balanced' or 'ambiguity'")
    plots = [np.asarray(xy, dtype=np.float64) for xy in plots]
    rng = np.random.default_rng(seed)
    observers = [DEFAULT_DISTRIBUTION.sample(rng) for _ in range(n_observers)]
    priors = list(priors) if priors is not None else [None] * len(plots)
    states = [PlotState(prior=priors[p], seed=seed * 7919 + p) for p in range(len(plots))]
    per_observer = per_observer or len(plots)
    total = 0

    def all_finished() -> bool:
        return all(st.finished(target_width) for st in states)

    for o, params in enumerate(observers):
        if all_finished():
            break
        rank = np.random.default_rng([seed, o]).permutation(len(plots))
        done: set[int] = set()
        for _ in range(per_observer):
            open_ = [p for p in range(len(plots)) if p not in done]
            if policy == "ambiguity":
                open_ = [p for p in open_ if not states[p].finished(target_width)]
                key = lambda p: (-states[p].priority, states[p].n, rank[p])  # noqa: E731
            else:
                key = lambda p: (states[p].n, rank[p])  # noqa: E731
            if not open_ or all_finished():
                break
            p = min(open_, key=key)
            states[p].add(o, simulate_observer(plots[p], params))
            done.add(p)
            total += 1
    truth = None
    if reference:
        from .agreement import human_ambiguity

        truth = [human_ambiguity([simulate_observer(xy, params) for params in observers]) for xy in plots]
    return StudyResult(policy, total, [st.n for st in states], [st.width for st in states],
                       [st.ambiguity for st in states], target_width, truth)
