"""Session state of the dashboard, kept in param classes and mirrored in the page URL.

A data set is named by one string so that the URL can carry it:
``iris`` (bundled), ``gen:blobs:n=2000,k=5`` (a generator with its parameters),
``gaussian-10M`` (a large seeded Gaussian mixture, for speed checks) or ``upload:<id>``
(a file uploaded to this server, kept in a cache folder that all its processes share: see app.uploads).
"""
from __future__ import annotations

import asyncio
import re

import numpy as np
import pandas as pd
import param

import data
from data import InvalidScatterplot, Scatterplot
from data.large import gaussian_mixture
from data.render import points_in_polygon
from models import CLASSICAL, METHODS, PERCEPTUAL

from . import jobs, uploads

PAGES = {"explore": "Explore", "compare": "Compare", "embed": "Embed", "annotate": "Annotate", "models": "Models"}
COLOR_CHOICES = {
    "density": "Nothing (density)",
    "reference": "Reference labels",
    **{name: f"{METHODS[name].display_name} labels" for name in PERCEPTUAL},
    "agreement": "ClusterNet agreement",
    **{name: METHODS[name].display_name for name in CLASSICAL},
}
METHOD_NAMES = {name: method.display_name for name, method in METHODS.items()}
DEFAULT_METHODS = ["clusternet", "hdbscan", "gmm", "kmeans", "dbscan", "agglomerative-single"]
URL_PARAMS = {"page": "page", "dataset": "dataset", "color_by": "color", "methods": "methods", "metric": "metric"}
MAX_POINTS = 10_000_000

# Generator sliders: name -> (generator kind, {param: (default, low, high, step)}).
GENERATORS = {
    "two_gaussians": {"n": (800, 50, 50_000, 50), "distance": (3.0, 0.0, 10.0, 0.1),
                      "sigma_ratio": (1.0, 0.2, 3.0, 0.1), "rotation": (0.0, 0.0, 180.0, 5.0),
                      "elongation": (1.0, 1.0, 6.0, 0.5), "seed": (0, 0, 99, 1)},
    "blobs": {"n": (1500, 50, 50_000, 50), "k": (4, 1, 20, 1), "separation": (5.0, 0.5, 12.0, 0.5),
              "density_range": (1.0, 1.0, 5.0, 0.5), "elongation": (1.0, 1.0, 8.0, 0.5),
              "noise": (0.0, 0.0, 0.5, 0.05), "seed": (0, 0, 99, 1)},
    "shapes": {"n": (1000, 50, 50_000, 50), "noise": (0.05, 0.0, 0.3, 0.01),
               "background": (0.0, 0.0, 0.5, 0.05), "seed": (0, 0, 99, 1)},
    "scene": {"n": (2000, 50, 50_000, 50), "k": (4, 1, 12, 1), "gap": (0.03, 0.0, 0.1, 0.005),
              "overlap": (0.0, 0.0, 1.0, 0.1), "noise": (0.0, 0.0, 0.5, 0.05), "seed": (0, 0, 99, 1)},
    "noise": {"n": (800, 50, 50_000, 50), "seed": (0, 0, 99, 1)},
}
SHAPE_KINDS = ["moons", "rings", "spirals", "line"]

def generator_key(kind: str, params: dict) -> str:
    body = ",".join(f"{k}={v}" for k, v in params.items())
    return f"gen:{kind}:{body}"


def _number(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text)
    if not match:
        raise InvalidScatterplot(f"'{text}' is not a point count such as 5000, 100k or 10M")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    n = int(float(match.group(1)) * scale)
    if not 3 <= n <= MAX_POINTS:
        raise InvalidScatterplot(f"point counts go from 3 to {MAX_POINTS:,}, not {n:,}")
    return n


def store_upload(plot: Scatterplot, raw: bytes) -> str:
    """Keep an uploaded plot where every server process finds it, so its URL can be shared and reloaded."""
    return uploads.save(plot, raw)


