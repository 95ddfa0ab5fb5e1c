"""The Explore page's controller: the colouring, CLAMS and lasso selections of the current plot."""
from __future__ import annotations

import numpy as np
import pandas as pd
import param

from data import Scatterplot
from data.render import polygon_selection
from models import PERCEPTUAL
from perception.compare import Labeling

from . import jobs
from .options import METHOD_NAMES
from .state import AppState

NO_SELECTION = np.empty(0, dtype=np.int64)


def select(app: AppState, xs, ys) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, coordinates) of the shown plot's points inside a polygon: all of a Dask-backed
    plot's points, partition by partition, not only its subsample."""
    if app.lazy is not None:
        return app.lazy.select_polygon(xs, ys)
    rows = polygon_selection(app.plot.xy, xs, ys)
    return rows, app.plot.xy[rows]


class ExploreState(param.Parameterized):
    """The colouring and CLAMS results behind the Explore page."""

    app = param.ClassSelector(class_=AppState)
    labeling = param.Parameter(default=None, doc="perception.compare.Labeling for the current colour, or None")
    labelled = param.Parameter(default=None, doc="for a Dask-backed plot: the Parquet folder of every point "
                               "labelled by that colouring (see jobs.propagation_job), or None")
    clams = param.Parameter(default=None, doc="a fitted CLAMS model, or None")
    busy = param.String(default="", doc="what is running now ('' when idle)")
    message = param.String(default="", doc="a note about the colouring (unavailable, failed, ...)")
    selection = param.Array(default=NO_SELECTION, doc="indices of the points in the last lasso or box")
    polygon = param.Parameter(default=None, doc="(xs, ys) of that lasso or box, in data coordinates")

    def __init__(self, **params):
        super().__init__(**params)
        self._job: jobs.Job | None = None
        self._selected_xy = np.empty((0, 2))

    @param.depends("app.plot", "app.color_by", watch=True)
    async def recolor(self):
        self.param.update(labeling=None, labelled=None, message="")
        plot, color, lazy = self.app.plot, self.app.color_by, self.app.lazy
        if plot is None or color == "density":
            return
        if color == "reference":
            if plot.labels is None:
                self.message = "This plot has no reference labels."
            else:
                self.labeling = Labeling("reference", plot.reference_labels, 0.0,
                                         int(plot.reference_labels.max(initial=-1) + 1))
            return
        if lazy is not None and color == "agreement":
            self.message = "Agreement colouring needs an in-memory plot; this one is read through Dask."
            return
        method = "clusternet" if color in ("clusternet", "agreement") else color
        if method in PERCEPTUAL and (reason := jobs.availability()["clusternet"]):
            self.message = f"ClusterNet is unavailable: {reason}."
            return
        key = self.app.loaded
        await self._run(jobs.labeling_job(key, plot, method), f"Running {METHOD_NAMES[method]}", "labeling")
        if lazy is not None and self.labeling is not None and self.app.lazy is lazy:
            await self._run(jobs.propagation_job(key, lazy, method, self.labeling.labels),
                            f"Running {METHOD_NAMES[method]}: labelling all {len(lazy):,} points", "labelled")

    @param.depends("app.plot", watch=True)
    def _forget_selection(self):
        self._selected_xy = np.empty((0, 2))
        self.param.update(selection=NO_SELECTION, polygon=None)

    def select_polygon(self, xs, ys) -> np.ndarray:
        """Select exactly the points inside the polygon (even-odd rule), however many there are."""
        xs, ys = np.asarray(xs, np.float64).ravel(), np.asarray(ys, np.float64).ravel()
        if self.app.plot is None or len(xs) < 3 or len(xs) != len(ys):
            raise ValueError("a selection polygon needs at least 3 vertices, as many xs as ys")
        rows, self._selected_xy = select(self.app, xs, ys)
        self.param.update(selection=rows, polygon=(xs.tolist(), ys.tolist()))
        return self.selection

    async def lasso(self, xs, ys):
        """select_polygon for the page: off the event loop (a lasso over 10M points takes seconds)."""
        plot, key = self.app.plot, self.app.loaded
        if plot is None or len(xs) < 3:
            return
        app = self.app
        job = jobs.submit(("selection", key, tuple(xs), tuple(ys)), lambda _: select(app, xs, ys))
        self.busy = "Selecting points"
        try:
            rows, xy = await job.result()
        finally:
            self.busy = ""
        if self.app.plot is plot:
            self._selected_xy = xy
            self.param.update(selection=rows, polygon=(list(xs), list(ys)))

    def selection_table(self) -> pd.DataFrame:
        """Row indices (in the loaded plot) and coordinates of the selected points."""
        xy = self._selected_xy
        return pd.DataFrame({"row": self.selection, "x": xy[:, 0], "y": xy[:, 1]})

    def selection_plot(self) -> Scatterplot:
        """The selected points as a plot of their own (with their reference labels)."""
        plot, rows = self.app.plot, self.selection
        labels = None if plot.labels is None or self.app.lazy is not None else plot.labels[..., rows]
        return Scatterplot(self._selected_xy, labels=labels, name=f"{plot.name or 'plot'} ({len(rows):,} selected)",
                           meta={"selected_from": self.app.loaded})

    async def run_clams(self):
        if self.app.plot is None:
            return
        if reason := jobs.availability()["clams"]:
            self.message = f"CLAMS is unavailable: {reason}."
            return
        await self._run(jobs.clams_job(self.app.loaded, self.app.plot), "Running CLAMS", "clams")

    async def _run(self, job: jobs.Job, what: str, target: str):
        if self._job is not None:
            self._job.cancel()
        self._job = job
        self.busy = what
        try:
            result = await job.result()
        except jobs.JobCancelled:
            if self._job is job:
                self.message = f"{what.replace('Running ', '')} was cancelled."
            return
        except Exception as exc:  # a failing method is reported, not fatal
            self.message = f"{what.replace('Running ', '')} failed: {exc}"
            return
        finally:
            if self._job is job:
                self.busy = ""
        if self._job is job:
            setattr(self, target, result)

    def cancel(self):
        if self._job is not None:
            self._job.cancel()
