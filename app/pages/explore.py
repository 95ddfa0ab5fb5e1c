"""Explore: pick or upload a plot, colour it by a method, and read CLAMS's ambiguity."""
from __future__ import annotations

import io
from functools import partial

import holoviews as hv
import panel as pn

import data
from data.gallery import GALLERY, REAL

from .. import plots
from ..explore_state import ExploreState
from ..options import COLOR_CHOICES, GENERATORS, METHOD_NAMES, SHAPE_KINDS, SIMULATED_NOTE
from ..sources import generator_key
from ..state import AppState, two_way

LARGE = ["gaussian-1M", "gaussian-10M"]
UPLOAD_FORMATS = ".csv,.tsv,.txt,.parquet,.pq,.json,.npy,.npz"
NO_LABEL = "(none)"
OTHER = "(from the generator or an upload)"
TOOLS = ("box_select", "lasso_select")


def ambiguity_reading(score: float) -> str:
    """CLAMS's score in plain words (0 = everyone sees the same clusters)."""
    if score < 0.2:
        return "clear: most people would see the same clusters"
    if score < 0.5:
        return "somewhat ambiguous: people may disagree whether some groups are one cluster or two"
    return "highly ambiguous: expect people to split this plot in different ways"


def _gallery(app: AppState):
    named = data.datasets() + LARGE
    options = {"Real data": list(REAL), "Generated gallery": list(GALLERY), "Large (speed check)": LARGE,
               "Other": [OTHER]}
    select = pn.widgets.Select(name="Plot", groups=options, css_classes=["vc-dataset"], width=260)

    def to_select(*_):
        select.value = app.dataset if app.dataset in named else OTHER

    def from_select(event):
        if event.new != OTHER and event.new != app.dataset:
            app.dataset = event.new

    to_select()
    select.param.watch(from_select, "value")
    app.param.watch(to_select, "dataset")
    return pn.Column(select, name="Gallery")


def _generator(app: AppState):
    kind = pn.widgets.Select(name="Generator", options=list(GENERATORS), value="blobs", width=260,
                             css_classes=["vc-generator"])
    shape = pn.widgets.Select(name="Shape", options=SHAPE_KINDS, width=260)
    sliders = pn.Column()
    button = pn.widgets.Button(name="Generate", button_type="primary", css_classes=["vc-generate"], width=260)

    def build(_=None):
        widgets = []
        for pname, (default, low, high, step) in GENERATORS[kind.value].items():
            cls = pn.widgets.IntSlider if isinstance(default, int) else pn.widgets.FloatSlider
            widgets.append(cls(name=pname, start=low, end=high, step=step, value=default, width=240))
        sliders.objects = widgets
        shape.visible = kind.value == "shapes"

    def generate(_):
        params = {w.name: w.value for w in sliders.objects}
        if kind.value == "shapes":
            params = {"kind": shape.value, **params}
        app.dataset = generator_key(kind.value, params)

    kind.param.watch(build, "value")
    button.on_click(generate)
    build()
    return pn.Column(kind, shape, sliders, button, name="Generate")


def _upload(app: AppState):
    file_input = pn.widgets.FileInput(accept=UPLOAD_FORMATS, css_classes=["vc-upload"], width=260)
    x = pn.widgets.Select(name="x column", width=125, disabled=True)
    y = pn.widgets.Select(name="y column", width=125, disabled=True)
    label = pn.widgets.Select(name="label column", width=260, disabled=True)
    pickers = (x, y, label)
    populating = [False]

    def parse(columns=None):
        if not file_input.value:
            return
        ok = app.upload(file_input.value, file_input.filename or "upload", **(columns or {}))
        if ok and columns is None:
            cols = app.plot.meta.get("columns")
            populating[0] = True
            try:
                for widget in pickers:
                    widget.disabled = not cols
                if cols:
                    x.options, y.options, label.options = cols, cols, [NO_LABEL] + cols
                    x.value, y.value = app.plot.meta["x"], app.plot.meta["y"]
                    label.value = app.plot.meta.get("label", NO_LABEL)
            finally:
                populating[0] = False

    def repick(_):
        if not populating[0]:
            parse({"x": x.value, "y": y.value, "label": None if label.value == NO_LABEL else label.value})

    file_input.param.watch(lambda _: parse(), "value")
    for widget in pickers:
        widget.param.watch(repick, "value")
    hint = pn.pane.Markdown("CSV, TSV, Parquet, JSON or NumPy; a column named *label*/*cluster* is "
                            "used as reference labels.", width=260)
    return pn.Column(file_input, hint, pn.Row(x, y), label, name="Upload")


