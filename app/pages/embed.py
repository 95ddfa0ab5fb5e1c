"""Embed: project a high-dimensional table, rank the projections by cluster ambiguity, open one."""
from __future__ import annotations

import panel as pn
import param

from data import InvalidScatterplot, Scatterplot
from data.tables import load_table, table_datasets
from models.embedding import REDUCERS
from perception.projection_search import Cancelled, search_projections

from .. import jobs, plots
from ..sources import store_upload
from ..state import AppState

TILE = 230
SHOWN = 9


class EmbedState(param.Parameterized):
    """One projection search: its inputs, progress and ranked results."""

    table = param.Selector(objects=table_datasets(), default="digits")
    methods = param.ListSelector(default=["pca", "tsne", "umap"], objects=list(REDUCERS))
    budget = param.Integer(default=4, bounds=(1, 24))
    max_rows = param.Integer(default=1500, bounds=(100, 20000))
    running = param.Boolean(default=False)
    progress = param.Number(default=None, allow_None=True, doc="fraction of the projections scored, None: unknown")
    progress_text = param.String(default="")
    result = param.Parameter(default=None)
    labels = param.Parameter(default=None)
    error = param.String(default="")

    def __init__(self, app: AppState, **params):
        super().__init__(**params)
        self.app = app
        self._job: jobs.Job | None = None

    async def run(self):
        if self.running:
            return
        if not self.methods:
            self.error = "choose at least one method"
            return
        self.param.update(running=True, progress=None, progress_text="", error="", result=None)
        name, max_rows, methods, budget = self.table, self.max_rows, tuple(self.methods), self.budget

        def search(progress: jobs.Progress):
            table = load_table(name, max_rows=max_rows)
            result = search_projections(table.X, table.labels, methods, budget, 0,
                                        lambda done, total, _row: progress(done / total,
                                                                           f"{done} of {total} projections scored"),
                                        progress.cancelled)
            return result, table.labels

        def show(fraction, text):
            # Called on the event loop: the params the page draws are never set from the worker thread.
            self.param.update(progress=fraction, progress_text=text)

        # One-off and cancellable: uncached, so cancel reaches the search itself.
        self._job = jobs.submit(("embed", name, methods, budget, max_rows), search, cache=False)
        try:
            result, labels = await self._job.result(poll=0.2, on_progress=show)
            self.param.update(result=result, labels=labels)
        except (Cancelled, jobs.JobCancelled):
            self.error = "search cancelled"
        except InvalidScatterplot as exc:
            self.error = str(exc)
        finally:
            self.running = False

    def cancel(self):
        if self._job is not None:
            self._job.cancel()

    def open_in_explore(self, trial: int):
        """Hand one projection to Explore/Compare as a plot of its own, labelled by class."""
        emb = self.result.embeddings[trial]
        row = self.result.ranking.set_index("trial").loc[trial]
        name = f"{self.table} {row['method']} ({row['params']})"
        plot = Scatterplot(emb, labels=self.labels, name=name, meta={"projection": dict(row.astype(str))})
        key = store_upload(plot, f"embed:{self.table}:{trial}:{self.max_rows}".encode() + emb.tobytes())
        self.app.param.update(plot=plot, loaded=key, dataset=key, error="", page="explore")


def _tile(st: EmbedState, row) -> pn.Column:
    emb = st.result.embeddings[int(row["trial"])]
    title = f"#{int(row['rank'])} {REDUCERS[row['method']].display_name}"
    caption = (f"**ambiguity {row['ambiguity']:.3f}** · trust {row['trustworthiness']:.2f} · "
               f"continuity {row['continuity']:.2f}" + (f" · class AMI {row['label_ami']:.2f}"
                                                      if "label_ami" in row else "")
               + f"<br><small>{row['params']}</small>")
    button = pn.widgets.Button(name="Open in Explore", width=TILE, css_classes=["vc-open-embedding"])
    button.on_click(lambda _event, trial=int(row["trial"]): st.open_in_explore(trial))
    labels = st.labels if st.labels is not None else None
    return pn.Column(pn.pane.HoloViews(plots.scatter(emb, labels=labels, title=title, size=TILE, tools=(),
                                                     legend=False)),
                     pn.pane.Markdown(caption, width=TILE), button, css_classes=["vc-embedding"])


def embed_view(app: AppState) -> pn.viewable.Viewable:
    st = EmbedState(app)
    controls = pn.Column(
        pn.widgets.Select.from_param(st.param.table, name="Table", css_classes=["vc-embed-table"]),
        pn.widgets.CheckBoxGroup.from_param(st.param.methods, inline=True, css_classes=["vc-embed-methods"]),
        pn.widgets.IntSlider.from_param(st.param.budget, name="Settings per method"),
        pn.widgets.IntInput.from_param(st.param.max_rows, name="Rows (seeded subsample)"),
    )
    run = pn.widgets.Button(name="Search projections", button_type="primary", css_classes=["vc-run-embed"])
    cancel = pn.widgets.Button(name="Cancel", button_type="warning", css_classes=["vc-cancel-embed"])
    run.on_click(lambda _event: pn.state.execute(st.run))
    cancel.on_click(lambda _event: st.cancel())

    @pn.depends(st.param.running, st.param.progress, st.param.progress_text, st.param.error)
    def status(running, progress, text, error):
        if error:
            return pn.pane.Alert(error, alert_type="warning", css_classes=["vc-embed-error"])
        if running:
            return pn.Column(pn.indicators.Progress(value=round(100 * (progress or 0)), max=100, width=300,
                                                    active=progress is None),
                             text or "Starting the search")
        return pn.pane.Markdown("")

    @pn.depends(st.param.result)
    def results(result):
        if result is None:
            return pn.pane.Markdown("Pick a table and press *Search projections*. Each method is tried "
                                    "at its default settings and then at evenly spread settings; every "
                                    "projection is ranked by its CLAMS cluster ambiguity (lower: people "
                                    "read its clusters more consistently).")
        ranking = result.ranking
        tiles = [_tile(st, row) for _, row in ranking.head(SHOWN).iterrows()]
        table = pn.widgets.Tabulator(ranking.drop(columns=[c for c in ranking if c not in (
            "rank", "method", "params", "ambiguity", "trustworthiness", "continuity", "label_ami", "seconds")]),
            show_index=False, disabled=True, height=260, sizing_mode="stretch_width")
        return pn.Column(pn.GridBox(*tiles, ncols=3), table, css_classes=["vc-embed-results"])

    return pn.Column("## Embed: projections people read consistently", pn.Row(
        pn.Column(controls, pn.Row(run, cancel), status, width=340), pn.Column(results, width=760)))
