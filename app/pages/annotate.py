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
from bokeh.models import ColumnDataSource, LassoSelectTool, Range1d
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

import data
from data.store import AlreadyAnnotated, AnnotationStore, StoreError, default_url

SIZE = 560        # plot frame in pixels; square, so the plot keeps its aspect
PAD = 0.55        # display coordinates lie in [-0.5, 0.5]; a margin keeps edge points lassoable
UNLASSOED = "#b3b3b3"
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
    return AnnotationStore(url)


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
        self.progress = pn.indicators.Progress(value=0, max=1, width=SIZE, css_classes=["vc-progress"])
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
        self.source.selected.on_change("indices", self._on_lasso)
        self._load_next()

    def _figure(self):
        fig = figure(frame_width=SIZE, frame_height=SIZE, x_range=Range1d(-PAD, PAD), y_range=Range1d(-PAD, PAD),
                     tools="", toolbar_location=None, min_border=0, match_aspect=True)
        # continuous=False: the selection is sent once, when the mouse button is released.
        lasso = LassoSelectTool(continuous=False)
        fig.add_tools(lasso)
        fig.toolbar.active_drag = lasso
        fig.axis.visible = False
        fig.grid.visible = False
        renderer = fig.scatter("x", "y", source=self.source, color="color", size=5, alpha=0.85)
        # Selection only feeds the lasso logic; colours come from the cluster labels.
        renderer.selection_glyph = None
        renderer.nonselection_glyph = None
        return fig

    # --- state ---------------------------------------------------------------------------

    def _load_next(self):
        self.task = self.store.next_plot(self.study_id, self.who)
        done = self.store.progress(self.study_id, self.who)
        self.progress.max, self.progress.value = max(done.total, 1), done.done
        if self.task is None:
            self.workspace.visible = False
            self.message.object = f"**All done ({done.done} of {done.total} plots). Thank you!**"
            return
        xy = self.task.xy if self.task.shown is None else self.task.xy[self.task.shown]
        shown = data.display_normalize(xy)
        self.labels = np.full(len(xy), -1, dtype=np.int64)
        self.undo_stack, self.redo_stack = [], []
        # One key per plot view: a double click or a retried request stores the labelling once.
        self.key, self.started = uuid.uuid4().hex, time.monotonic()
        self.source.data = {"x": shown[:, 0], "y": shown[:, 1], "color": self._colors()}
        self.caption.object = f"Plot {done.done + 1} of {done.total}"
        self.workspace.visible = True

    def _colors(self) -> list[str]:
        return [UNLASSOED if c < 0 else Category10_10[c % 10] for c in self.labels]

    def _paint(self):
        self.source.data = {**self.source.data, "color": self._colors()}

    def _set(self, labels: np.ndarray):
        self.undo_stack.append(self.labels)
        self.redo_stack.clear()
        self.labels = labels
        self._paint()

    def _on_lasso(self, _attr, _old, new):
        if not new or self.task is None:
            return
        labels = self.labels.copy()
        labels[np.asarray(new, dtype=np.int64)] = labels.max() + 1 if len(labels) else 0
        self._set(labels)
        self.source.selected.indices = []

    def undo(self):
        if self.undo_stack:
            self.redo_stack.append(self.labels)
            self.labels = self.undo_stack.pop()
            self._paint()

    def redo(self):
        if self.redo_stack:
            self.undo_stack.append(self.labels)
            self.labels = self.redo_stack.pop()
            self._paint()

    def clear(self):
        if (self.labels >= 0).any():
            self._set(np.full_like(self.labels, -1))

    def no_clusters(self):
        self.labels = np.full_like(self.labels, -1)
        self.submit()

    def submit(self):
        if self.task is None:
            return
        labels = _consecutive(self.labels)
        full = labels if self.task.shown is None else np.full(len(self.task.xy), -1, dtype=np.int64)
        if self.task.shown is not None:
            full[self.task.shown] = labels
        try:
            self.store.submit(self.study_id, self.task.plot_id, self.who, full, key=self.key,
                              seconds=time.monotonic() - self.started)
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

def _agreement():
    try:
        from perception import agreement
    except ImportError:
        return None
    return agreement


def _clams():
    try:
        from perception.clams import CLAMS
    except ImportError:
        return None
    return CLAMS


def _metric(fn, *args) -> str:
    try:
        return f"{float(fn(*args)):.3f}"
    except Exception as exc:  # noqa: BLE001 - one failing metric must not hide the table
        return f"error ({type(exc).__name__})"


def plot_table(store: AnnotationStore, study_id: int, with_clams: bool = False):
    """Per plot: annotations, human ambiguity, Krippendorff's alpha and (on request) CLAMS."""
    import pandas as pd

    agreement, clams = _agreement(), _clams() if with_clams else None
    rows = []
    for summary in store.plots(study_id):
        row = {"plot": summary.name, "points": summary.n_points, "annotations": summary.n_annotations}
        labelings = store.labelings(study_id, summary.plot_id)
        if agreement is None:
            row["human ambiguity"] = row["Krippendorff alpha"] = "unavailable"
        elif len(labelings) < 2:
            row["human ambiguity"] = row["Krippendorff alpha"] = "needs 2 annotations"
        else:
            row["human ambiguity"] = _metric(agreement.human_ambiguity, labelings)
            row["Krippendorff alpha"] = _metric(agreement.krippendorff_alpha, labelings)
        if not with_clams:
            row["CLAMS"] = "not computed"
        elif clams is None:
            row["CLAMS"] = "unavailable"
        else:
            row["CLAMS"] = _metric(clams().score, store.plot(study_id, summary.plot_id).xy)
        rows.append(row)
    return pd.DataFrame(rows)


def admin_view(store: AnnotationStore, study_id: int):
    info = store.study(study_id)
    table = pn.pane.DataFrame(plot_table(store, study_id), index=False, css_classes=["vc-admin-table"])

    def export_csv():
        buffer = io.StringIO()
        store.export_frame(study_id).to_csv(buffer, index=False)
        return io.BytesIO(buffer.getvalue().encode("utf-8"))

    download = pn.widgets.FileDownload(callback=export_csv, filename=f"study-{study_id}-annotations.csv",
                                       label="Download annotations (CSV)", button_type="primary",
                                       css_classes=["vc-export"])
    refresh = pn.widgets.Button(name="Refresh", css_classes=["vc-refresh"])
    clams = pn.widgets.Button(name="Compute CLAMS scores", css_classes=["vc-clams"])
    refresh.on_click(lambda _: setattr(table, "object", plot_table(store, study_id)))
    clams.on_click(lambda _: setattr(table, "object", plot_table(store, study_id, with_clams=True)))
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
                     f"{len(store.annotations(study_id))} annotations.",
                     pn.Row(download, refresh, clams, add), table, links, css_classes=["vc-admin"])