def resolve(key: str) -> Scatterplot:
    """The plot a data-set string names; raises InvalidScatterplot with a readable message."""
    if key.startswith("upload:"):
        plot = uploads.load(key)
        if plot is None:
            raise InvalidScatterplot("that upload is no longer on the server; please upload the file again")
        return plot
    if key.startswith("gen:"):
        _, kind, body = (key.split(":", 2) + [""])[:3]
        params = dict(item.split("=", 1) for item in body.split(",") if "=" in item)
        params = {k: _number(v) for k, v in params.items()}
        try:
            if int(params.get("n", 0)) > MAX_POINTS:
                raise InvalidScatterplot(f"generators go up to {MAX_POINTS:,} points")
            plot = data.generate.generate(kind, **params)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidScatterplot(f"bad generator parameter: {exc}") from None
        plot.name = key
        return plot
    match = re.fullmatch(r"gaussian-(\w+)", key)
    if match:
        n = parse_size(match.group(1))
        plot = gaussian_mixture(n, k=5, separation=4.0, density_range=2.0, seed=0)  # filled in place: lean at 10M
        plot.name = key
        return plot
    return data.load(key)


def load_job(key: str) -> jobs.Job:
    return jobs.submit(("dataset", key), lambda: resolve(key))


def method_params_key(params: dict | None) -> tuple:
    return tuple(sorted((params or {}).items()))


def labeling_job(dataset: str, plot: Scatterplot, method: str, params: dict | None = None) -> jobs.Job:
    return jobs.submit(("labels", dataset, method, method_params_key(params)),
                       lambda: jobs.run_method(plot.xy, method, params))


def clams_job(dataset: str, plot: Scatterplot) -> jobs.Job:
    return jobs.submit(("clams", dataset), lambda: jobs.run_clams(plot.xy))


NO_SELECTION = np.empty(0, dtype=np.int64)