def _figure(app: AppState, st: ExploreState, show_clams: bool, on_box, on_lasso, outline):
    plot, lab = app.plot, st.labeling
    if plot is None:
        return hv.Div("")
    title = plot.name or app.loaded
    if lab is not None and lab.method != "reference":
        plural = "" if lab.n_clusters == 1 else "s"
        name = METHOD_NAMES.get(lab.method, lab.method)
        title += f" · {name} ({lab.runtime:.2f} s, {lab.n_clusters} cluster{plural})"
    if app.lazy is not None:
        element = _lazy_figure(app, st, title)
    elif lab is not None and app.color_by == "agreement" and lab.values is not None:
        element = plots.scatter(plot.xy, values=lab.values, title=title, tools=TOOLS)
    elif lab is not None:
        element = plots.scatter(plot.xy, labels=lab.labels, title=title, tools=TOOLS)
    else:
        element = plots.scatter(plot.xy, title=title, tools=TOOLS)
    hv.streams.BoundsXY(source=element).add_subscriber(on_box)
    hv.streams.Lasso(source=element).add_subscriber(on_lasso)
    if show_clams and st.clams is not None:
        element = element * plots.clams_overlay(st.clams)
    return element * hv.DynamicMap(_outline, streams=[outline])


def _lazy_figure(app: AppState, st: ExploreState, title: str):
    """A Dask-backed plot: every view aggregates all its points; colours once every point is labelled."""
    lazy, lab = app.lazy, st.labeling
    if st.labelled is not None and lab is not None:
        table = plots.labelled_frame(st.labelled, lab.n_clusters)
        return plots.scatter_lazy(table, lazy.extent, lab.labels, title=title, tools=TOOLS)
    return plots.scatter_lazy(lazy.frame, lazy.extent, title=title, tools=TOOLS)


def sample_note(app: AppState) -> str:
    """What a Dask-backed plot's methods and CLAMS run on, for the page ('' for an in-memory plot)."""
    if app.lazy is None:
        return ""
    return (f" · read through Dask; methods and CLAMS run on a seeded subsample of {len(app.plot):,} points, "
            "their labels carried to every point by nearest neighbour")


def _outline(data):
    """The last selection's polygon, drawn over the plot (a selection made from Python shows too)."""
    return hv.Path([data] if data else []).opts(color="#e4572e", line_width=2, line_dash="dashed")


def export_selection(st: ExploreState, suffix: str) -> io.BytesIO:
    """Row indices and coordinates of the selected points, as CSV or Parquet."""
    buffer = io.BytesIO()
    table = st.selection_table()
    table.to_csv(buffer, index=False) if suffix == ".csv" else table.to_parquet(buffer, index=False)
    buffer.seek(0)
    return buffer


def _selection_tools(app: AppState, st: ExploreState):
    """Export the selection, or open it as a plot of its own."""
    csv = pn.widgets.FileDownload(callback=lambda: export_selection(st, ".csv"), filename="selection.csv",
                                  label="Selection (CSV)", css_classes=["vc-sel-csv"], width=150)
    parquet = pn.widgets.FileDownload(callback=lambda: export_selection(st, ".parquet"),
                                      filename="selection.parquet", label="Selection (Parquet)", width=150)
    open_button = pn.widgets.Button(name="Open selection as a plot", width=200, css_classes=["vc-sel-open"])
    open_button.on_click(lambda _: app.show(st.selection_plot()))
    row = pn.Row(csv, parquet, open_button, visible=False)

    def on_selection(*_):
        row.visible = len(st.selection) >= 3  # a plot needs three points
    st.param.watch(on_selection, "selection")
    return row


