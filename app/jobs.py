"""Background work for the dashboard: a thread pool, a result cache and the compute adapters.

Everything slow (loading big plots, ClusterNet, CLAMS, clusterers) runs here, off Tornado's
event loop, so the page keeps answering while it works. Results are cached per
(dataset, method, params); the app itself computes nothing, it calls ``data``, ``models``
and ``perception``.
"""
from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

# Two workers: the machines this serves are small, and numba/sklearn use their own threads.
POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="visclust-job")
CACHE_SIZE = 64


class JobCancelled(Exception):
    """The person pressed cancel; the result, if it still comes, only lands in the cache."""


class ResultCache:
    """A thread-safe LRU of futures, so two sessions asking the same thing share one run."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self._items: OrderedDict[tuple, Future] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_submit(self, key: tuple, fn: Callable[[], object]) -> Future:
        with self._lock:
            future = self._items.get(key)
            if future is not None and not (future.cancelled() or (future.done() and future.exception())):
                self._items.move_to_end(key)
                return future
            future = POOL.submit(fn)
            self._items[key] = future
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return future

    def __contains__(self, key) -> bool:
        with self._lock:
            future = self._items.get(key)
            return future is not None and future.done() and not future.cancelled() and future.exception() is None

    def clear(self):
        with self._lock:
            self._items.clear()


CACHE = ResultCache()


@dataclass
class Job:
    """One request for a cached result; ``cancel`` stops waiting (and the run, if not started)."""

    key: tuple
    future: Future
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self):
        self.cancelled.set()
        self.future.cancel()  # only succeeds while queued; a running thread cannot be killed

    async def result(self, poll: float = 0.05):
        """Await the result on the event loop without blocking it."""
        while not self.future.done():
            if self.cancelled.is_set():
                raise JobCancelled(self.key)
            await asyncio.sleep(poll)
        if self.cancelled.is_set() or self.future.cancelled():
            raise JobCancelled(self.key)
        return self.future.result()


def submit(key: tuple, fn: Callable[[], object]) -> Job:
    return Job(key, CACHE.get_or_submit(key, fn))


def availability() -> dict[str, str | None]:
    """For each perception model: None when usable, otherwise why not (for the UI).

    Both need a shipped model file; a checkout without it must say so, not fail mid-page.
    """
    from models import ClusterNet
    from perception.separability import DEFAULT_MODEL_PATH

    return {"clusternet": None if ClusterNet.available() else "no trained ClusterNet weights were found",
            "clams": None if Path(DEFAULT_MODEL_PATH).exists()
            else f"the CLAMS pair model {DEFAULT_MODEL_PATH} is missing"}


@dataclass
class Labeling:
    """Labels from one method, with what the UI shows next to them."""

    method: str
    labels: np.ndarray
    runtime: float
    n_clusters: int
    values: np.ndarray | None = None  # per-point agreement (ClusterNet)
    note: str = ""


def run_method(xy: np.ndarray, method: str, params: dict | None = None, seed: int = 0) -> Labeling:
    """Labels of ``xy`` by a ClusterNet variant or a registered classical clusterer."""
    from models import get_method

    perceptual = get_method(method).perceptual
    if perceptual and (reason := availability()["clusternet"]):
        raise RuntimeError(f"ClusterNet is unavailable: {reason}")
    model = get_method(method).make(random_state=seed, **(params or {})).fit(xy)
    labels = np.asarray(model.labels_, dtype=np.int64)
    if perceptual:
        return Labeling(method, labels, model.runtime_, model.n_clusters_,
                        values=np.asarray(model.agreement_, dtype=np.float64))
    note = f"clustered a {model.subsample_size_:,}-point sample" if model.subsample_size_ else ""
    return Labeling(method, labels, model.runtime_, model.n_clusters_, note=note)


def run_clams(xy: np.ndarray, seed: int = 0):
    reason = availability()["clams"]
    if reason:
        raise RuntimeError(f"CLAMS is unavailable: {reason}")
    from perception.clams import CLAMS

    return CLAMS(random_state=seed).fit(xy)


def stored_annotations(xy: np.ndarray) -> np.ndarray:
    """People's labellings of these points in the annotation store (the default one: see
    data.store.default_url); an empty (0, n) array when there are none or no store is reachable."""
    from data.store import AnnotationStore, StoreError

    try:
        with AnnotationStore() as store:
            return store.human_labelings(xy)
    except (StoreError, OSError):
        return np.empty((0, len(xy)), dtype=np.int64)


def agreement_matrix(labelings: dict[str, np.ndarray], metric: str = "AMI") -> np.ndarray:
    """Pairwise AMI or ARI between labelings."""
    from perception import agreement

    stacked = np.vstack([np.asarray(v, dtype=np.int64) for v in labelings.values()])
    fn = agreement.ami_matrix if metric == "AMI" else agreement.ari_matrix
    return np.asarray(fn(stacked), dtype=np.float64)


def kappa_alpha(algo_labels: np.ndarray, human_labelings: np.ndarray) -> float:
    """Agreement of one method with several reference labelings."""
    from perception import agreement

    return float(agreement.kappa_alpha(algo_labels, human_labelings))
