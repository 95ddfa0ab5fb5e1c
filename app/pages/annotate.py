"""Annotate: people lasso the clusters they see, one plot at a time; admins watch agreement.

``annotate_view(query)`` picks the view from the URL parameters:
``study`` + ``token`` -> the annotator's task, ``study`` + ``admin`` -> the study's admin view,
no ``study`` -> a form that creates a study from bundled data sets.
"""
from __future__ import annotations

import io
import time
import uuid
from functools import lru_cache
from urllib.parse import urlencode

import numpy as np
import panel as pn
from bokeh.events import SelectionGeometry
from bokeh.models import ColumnDataSource, LassoSelectTool, Range1d, ResetTool, WheelZoomTool
from bokeh.plotting import figure

import data
from data.render import label_colors, points_in_polygon
from data.store import AnnotationStore, StoreError, default_url
from data.store_records import AlreadyAnnotated
from perception.study import annotator_stats, open_store

from .. import jobs

INSTRUCTIONS = """
### Which clusters do you see?
Draw around each group of points that you see as **one cluster** by holding the mouse button and
circling it (a lasso). Every lasso makes a new cluster with its own colour; lassoing points again moves
them to the new cluster. Points you leave grey belong to no cluster.
Use **Undo**/**Redo** or **Clear** to fix mistakes, **Submit** when the picture matches what you see,
or **No clusters** if you see none. There are no right or wrong answers: go with your first impression.
"""


@lru_cache(maxsize=4)
def _store(url: str) -> AnnotationStore:
    return open_store(url)


def get_store() -> AnnotationStore:
    """One store per process for the configured database (VISCLUST_DB_URL or the default file)."""
    return _store(default_url())


def _param(query: dict, name: str) -> str | None:
    """A URL parameter as text, whether given as str, bytes or Bokeh's list of bytes."""
    value = query.get(name)
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value or None


def _refusal(message: str):
    return pn.pane.Alert(message, alert_type="danger", css_classes=["vc-refusal"])


def annotate_view(query: dict):
    """The Annotate page for the URL parameters ``query`` (study, token, admin)."""
    study, token, admin = (_param(query, k) for k in ("study", "token", "admin"))
    try:
        store = get_store()
    except Exception as exc:  # noqa: BLE001 - a broken database URL must not take the app down
        return _refusal(f"The annotation database cannot be opened: {type(exc).__name__}")
    if study is None:
        return create_form(store)
    try:
        study_id = int(study)
    except ValueError:
        return _refusal("This link is not valid: the study number is malformed.")
    if admin is not None:
        if not store.verify_admin(study_id, admin):
            return _refusal("This admin link is not valid for this study.")
        return admin_view(store, study_id)
    who = store.annotator_for_token(study_id, token) if token else None
    if who is None:
        return _refusal("This link is not valid: ask the study's organiser for your personal link.")
    return AnnotatorSession(store, study_id, who).view


def _links(study_id: int, admin_token: str, tokens: list[str]) -> str:
    def link(**params):
        return "?" + urlencode({"page": "annotate", "study": study_id, **params})

    lines = [f"**Study {study_id}** created.", "", f"- Admin: [{link(admin=admin_token)}]({link(admin=admin_token)})"]
    lines += [f"- Annotator {i}: [{link(token=t)}]({link(token=t)})" for i, t in enumerate(tokens, 1)]
    lines += ["", "Keep these links: the tokens are not stored and cannot be shown again."]
    return "\n".join(lines)


def create_form(store: AnnotationStore):
    name = pn.widgets.TextInput(name="Study name", value="my study", width=300)
    plots = pn.widgets.MultiChoice(name="Plots", options=data.datasets(), value=data.datasets()[5:9], width=500)
    per = pn.widgets.IntInput(name="Plots per annotator (0 = all)", value=0, start=0, width=220)
    people = pn.widgets.IntInput(name="Annotator links", value=3, start=0, end=200, width=220)
    button = pn.widgets.Button(name="Create study", button_type="primary", css_classes=["vc-create-study"])
    out = pn.pane.Markdown(css_classes=["vc-study-links"])

    def create(_):
        try:
            info = store.create_study(name.value, plots.value, per_annotator=per.value or None)
            tokens = [store.add_annotator(info) for _ in range(people.value)]
        except ValueError as exc:  # StoreError and InvalidScatterplot both carry a readable message
            out.object = f"**Not created:** {exc}"
            return
        out.object = _links(info.id, info.admin_token, tokens)

    button.on_click(create)
    return pn.Column("### Create an annotation study", name, plots, pn.Row(per, people), button, out)


