"""The Compare page's controller: which methods ran on the plot, and their comparison.

It holds parameters and results only; labelling, the human majority, the reference choice and
the agreement scores are perception.compare's, run through app.jobs.
"""
from __future__ import annotations

import numpy as np
import param

from models import PERCEPTUAL
from perception import compare

from . import jobs
from .options import METHOD_NAMES
from .state import AppState


class CompareState(param.Parameterized):
    """Labelings of several methods on the current plot, run one after another."""

    app = param.ClassSelector(class_=AppState)
    results = param.Dict(default={}, doc="method -> perception.compare.Labeling, for the plot in `for_dataset`")
    failures = param.Dict(default={}, doc="method -> why it produced no labels")
    for_dataset = param.String(default="")
    busy = param.String(default="")
    done = param.Integer(default=0)
    humans = param.Parameter(default=None, doc="(m, n) stored human annotations of the plot, or None")
    reference = param.String(default=compare.AUTO, doc="what methods are scored against: 'auto', 'people', "
                             "'generator' or a method's name (see perception.compare.reference_raters)")
    tuned = param.Boolean(default=False, doc="add each classical method's tuned row: its best settings on this "
                          "plot, chosen on the reference (perception.compare.tuned_rows; an upper bound)")
    comparison = param.Parameter(default=None, doc="perception.compare.Comparison for app.metric, or None")
    matrix = param.Parameter(default=None, doc="(names, agreement matrix) for app.metric, or None")
    kappa = param.Dict(default={}, doc="method -> kappa_alpha against the reference's raters")

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
        self.param.update(results={}, failures={}, done=0, for_dataset=key, comparison=None)
        availability = jobs.availability()
        for i, method in enumerate(methods):
            if self._cancelled:
                failures[method] = "cancelled"
                continue
            if method in PERCEPTUAL and availability["clusternet"]:
                failures[method] = f"unavailable: {availability['clusternet']}"
                continue
            self.busy = f"Running {METHOD_NAMES[method]} ({i + 1}/{len(methods)})"
            self._job = jobs.labeling_job(key, plot, method)
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
        humans = await jobs.submit(("annotations", key), lambda _: jobs.stored_annotations(plot.xy),
                                   cache=False).result()
        self.param.update(results=results, failures=failures, busy="", humans=humans if len(humans) else None)
        await self.score()

    @param.depends("app.metric", "reference", "tuned", watch=True)
    async def score(self):
        """The comparison of the methods' labelings for the current metric and reference."""
        plot = self.app.plot
        if not self.results or plot is None or self.for_dataset != self.app.loaded:
            self.param.update(comparison=None, matrix=None, kappa={})
            return
        methods = {METHOD_NAMES[m]: r.labels for m, r in self.results.items()}
        humans, metric = self.humans, self.app.metric
        reference = METHOD_NAMES.get(self.reference, self.reference)
        if self.reference in METHOD_NAMES and reference not in methods:
            reference = compare.AUTO  # that method did not run this time
        # The people's shape stands for their annotations: enough to notice new ones arriving.
        key = ("compare", self.for_dataset, tuple(methods), None if humans is None else humans.shape, metric,
               reference, self.tuned)
        registry = {METHOD_NAMES[m]: m for m in self.results}
        tuned = self.tuned

        def run(progress):
            extra = compare.tuned_rows(plot.xy, methods, registry, reference, humans, plot.labelings,
                                       progress=progress) if tuned else {}
            return compare.compare({**methods, **extra}, humans, plot.labelings, metric, reference)

        self.busy = f"Tuning and scoring ({metric})" if tuned else f"Scoring agreement ({metric})"
        try:
            result = await jobs.submit(key, run).result()
        finally:
            self.busy = ""
        self.param.update(comparison=result, kappa=result.kappa,
                          matrix=None if result.matrix is None else (result.names, result.matrix))

    def cancel(self):
        self._cancelled = True
        if self._job is not None:
            self._job.cancel()

    def labelings(self) -> dict[str, np.ndarray]:
        """All labelings compared (the methods', the people's majority, the references), by name."""
        return {} if self.comparison is None else self.comparison.labelings
