"""The Explore view in a notebook: ``Explorer(points)`` shows it inline, selections come back to Python.

    from app import Explorer
    ex = Explorer(df, color_by="clusternet")   # a DataFrame, an (n, 2) array or a Scatterplot
    ex                                          # the Explore view, inline (Panel's notebook support)
    ex.selection                                # row indices of the last lasso or box, a NumPy array
    ex.select_polygon(xs, ys)                   # the same from Python
    ex.labels                                   # the current colouring's labels (None for density)
    ex.servable()                               # the same view in `panel serve notebook.ipynb`
    Explorer("points.parquet")                  # a Parquet file or folder of any size, read through Dask
"""
from __future__ import annotations

from pathlib import Path

import holoviews as hv
import numpy as np
import panel as pn

import data
from data import Scatterplot

from .pages.explore import explore_view
from .explore_state import ExploreState
from .jobs import labeling_job
from .options import COLOR_CHOICES
from .sources import allow
from .state import AppState

_EXTENSIONS_LOADED = False


def _load_extensions():
    """Panel's and HoloViews' notebook resources, once per kernel (a no-op under `panel serve`)."""
    global _EXTENSIONS_LOADED
    if not _EXTENSIONS_LOADED:
        pn.extension(notifications=False)
        hv.extension("bokeh", logo=False)
        _EXTENSIONS_LOADED = True


class Explorer:
    """The Explore view of one plot, for Jupyter and for scripts.

    ``points``: an (n, 2) array, a DataFrame (x and y picked as :func:`data.load` does: the
    first two numeric columns unless ``x``/``y`` name them; a label column becomes the
    reference labels), a :class:`data.Scatterplot` or the path of a Parquet file or folder with
    columns x and y (``x``/``y`` are ignored), opened through Dask whatever its size. Rows with NaN/inf coordinates are
    dropped as the loaders do; ``selection`` indexes the kept rows (``plot.meta['dropped_rows']``
    lists the others). ``color_by``: one of :data:`app.options.COLOR_CHOICES`.
    """

    def __init__(self, points, color_by: str = "density", *, x=None, y=None, name: str | None = None):
        if color_by not in COLOR_CHOICES:
            raise ValueError(f"color_by must be one of {list(COLOR_CHOICES)}, not {color_by!r}")
        _load_extensions()
        self.app = AppState()
        if isinstance(points, (str, Path)) and Path(points).suffix.lower() in ("", ".parquet", ".pq"):
            self.app.dataset = allow(points)
            self.app.load_now()
            if self.app.error:
                raise data.InvalidScatterplot(self.app.error)
        else:
            self.app.show(points if isinstance(points, Scatterplot) else data.load(
                np.asarray(points) if isinstance(points, (list, tuple)) else points, x, y, name=name or "notebook"))
        self.app.color_by = color_by
        self.state = ExploreState(app=self.app)
        self.view = explore_view(self.app, self.state, sources=False)

    @property
    def plot(self) -> Scatterplot:
        """The plot shown; for a Parquet path, the seeded subsample that methods run on (see ``lazy``)."""
        return self.app.plot

    @property
    def lazy(self):
        """The Dask-backed plot (data.large.LazyPlot) when a Parquet path was given, else None."""
        return self.app.lazy

    @property
    def selection(self) -> np.ndarray:
        """Indices of the points in the last lasso or box selection (empty before any)."""
        return self.state.selection.copy()

    def select_polygon(self, xs, ys) -> np.ndarray:
        """Select the points inside the polygon (data coordinates), as a lasso would; returns them."""
        return self.state.select_polygon(xs, ys).copy()

    @property
    def color_by(self) -> str:
        return self.app.color_by

    @color_by.setter
    def color_by(self, value: str):
        self.app.color_by = value

    @property
    def labels(self) -> np.ndarray | None:
        """Labels of the current colouring (None when coloured by density); waits for the run.

        For a Parquet path these are the subsample's (``plot``); every point's, carried by nearest
        neighbour, are in the Parquet folder ``state.labelled`` once the view has coloured them.
        """
        color, plot = self.app.color_by, self.app.plot
        if color == "density":
            return None
        if color == "reference":
            return plot.reference_labels
        method = "clusternet" if color == "agreement" else color
        # The view's own job: the result cache runs each (plot, method) once.
        return labeling_job(self.app.loaded, plot, method).future.result().labels

    def servable(self, title: str = "visclust") -> pn.viewable.Viewable:
        return self.view.servable(title=title)

    def __panel__(self) -> pn.viewable.Viewable:
        return self.view

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.view._repr_mimebundle_(include, exclude)

    def __repr__(self) -> str:
        n = len(self.lazy if self.lazy is not None else self.plot)
        return f"Explorer({n:,} points, color_by={self.color_by!r}, {len(self.selection):,} selected)"