class AnnotatorSession:
    """One annotator working through their plots in one browser tab."""

    def __init__(self, store: AnnotationStore, study_id: int, who):
        self.store, self.study_id, self.who = store, study_id, who
        self.source = ColumnDataSource({"x": [], "y": [], "color": []})
        self.figure = self._figure()
        self.lassos: list[dict] = []
        self.progress = pn.indicators.Progress(value=0, max=1, width=560, css_classes=["vc-progress"])
        self.caption = pn.pane.Markdown(css_classes=["vc-plot-caption"])
        self.message = pn.pane.Markdown(css_classes=["vc-message"])
        buttons = {name: pn.widgets.Button(name=name, css_classes=[f"vc-{name.lower().replace(' ', '-')}"],
                                           button_type=kind)
                   for name, kind in [("Undo", "default"), ("Redo", "default"), ("Clear", "default"),
                                      ("No clusters", "warning"), ("Submit", "primary")]}
        for name, handler in [("Undo", self.undo), ("Redo", self.redo), ("Clear", self.clear),
                              ("No clusters", self.no_clusters), ("Submit", self.submit)]:
            buttons[name].on_click(lambda _, h=handler: h())
        self.buttons = buttons
        self.workspace = pn.Column(self.caption, pn.pane.Bokeh(self.figure, css_classes=["vc-lasso-plot"]),
                                   pn.Row(*buttons.values()))
        self.view = pn.Column(pn.pane.Markdown(INSTRUCTIONS), self.progress, self.message, self.workspace,
                              css_classes=["vc-annotate"])
        # The lasso polygon (data coordinates) is the source of truth: points inside it are
        # computed here, so a replay from the stored polygon matches what was labelled.
        self.figure.on_event(SelectionGeometry, self._on_lasso)
        self._load_next()

    def _figure(self):
        fig = figure(frame_width=560, frame_height=560, x_range=Range1d(0, 1), y_range=Range1d(0, 1),
                     tools="", toolbar_location=None, min_border=0)
        # continuous=False: the selection is sent once, when the mouse button is released.
        lasso = LassoSelectTool(continuous=False)
        self.zoom_tools = [WheelZoomTool(), ResetTool()]
        fig.add_tools(lasso, *self.zoom_tools)
        fig.toolbar.active_drag = lasso
        fig.axis.visible = False
        fig.grid.visible = False
        self.renderer = fig.scatter("x", "y", source=self.source, color="color", size=5, alpha=0.85)
        # Selection only feeds the lasso logic; colours come from the cluster labels.
        self.renderer.selection_glyph = None
        self.renderer.nonselection_glyph = None
        return fig

    def _apply(self, settings):
        """The plot's stored render settings, identical for every annotator."""
        fig, glyph = self.figure, self.renderer.glyph
        fig.frame_width, fig.frame_height = int(settings.width), int(settings.height)
        fig.x_range.start, fig.x_range.end = settings.x_range
        fig.y_range.start, fig.y_range.end = settings.y_range
        fig.x_range.reset_start, fig.x_range.reset_end = settings.x_range
        fig.y_range.reset_start, fig.y_range.reset_end = settings.y_range
        glyph.size = float(settings.point_size)
        glyph.fill_alpha = glyph.line_alpha = float(settings.opacity)
        for tool in self.zoom_tools:
            tool.visible = bool(settings.zoom)
        fig.toolbar.active_scroll = self.zoom_tools[0] if settings.zoom else None
        fig.toolbar_location = "right" if settings.zoom else None

    # --- state ---------------------------------------------------------------------------

    def _load_next(self):
        self.task = self.store.next_plot(self.study_id, self.who)
        done = self.store.progress(self.study_id, self.who)
        self.progress.max, self.progress.value = max(done.total, 1), done.done
        if self.task is None:
            self.workspace.visible = False
            self.message.object = f"**All done ({done.done} of {done.total} plots). Thank you!**"
            return
        self.xy, self.settings = self.task.shown_xy, self.task.render
        # Drawn in the stored shuffled order, so the same points cover the same others for everyone.
        self.order = self.settings.order(len(self.xy))
        self.labels = np.full(len(self.xy), -1, dtype=np.int64)
        self.lassos = []
        self.undo_stack, self.redo_stack = [], []
        # One key per plot view: a double click or a retried request stores the labelling once.
        self.key, self.started = uuid.uuid4().hex, time.monotonic()
        self._apply(self.settings)
        self.source.data = {"x": self.xy[self.order, 0], "y": self.xy[self.order, 1], "color": self._colors()}
        self.caption.object = f"Plot {done.done + 1} of {done.total}"
        self.workspace.visible = True

    def _colors(self) -> list[str]:
        return label_colors(self.labels[self.order], self.settings)

    def _paint(self):
        self.source.data = {**self.source.data, "color": self._colors()}

    def _set(self, labels: np.ndarray, lassos: list[dict]):
        self.undo_stack.append((self.labels, self.lassos))
        self.redo_stack.clear()
        self.labels, self.lassos = labels, lassos
        self._paint()

    def _on_lasso(self, event):
        geometry = event.geometry or {}
        if self.task is None or geometry.get("type") != "poly" or not event.final:
            return
        self.lasso(geometry["x"], geometry["y"])
        self.source.selected.indices = []

    def lasso(self, px, py):
        """A lasso drawn around the polygon (px, py) in data coordinates: its points form a new cluster."""
        inside = points_in_polygon(self.xy, px, py)
        if not inside.any():
            return
        labels = self.labels.copy()
        labels[inside] = labels.max() + 1 if len(labels) else 0
        lasso = {"cluster": int(labels.max()), "x": [float(v) for v in px], "y": [float(v) for v in py]}
        self._set(labels, self.lassos + [lasso])

    def undo(self):
        if self.undo_stack:
            self.redo_stack.append((self.labels, self.lassos))
            self.labels, self.lassos = self.undo_stack.pop()
            self._paint()

    def redo(self):
        if self.redo_stack:
            self.undo_stack.append((self.labels, self.lassos))
            self.labels, self.lassos = self.redo_stack.pop()
            self._paint()

    def clear(self):
        if (self.labels >= 0).any():
            self._set(np.full_like(self.labels, -1), [])

    def no_clusters(self):
        # Through the undo stack, so a submission that fails leaves the lassos recoverable.
        self._set(np.full_like(self.labels, -1), [])
        self.submit()

    def _viewport(self) -> dict | None:
        if not self.settings.zoom:
            return None
        fig = self.figure
        return {"x": [fig.x_range.start, fig.x_range.end], "y": [fig.y_range.start, fig.y_range.end]}

    def submit(self):
        if self.task is None:
            return
        labels = _consecutive(self.labels)
        full = labels if self.task.shown is None else np.full(len(self.task.xy), -1, dtype=np.int64)
        if self.task.shown is not None:
            full[self.task.shown] = labels
        # Lassos get the renumbered cluster they created (-1 where later lassos took all its points).
        renumber = {int(old): int(new) for old, new in zip(self.labels, labels)}
        lassos = [{**lasso, "cluster": renumber.get(lasso["cluster"], -1)} for lasso in self.lassos]
        try:
            self.store.submit(self.study_id, self.task.plot_id, self.who, full, key=self.key,
                              seconds=time.monotonic() - self.started, viewport=self._viewport(),
                              lassos=lassos)
        except AlreadyAnnotated:
            self.message.object = "That plot had already been submitted (from another tab?); here is the next one."
        except StoreError as exc:
            self.message.object = f"**Could not save:** {exc}"
            return
        else:
            self.message.object = ""
        self._load_next()


