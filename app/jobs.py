"""Background work for the dashboard: the one job runner, its result cache and the compute adapters.

Everything slow (loading big plots, ClusterNet, CLAMS, clusterers, agreement, annotation look-ups)
goes through :func:`submit`, off Tornado's event loop, so the page keeps answering while it works.
Results are cached per key, e.g. (dataset, method, params); the app itself computes nothing, it
calls ``data``, ``models`` and ``perception``.

A job function gets one argument, a :class:`Progress`: it may call it with the fraction done (and
a line of text), which every :class:`Job` waiting on that run reads, and an uncached run may
watch ``progress.cancelled`` to stop early.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from data import Scatterplot

# Two workers: the machines this serves are small, and numba/sklearn use their own threads.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="visclust-job")
CACHE_SIZE = 64


class JobCancelled(Exception):
    """The person pressed cancel; the result, if it still comes, only lands in the cache."""


class Progress:
    """How far one run has got; written by the worker thread, read on the event loop."""

    def __init__(self):
        self.fraction: float | None = None  # None: not known (yet)
        self.text = ""
        self.cancelled = threading.Event()

    def __call__(self, fraction: float | None, text: str = ""):
        self.fraction = None if fraction is None else min(max(float(fraction), 0.0), 1.0)
        self.text = text


@dataclass
class _Run:
    future: Future
    progress: Progress


def _start(fn: Callable[[Progress], object]) -> _Run:
    progress = Progress()
    return _Run(_POOL.submit(fn, progress), progress)


class ResultCache:
    """A thread-safe LRU of runs, so two sessions asking the same thing share one run."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self._items: OrderedDict[tuple, _Run] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_start(self, key: tuple, fn: Callable[[Progress], object]) -> _Run:
        with self._lock:
            run = self._items.get(key)
            if run is not None and not (run.future.cancelled() or (run.future.done() and run.future.exception())):
                self._items.move_to_end(key)
                return run
            run = self._items[key] = _start(fn)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return run

    def __contains__(self, key) -> bool:
        with self._lock:
            run = self._items.get(key)
            return (run is not None and run.future.done() and not run.future.cancelled()
                    and run.future.exception() is None)

    def clear(self):
        with self._lock:
            self._items.clear()


CACHE = ResultCache()


@dataclass
class Job:
    """One request for a run's result; ``cancel`` stops waiting (and the run, if not started)."""

    key: tuple
    future: Future
    _progress: Progress
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def progress(self) -> float | None:
        """Fraction of the run done, as its function last reported (None: not reported)."""
        return self._progress.fraction

    @property
    def progress_text(self) -> str:
        return self._progress.text

    def cancel(self):
        self.cancelled.set()
        self.future.cancel()  # only succeeds while queued; a running thread cannot be killed

    async def result(self, poll: float = 0.05, on_progress: Callable[[float | None, str], None] | None = None):
        """Await the result on the event loop without blocking it; ``on_progress(fraction, text)``
        is called there whenever the run reports progress."""
        seen = (None, "")
        while not self.future.done():
            if self.cancelled.is_set():
                raise JobCancelled(self.key)
            if on_progress is not None and (self.progress, self.progress_text) != seen:
                seen = (self.progress, self.progress_text)
                on_progress(*seen)
            await asyncio.sleep(poll)
        if self.cancelled.is_set() or self.future.cancelled():
            raise JobCancelled(self.key)
        return self.future.result()


def submit(key: tuple, fn: Callable[[Progress], object], *, cache: bool = True) -> Job:
    """Run ``fn(progress)`` in the background; the only way the app starts background work.

    ``cache=False`` for results that go stale (stored annotations keep arriving) or are used
    once: such a run has one Job, whose cancel also sets ``progress.cancelled`` for ``fn``.
    """
    if cache:
        run = CACHE.get_or_start(key, fn)
        return Job(key, run.future, run.progress)
    run = _start(fn)
    return Job(key, run.future, run.progress, cancelled=run.progress.cancelled)


def availability() -> dict[str, str | None]:
    """For each perception model: None when usable, otherwise why not (for the UI).

    Both need a shipped model file; a checkout without it must say so, not fail mid-page.
    """
    from models import ClusterNet
    from perception.separability import DEFAULT_MODEL_PATH

    return {"clusternet": None if ClusterNet.available() else "no trained ClusterNet weights were found",
            "clams": None if Path(DEFAULT_MODEL_PATH).exists()
            else f"the CLAMS pair model {DEFAULT_MODEL_PATH} is missing"}


def labeling_job(dataset: str, plot: Scatterplot, method: str, params: dict | None = None) -> Job:
    """A method's labels of a plot (perception.compare.Labeling), cached per data set, method and params."""
    from perception.compare import label

    return submit(("labels", dataset, method, tuple(sorted((params or {}).items()))),
                  lambda _: label(plot.xy, method, params))


def propagation_job(dataset: str, lazy, method: str, labels: np.ndarray) -> Job:
    """A Dask-backed plot's labels by ``method`` on its subsample, carried to every point by nearest
    neighbour (data.large.LazyPlot.propagate); the result is the labelled Parquet folder."""
    from . import uploads

    out = uploads.labelled_folder(lazy.path, method)

    def run(_):
        if not out.exists():  # written once per source and method, by whichever process asks first
            scratch = out.parent / f".{out.name}.{os.getpid()}.{threading.get_ident()}"
            lazy.propagate(lazy.subsample.xy, labels, scratch)
            try:
                os.replace(scratch, out)  # a whole folder appears at once, or another process won
            except OSError:
                shutil.rmtree(scratch, ignore_errors=True)
        out.touch()
        uploads.prune_labelled(out)
        return out

    return submit(("propagate", dataset, method), run)


def clams_job(dataset: str, plot: Scatterplot) -> Job:
    return submit(("clams", dataset), lambda _: run_clams(plot.xy))


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