def explore_view(app: AppState, st: ExploreState | None = None, sources: bool = True) -> pn.viewable.Viewable:
    """The Explore page; ``sources=False`` leaves out the gallery, generator and upload (for a
    notebook, where the plot comes from Python)."""
    st = st or ExploreState(app=app)
    source_tabs = pn.Tabs(_gallery(app), _generator(app), _upload(app), dynamic=True, width=290) if sources else None
    error = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["vc-error"], width=600)
    color = pn.widgets.Select(name="Colour by", options={v: k for k, v in COLOR_CHOICES.items()}, width=260,
                              css_classes=["vc-color"])
    two_way(color, app, "color_by")
    show_clams = pn.widgets.Checkbox(name="Show CLAMS components on the plot", value=True)
    clams_button = pn.widgets.Button(name="Run CLAMS", width=260, css_classes=["vc-clams"])
    spinner = pn.indicators.LoadingSpinner(value=True, size=22, visible=False, name="")
    busy_text = pn.pane.Str("", css_classes=["vc-busy"])
    cancel = pn.widgets.Button(name="Cancel", button_type="warning", visible=False, width=90,
                               css_classes=["vc-cancel"])
    message = pn.pane.Alert("", alert_type="warning", visible=False, width=600, css_classes=["vc-message"])
    count = pn.pane.Markdown("", css_classes=["vc-count"])
    ambiguity = pn.pane.Markdown("*Run CLAMS to score how ambiguous this plot is to people.*", width=280,
                                 css_classes=["vc-ambiguity"])
    pane = pn.pane.HoloViews(None, css_classes=["vc-main-plot"], linked_axes=False)
    outline = hv.streams.Pipe(data=[])

    def redraw(*_):
        pane.object = _figure(app, st, show_clams.value, on_box, on_lasso, outline)

    def recount(*_):
        n = 0 if app.plot is None else len(app.lazy if app.lazy is not None else app.plot)
        text = f"**{n:,} points**{sample_note(app)}"
        if st.polygon is not None:
            text += f" · <span class='vc-selected'>{len(st.selection):,}</span> selected"
        count.object = text
        outline.send(list(zip(*st.polygon)) if st.polygon else [])

    def on_box(bounds=None):
        if bounds is not None:
            x0, y0, x1, y1 = bounds
            pn.state.execute(partial(st.lasso, [x0, x1, x1, x0], [y0, y0, y1, y1]))

    def on_lasso(geometry=None):
        if geometry is not None and len(geometry) >= 3:
            pn.state.execute(partial(st.lasso, geometry[:, 0].tolist(), geometry[:, 1].tolist()))

    def on_busy(*_):
        working = bool(st.busy or app.loading)
        spinner.visible = cancel.visible = working
        busy_text.object = st.busy or ("Loading the plot…" if app.loading else "")

    def on_error(*_):
        error.object, error.visible = app.error, bool(app.error)

    def on_message(*_):
        message.object, message.visible = st.message, bool(st.message)

    def on_clams(*_):
        model = st.clams
        if model is None:
            ambiguity.object = "*Run CLAMS to score how ambiguous this plot is to people.*"
            return
        score = float(model.ambiguity_)
        ambiguity.object = (f"**Ambiguity: {score:.2f}** — {ambiguity_reading(score)}.\n\n"
                            f"CLAMS found {model.n_components_} components; lines join the pairs CLAMS kept, coloured by "
                            "the chance people see them as one cluster.")

    def on_plot(*_):
        st.clams = None

    async def run_clams(_):
        await st.run_clams()

    def do_cancel(_):
        st.cancel()
        if app.loading and app._load_job is not None:
            app._load_job.cancel()

    app.param.watch(on_plot, "plot")
    st.param.watch(redraw, ["labeling", "labelled", "clams"])
    app.param.watch(redraw, "plot")
    show_clams.param.watch(redraw, "value")
    app.param.watch(recount, "plot")
    st.param.watch(recount, ["selection", "polygon"])
    st.param.watch(on_busy, "busy")
    app.param.watch(on_busy, "loading")
    app.param.watch(on_error, "error")
    st.param.watch(on_message, "message")
    st.param.watch(on_clams, "clams")
    clams_button.on_click(run_clams)
    cancel.on_click(do_cancel)
    redraw(), recount(), on_error()
    if app.color_by != "density":
        pn.state.execute(st.recolor)

    controls = pn.Column(
        *(["### Source", source_tabs] if sources else []), "### Colour", color,
        pn.pane.Markdown(SIMULATED_NOTE, width=280, styles={"font-size": "85%", "color": "#555"}),
        "### CLAMS", clams_button, show_clams, ambiguity, width=310,
    )
    return pn.Row(controls, pn.Column(error, message, pn.Row(spinner, busy_text, cancel), count,
                                      _selection_tools(app, st), pane), name="Explore")