def _consecutive(labels: np.ndarray) -> np.ndarray:
    """Clusters renumbered 0..k-1 in order of creation (a lasso may have emptied an earlier one)."""
    out = np.full_like(labels, -1)
    for new, old in enumerate(np.unique(labels[labels >= 0])):
        out[labels == old] = new
    return out


# --- admin -------------------------------------------------------------------------------

def _metric(fn, *args) -> str:
    try:
        return f"{float(fn(*args)):.3f}"
    except Exception as exc:  # noqa: BLE001 - one failing metric must not hide the table
        return f"error ({type(exc).__name__})"


def _agreement_cells(labelings) -> dict:
    from perception import agreement

    if len(labelings) < 2:
        return {"human ambiguity": "needs 2 annotations", "Krippendorff alpha": "needs 2 annotations"}
    return {"human ambiguity": _metric(agreement.human_ambiguity, labelings),
            "Krippendorff alpha": _metric(agreement.krippendorff_alpha, labelings)}


def plot_table(store: AnnotationStore, study_id: int, with_clams: bool = False, exclude_flagged: bool = False):
    """Per plot: annotations, human ambiguity, Krippendorff's alpha and (on request) CLAMS."""
    import pandas as pd

    from perception.clams import CLAMS

    rows = []
    for summary in store.plots(study_id):
        labelings = store.labelings(study_id, summary.plot_id, exclude_flagged=exclude_flagged)
        row = {"plot": summary.name, "points": summary.n_points, "annotations": len(labelings),
               **_agreement_cells(labelings)}
        row["CLAMS"] = (_metric(CLAMS().score, store.plot(study_id, summary.plot_id).xy) if with_clams
                        else "not computed")
        rows.append(row)
    return pd.DataFrame(rows)


