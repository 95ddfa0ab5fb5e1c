"""Explore: pick or upload a plot, colour it by a method, and read CLAMS's ambiguity."""
from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn

import data
from data.gallery import GALLERY, REAL

from .. import plots
from ..state import (COLOR_CHOICES, GENERATORS, METHOD_NAMES, SHAPE_KINDS, SIMULATED_NOTE, AppState, ExploreState,
                     generator_key, two_way)

LARGE = ["gaussian-1M", "gaussian-10M"]
UPLOAD_FORMATS = ".csv,.tsv,.txt,.parquet,.pq,.json,.npy,.npz"
NO_LABEL = "(none)"
OTHER = "(from the generator or an upload)"


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


def _figure(app: AppState, st: ExploreState, show_clams: bool, on_select):
    plot, lab = app.plot, st.labeling
    if plot is None:
        return hv.Div("")
    title = plot.name or app.loaded
    if lab is not None and lab.method != "reference":
        plural = "" if lab.n_clusters == 1 else "s"
        name = METHOD_NAMES.get(lab.method, lab.method)
        title += f" · {name} ({lab.runtime:.2f} s, {lab.n_clusters} cluster{plural})"
    if lab is not None and app.color_by == "agreement" and lab.values is not None:
        element = plots.scatter(plot.xy, values=lab.values, title=title)
    elif lab is not None:
        element = plots.scatter(plot.xy, labels=lab.labels, title=title)
    else:
        element = plots.scatter(plot.xy, title=title)
    hv.streams.BoundsXY(source=element).add_subscriber(on_select)
    if show_clams and st.clams is not None:
        element = element * plots.clams_overlay(st.clams)
    return element


def explore_view(app: AppState) -> pn.viewable.Viewable:
    st = ExploreState(app=app)
    sources = pn.Tabs(_gallery(app), _generator(app), _upload(app), dynamic=True, width=290)
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

    def redraw(*_):
        pane.object = _figure(app, st, show_clams.value, on_select)

    def recount(*_):
        n = 0 if app.plot is None else len(app.plot)
        text = f"**{n:,} points**"
        if st.selected:
            text += f" · {st.selected:,} selected"
        count.object = text

    def on_select(bounds=None):
        if bounds is None or app.plot is None:
            return
        x0, y0, x1, y1 = bounds
        xy = app.plot.xy
        st.selected = int(np.count_nonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)))

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
    st.param.watch(redraw, ["labeling", "clams"])
    app.param.watch(redraw, "plot")
    show_clams.param.watch(redraw, "value")
    app.param.watch(recount, "plot")
    st.param.watch(recount, "selected")
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
        "### Source", sources, "### Colour", color,
        pn.pane.Markdown(SIMULATED_NOTE, width=280, styles={"font-size": "85%", "color": "#555"}),
        "### CLAMS", clams_button, show_clams, ambiguity, width=310,
    )
    return pn.Row(controls, pn.Column(error, message, pn.Row(spinner, busy_text, cancel), count, pane),
                  name="Explore")
