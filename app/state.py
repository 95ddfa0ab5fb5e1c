"""Session state of the dashboard, kept in param classes and mirrored in the page URL.

The plot is named by a data-source string (see app.sources); the page controllers live in
app.explore_state and app.compare_state.
"""
from __future__ import annotations

import param

from data import InvalidScatterplot, Scatterplot
from data.large import LazyPlot

from . import jobs
from .options import COLOR_CHOICES, DEFAULT_METHODS, METHOD_NAMES, PAGES
from .sources import load_job, parse_upload, store_upload

URL_PARAMS = {"page": "page", "dataset": "dataset", "color_by": "color", "methods": "methods", "metric": "metric"}


class AppState(param.Parameterized):
    """What the session shows; the first five parameters travel in the URL."""

    page = param.Selector(objects=list(PAGES), default="explore")
    dataset = param.String(default="separated-blobs", doc="data-set string, see app.sources")
    color_by = param.Selector(objects=list(COLOR_CHOICES), default="density")
    methods = param.ListSelector(default=list(DEFAULT_METHODS), objects=list(METHOD_NAMES))
    metric = param.Selector(objects=["AMI", "ARI"], default="AMI")

    plot = param.ClassSelector(class_=Scatterplot, allow_None=True, doc="the loaded plot (for a Dask-backed "
                               "plot, its seeded subsample: what methods, CLAMS and Compare see)")
    lazy = param.ClassSelector(class_=LazyPlot, allow_None=True, doc="the Dask-backed plot, or None")
    loaded = param.String(default="", doc="the data-set string `plot` came from")
    loading = param.Boolean(default=False)
    error = param.String(default="", doc="last problem, worded for a person")

    def __init__(self, **params):
        super().__init__(**params)
        self._load_job: jobs.Job | None = None

    @param.depends("dataset", watch=True, on_init=False)
    async def load(self):
        """Load the named plot off the event loop; on failure keep the previous one."""
        key = self.dataset
        if key == self.loaded and self.plot is not None:
            return
        if self._load_job is not None:
            self._load_job.cancel()
        job = self._load_job = load_job(key)
        self.loading = True
        try:
            loaded = await job.result()
        except jobs.JobCancelled:
            return
        except InvalidScatterplot as exc:
            self._fail(str(exc))
            return
        finally:
            if self._load_job is job:
                self.loading = False
        if self._load_job is job:
            self._set(loaded, key)

    def load_now(self):
        """Blocking load, for the first render and for tests."""
        try:
            self._set(load_job(self.dataset).future.result(), self.dataset)
        except InvalidScatterplot as exc:
            self._fail(str(exc))

    def _set(self, loaded: Scatterplot | LazyPlot, key: str):
        lazy = loaded if isinstance(loaded, LazyPlot) else None
        self.param.update(plot=loaded.subsample if lazy else loaded, lazy=lazy, loaded=key, error="")

    def _fail(self, message: str):
        # Keep showing the last good plot, and point the URL back at it.
        self.error = message
        if self.loaded and self.dataset != self.loaded:
            self.dataset = self.loaded
        elif self.plot is None:
            self.dataset = self.param.dataset.default
            self.load_now()
            self.error = message

    def upload(self, raw: bytes, filename: str, x=None, y=None, label=None) -> bool:
        """Parse an uploaded file; on success show it, otherwise report why and keep the plot."""
        try:
            plot = parse_upload(raw, filename, x, y, label)
        except InvalidScatterplot as exc:
            self.error = f"{filename}: {exc}"
            return False
        self.show(plot, raw + repr((x, y, label)).encode())
        return True

    def show(self, plot: Scatterplot, raw: bytes | None = None) -> str:
        """Show a plot made in this session (an upload, a selection, a notebook's points) under an
        ``upload:`` key, so its URL can be shared; ``raw``: the bytes that identify it (default:
        its points)."""
        key = store_upload(plot, plot.xy.tobytes() if raw is None else raw)
        self.param.update(plot=plot, lazy=None, loaded=key, dataset=key, error="")
        return key


def two_way(widget: param.Parameterized, obj: param.Parameterized, name: str, attr: str = "value"):
    """Keep ``widget.<attr>`` and ``obj.<name>`` equal in both directions."""
    widget.param.update(**{attr: getattr(obj, name)})

    def to_obj(event):
        if getattr(obj, name) != event.new:
            setattr(obj, name, event.new)

    def to_widget(event):
        if getattr(widget, attr) != event.new:
            widget.param.update(**{attr: event.new})

    widget.param.watch(to_obj, attr)
    obj.param.watch(to_widget, name)
