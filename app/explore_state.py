"""The Explore page's controller: the colouring, CLAMS and lasso selections of the current plot."""
from __future__ import annotations

import numpy as np
import pandas as pd
import param

from data import Scatterplot
from data.render import points_in_polygon
from models import PERCEPTUAL
from perception.compare import Labeling

from . import jobs
from .options import METHOD_NAMES
from .state import AppState

NO_SELECTION = np.empty(0, dtype=np.int64)


def polygon_selection(xy: np.ndarray, xs, ys) -> np.ndarray:
    """Sorted indices of the points inside a polygon; points outside its bounding box are ruled
    out first, so a small lasso on a large plot tests few points."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    near = np.flatnonzero((xy[:, 0] >= xs.min()) & (xy[:, 0] <= xs.max())
                          & (xy[:, 1] >= ys.min()) & (xy[:, 1] <= ys.max()))
    return near[points_in_polygon(xy[near], xs, ys)].astype(np.int64)


class ExploreState(param.Parameterized):
    """The colouring and CLAMS results behind the Explore page."""

    app = param.ClassSelector(class_=AppState)
    labeling = param.Parameter(default=None, doc="perception.compare.Labeling for the current colour, or None")
    clams = param.Parameter(default=None, doc="a fitted CLAMS model, or None")
    busy = param.String(default="", doc="what is running now ('' when idle)")
    message = param.String(default="", doc="a note about the colouring (unavailable, failed, ...)")
    selection = param.Array(default=NO_SELECTION, doc="indices of the points in the last lasso or box")
    polygon = param.Parameter(default=None, doc="(xs, ys) of that lasso or box, in data coordinates")

    def __init__(self, **params):
        super().__init__(**params)
        self._job: jobs.Job | None = None

    @param.depends("app.plot", "app.color_by", watch=True)
    async def recolor(self):
        self.param.update(labeling=None, message="")
        plot, color = self.app.plot, self.app.color_by
        if plot is None or color == "density":
            return
        if color == "reference":
            if plot.labels is None:
                self.message = "This plot has no reference labels."
            else:
                self.labeling = Labeling("reference", plot.reference_labels, 0.0,
                                         int(plot.reference_labels.max(initial=-1) + 1))
            return
        method = "clusternet" if color in ("clusternet", "agreement") else color
        if method in PERCEPTUAL and (reason := jobs.availability()["clusternet"]):
            self.message = f"ClusterNet is unavailable: {reason}."
            return
        await self._run(jobs.labeling_job(self.app.loaded, plot, method), f"Running {METHOD_NAMES[method]}", "labeling")

    @param.depends("app.plot", watch=True)
    def _forget_selection(self):
        self.param.update(selection=NO_SELECTION, polygon=None)

    def select_polygon(self, xs, ys) -> np.ndarray:
        """Select exactly the points inside the polygon (even-odd rule), however many there are."""
        plot = self.app.plot
        xs, ys = np.asarray(xs, np.float64).ravel(), np.asarray(ys, np.float64).ravel()
        if plot is None or len(xs) < 3 or len(xs) != len(ys):
            raise ValueError("a selection polygon needs at least 3 vertices, as many xs as ys")
        self.param.update(selection=polygon_selection(plot.xy, xs, ys), polygon=(xs.tolist(), ys.tolist()))
        return self.selection

    async def lasso(self, xs, ys):
        """select_polygon for the page: off the event loop (a lasso over 10M points takes seconds)."""
        plot, key = self.app.plot, self.app.loaded
        if plot is None or len(xs) < 3:
            return
        job = jobs.submit(("selection", key, tuple(xs), tuple(ys)), lambda _: polygon_selection(plot.xy, xs, ys))
        self.busy = "Selecting points"
        try:
            selection = await job.result()
        finally:
            self.busy = ""
        if self.app.plot is plot:
            self.param.update(selection=selection, polygon=(list(xs), list(ys)))

    def selection_table(self) -> pd.DataFrame:
        """Row indices (in the loaded plot) and coordinates of the selected points."""
        xy = self.app.plot.xy[self.selection]
        return pd.DataFrame({"row": self.selection, "x": xy[:, 0], "y": xy[:, 1]})

    def selection_plot(self) -> Scatterplot:
        """The selected points as a plot of their own (with their reference labels)."""
        plot, rows = self.app.plot, self.selection
        labels = None if plot.labels is None else plot.labels[..., rows]
        return Scatterplot(plot.xy[rows], labels=labels, name=f"{plot.name or 'plot'} ({len(rows):,} selected)",
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