def variant_table(store: AnnotationStore, study_id: int, exclude_flagged: bool = False):
    """Agreement broken down by render variant: mean over plots with 2+ annotations under it."""
    import pandas as pd

    from perception import agreement

    info = store.study(study_id)
    rows = []
    for v, settings in enumerate(info.render_variants):
        ambiguity, alpha, n = [], [], 0
        for summary in store.plots(study_id):
            labelings = store.labelings(study_id, summary.plot_id, exclude_flagged=exclude_flagged, variant=v)
            n += len(labelings)
            if len(labelings) >= 2:
                ambiguity.append(agreement.human_ambiguity(labelings))
                alpha.append(agreement.krippendorff_alpha(labelings))
        rows.append({"variant": settings.name, "point size": settings.point_size, "opacity": settings.opacity,
                     "canvas": f"{settings.width}x{settings.height}", "annotations": n,
                     "mean human ambiguity": f"{np.mean(ambiguity):.3f}" if ambiguity else "needs 2 annotations",
                     "mean Krippendorff alpha": f"{np.mean(alpha):.3f}" if alpha else "needs 2 annotations"})
    return pd.DataFrame(rows)


def annotator_table(store: AnnotationStore, study_id: int, exclude_flagged: bool = False):
    """Per annotator: time per plot, leave-one-out kappa_alpha, attention-check score, flag."""
    import pandas as pd

    def fmt(value, spec):
        return "n/a" if value is None else format(value, spec)

    return pd.DataFrame([{"annotator": a.name, "annotations": a.annotations,
                          "median s per plot": fmt(a.median_seconds, ".1f"),
                          "leave-one-out kappa_alpha": fmt(a.loo_kappa_alpha, ".3f"),
                          "attention check (AMI)": fmt(a.attention_score, ".2f"),
                          "flagged": "yes" if a.flagged else ""}
                         for a in annotator_stats(store, study_id, exclude_flagged=exclude_flagged)])


def routing_summary(store: AnnotationStore, study_id: int) -> str:
    """The annotations used against a balanced allocation giving every plot as many as the busiest one."""
    info, plots = store.study(study_id), store.plots(study_id)
    used = sum(p.n_annotations for p in plots)
    balanced = len(plots) * max((p.n_annotations for p in plots), default=0)
    line = f"Policy **{info.policy}**"
    if info.policy == "ambiguity":
        line += f" (stop at a 90% interval narrower than {info.target_width:g})"
    if info.policy == "ambiguity" and used and balanced > used:
        line += (f": {used} annotations; a balanced allocation reaching the same per-plot counts would need "
                 f"{balanced} ({1 - used / balanced:.0%} saved).")
    else:
        line += f": {used} annotations."
    return line