def polygon_selection(xy: np.ndarray, xs, ys) -> np.ndarray:
    """Sorted indices of the points inside a polygon; points outside its bounding box are ruled
    out first, so a small lasso on a large plot tests few points."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    near = np.flatnonzero((xy[:, 0] >= xs.min()) & (xy[:, 0] <= xs.max())
                          & (xy[:, 1] >= ys.min()) & (xy[:, 1] <= ys.max()))
    return near[points_in_polygon(xy[near], xs, ys)].astype(np.int64)


class AppState(param.Parameterized):
    """What the session shows; the first five parameters travel in the URL."""

    page = param.Selector(objects=list(PAGES), default="explore")
    dataset = param.String(default="separated-blobs", doc="data-set string, see the module docs")
    color_by = param.Selector(objects=list(COLOR_CHOICES), default="density")
    methods = param.ListSelector(default=list(DEFAULT_METHODS), objects=list(METHOD_NAMES))
    metric = param.Selector(objects=["AMI", "ARI"], default="AMI")

    plot = param.ClassSelector(class_=Scatterplot, allow_None=True, doc="the loaded plot")
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
            plot = await job.result()
        except jobs.JobCancelled:
            return
        except InvalidScatterplot as exc:
            self._fail(str(exc))
            return
        finally:
            if self._load_job is job:
                self.loading = False
        if self._load_job is job:
            self.param.update(plot=plot, loaded=key, error="")

    def load_now(self):
        """Blocking load, for the first render and for tests."""
        try:
            self.param.update(plot=load_job(self.dataset).future.result(), loaded=self.dataset, error="")
        except InvalidScatterplot as exc:
            self._fail(str(exc))

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
        fmt = filename.rsplit(".", 1)[-1].lower() if "." in filename else None
        try:
            if fmt is None:
                raise InvalidScatterplot("the file has no extension; name it .csv, .tsv, .parquet, .json or .npy")
            plot = data.load(raw, x=x or None, y=y or None, label=label or None, format=fmt,
                             name=filename.rsplit(".", 1)[0])
            if len(plot) > MAX_POINTS:
                raise InvalidScatterplot(f"the dashboard shows up to {MAX_POINTS:,} points; this file has {len(plot):,}")
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
        self.param.update(plot=plot, loaded=key, dataset=key, error="")
        return key


class ExploreState(param.Parameterized):
    """The colouring and CLAMS results behind the Explore page."""

    app = param.ClassSelector(class_=AppState)
    labeling = param.Parameter(default=None, doc="jobs.Labeling for the current colour, or None")
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
                self.labeling = jobs.Labeling("reference", plot.reference_labels, 0.0,
                                              int(plot.reference_labels.max(initial=-1) + 1))
            return
        method = "clusternet" if color in ("clusternet", "agreement") else color
        if method in PERCEPTUAL and (reason := jobs.availability()["clusternet"]):
            self.message = f"ClusterNet is unavailable: {reason}."
            return
        await self._run(labeling_job(self.app.loaded, plot, method), f"Running {METHOD_NAMES[method]}", "labeling")

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
        job = jobs.submit(("selection", key, tuple(xs), tuple(ys)), lambda: polygon_selection(plot.xy, xs, ys))
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
        await self._run(clams_job(self.app.loaded, self.app.plot), "Running CLAMS", "clams")

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


class CompareState(param.Parameterized):
    """Labelings of several methods on the current plot, run one after another."""

    app = param.ClassSelector(class_=AppState)
    results = param.Dict(default={}, doc="method -> jobs.Labeling, for the plot in `for_dataset`")
    failures = param.Dict(default={}, doc="method -> why it produced no labels")
    for_dataset = param.String(default="")
    busy = param.String(default="")
    done = param.Integer(default=0)
    matrix = param.Parameter(default=None, doc="(names, agreement matrix) for app.metric, or None")
    kappa = param.Dict(default={}, doc="method -> kappa_alpha against the reference labelings")
    humans = param.Parameter(default=None, doc="(m, n) stored human annotations of the plot, or None")

    def __init__(self, **params):
        super().__init__(**params)
        self._job: jobs.Job | None = None
        self._cancelled = False

    async def run(self):
        plot, key, methods = self.app.plot, self.app.loaded, list(self.app.methods)
        if plot is None:
            return
        self._cancelled = False
        results, failures = {}, {}
        self.param.update(results={}, failures={}, done=0, for_dataset=key)
        availability = jobs.availability()
        for i, method in enumerate(methods):
            if self._cancelled:
                failures[method] = "cancelled"
                continue
            if method in PERCEPTUAL and availability["clusternet"]:
                failures[method] = f"unavailable: {availability['clusternet']}"
                continue
            self.busy = f"Running {METHOD_NAMES[method]} ({i + 1}/{len(methods)})"
            self._job = labeling_job(key, plot, method)
            try:
                results[method] = await self._job.result()
            except jobs.JobCancelled:
                failures[method] = "cancelled"
            except Exception as exc:  # one failing method must not lose the others
                failures[method] = f"failed: {exc}"
            self.done = i + 1
        self._job = None
        self.busy = "Looking for stored human annotations"
        # Not cached: annotations keep arriving while a study runs.
        humans = await asyncio.wrap_future(jobs.POOL.submit(jobs.stored_annotations, plot.xy))
        self.param.update(results=results, failures=failures, busy="", humans=humans if len(humans) else None)
        await self.score()

    @param.depends("app.metric", watch=True)
    async def score(self):
        """Agreement between all labelings (and kappa_alpha against several references)."""
        labelings = self.labelings()
        if len(labelings) < 2:
            self.param.update(matrix=None, kappa={})
            return
        # kappa_alpha needs several raters: stored human annotations first, else reference labelings.
        metric = self.app.metric
        refs = self.humans if self.humans is not None else self.app.plot.labelings
        names = tuple(labelings)

        def compute():
            matrix = jobs.agreement_matrix(labelings, metric)
            kappa = {}
            if refs is not None and len(refs) > 1:
                kappa = {METHOD_NAMES[m]: jobs.kappa_alpha(r.labels, refs) for m, r in self.results.items()}
            return matrix, kappa

        self.busy = f"Scoring agreement ({metric})"
        try:
            matrix, kappa = await jobs.submit(("agreement", self.for_dataset, names, metric), compute).result()
        finally:
            self.busy = ""
        self.param.update(matrix=(list(names), matrix), kappa=kappa)

    def cancel(self):
        self._cancelled = True
        if self._job is not None:
            self._job.cancel()

    def labelings(self) -> dict[str, np.ndarray]:
        """All labelings to compare: the methods', the stored annotators' majority, then the
        plot's reference labelings."""
        from perception.agreement import consensus

        out = {METHOD_NAMES[m]: r.labels for m, r in self.results.items()}
        if self.humans is not None and self.for_dataset == self.app.loaded:
            out[f"people (majority of {len(self.humans)})"] = consensus(self.humans)[0]
        plot = self.app.plot
        if plot is not None and plot.labels is not None and self.for_dataset == self.app.loaded:
            refs = plot.labelings
            for i, lab in enumerate(refs):
                out["reference" if len(refs) == 1 else f"reference {i + 1}"] = lab
        return out


SIMULATED_NOTE = ("ClusterNet and CLAMS were trained on generated plots labelled by *simulated observers*, "
                  "not by people: read their outputs as a model of perception, not as human judgement.")


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