def admin_view(store: AnnotationStore, study_id: int):
    info = store.study(study_id)
    exclude = pn.widgets.Checkbox(name="Exclude annotators flagged by attention checks", value=False,
                                  css_classes=["vc-exclude-flagged"])
    table = pn.pane.DataFrame(plot_table(store, study_id), index=False, css_classes=["vc-admin-table"])
    variants = pn.pane.DataFrame(variant_table(store, study_id), index=False, css_classes=["vc-variant-table"])
    people = pn.pane.DataFrame(annotator_table(store, study_id), index=False, css_classes=["vc-annotator-table"])
    routing = pn.pane.Markdown(routing_summary(store, study_id), css_classes=["vc-routing"])

    def export_csv():
        buffer = io.StringIO()
        store.export_frame(study_id, exclude_flagged=exclude.value).to_csv(buffer, index=False)
        return io.BytesIO(buffer.getvalue().encode("utf-8"))

    download = pn.widgets.FileDownload(callback=export_csv, filename=f"study-{study_id}-annotations.csv",
                                       label="Download annotations (CSV)", button_type="primary",
                                       css_classes=["vc-export"])
    refresh = pn.widgets.Button(name="Refresh", css_classes=["vc-refresh"])
    clams = pn.widgets.Button(name="Compute CLAMS scores", css_classes=["vc-clams"])

    def update():
        table.object = plot_table(store, study_id, exclude_flagged=exclude.value)
        variants.object = variant_table(store, study_id, exclude_flagged=exclude.value)
        people.object = annotator_table(store, study_id, exclude_flagged=exclude.value)
        routing.object = routing_summary(store, study_id)

    refresh.on_click(lambda _: update())
    async def compute_clams(_):
        # CLAMS takes seconds per plot: off the event loop, through the app's job runner.
        exclude_flagged = exclude.value
        job = jobs.submit(("admin-clams", study_id), lambda _: plot_table(
            store, study_id, with_clams=True, exclude_flagged=exclude_flagged), cache=False)
        clams.loading = True
        try:
            frame = await job.result()
        finally:
            clams.loading = False
        update()
        table.object = frame

    clams.on_click(compute_clams)
    exclude.param.watch(lambda _: update(), "value")
    add = pn.widgets.Button(name="Add annotator link", css_classes=["vc-add-annotator"])
    links = pn.pane.Markdown()

    def add_annotator(_):
        token = store.add_annotator(study_id)
        link = "?" + urlencode({"page": "annotate", "study": study_id, "token": token})
        links.object += f"\n- [{link}]({link})"

    add.on_click(add_annotator)
    per = f"{info.per_annotator} plots per annotator" if info.per_annotator else "every plot for each annotator"
    return pn.Column(f"### Study {info.id}: {info.name}",
                     f"{info.n_plots} plots, {per}, {len(store.annotators(study_id))} annotators, "
                     f"{len(store.annotations(study_id))} annotations, attention checks at rate "
                     f"{info.attention_rate:g}.",
                     pn.Row(download, refresh, clams, add), exclude, routing, table,
                     "#### Agreement by render setting", variants, "#### Annotators", people,
                     replay_panel(store, study_id), links, css_classes=["vc-admin"])


def replay_panel(store: AnnotationStore, study_id: int):
    """Pick an annotation; see the plot exactly as its annotator saw it (data.render.render_png)."""
    # Names need not be unique: the annotator id keeps every annotation selectable.
    choices = {f"{r.annotator} (#{r.annotator_id}) - plot {r.plot_id}": (r.plot_id, r.annotator_id)
               for r in store.annotations(study_id)}
    select = pn.widgets.Select(name="Annotation", options=list(choices), css_classes=["vc-replay-select"])
    image = pn.pane.PNG(None, css_classes=["vc-replay"])

    def show(*_):
        if select.value in choices:
            image.object = store.replay(study_id, *choices[select.value])

    select.param.watch(show, "value")
    show()
    return pn.Column("#### Replay: what the annotator saw", select, image)
