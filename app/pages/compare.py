"""Compare: several methods side by side, their agreement, and exports of labels and images."""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import holoviews as hv
import pandas as pd
import panel as pn

from data.writers import write_table
from perception.compare import TUNED_LABEL
from perception.compare import export_table as labels_table

from .. import plots
from ..compare_state import CompareState
from ..options import METHOD_NAMES, SIMULATED_NOTE
from ..state import AppState, two_way

GRID_SIZE = 220


def _title(method: str, result) -> str:
    plural = "" if result.n_clusters == 1 else "s"
    title = f"{METHOD_NAMES[method]} · {result.runtime:.2f} s · {result.n_clusters} cluster{plural}"
    return title + (f" ({result.note})" if result.note else "")


def grid(st: CompareState) -> list:
    """Small multiples, one pane each; Panel links the axes of HoloViews panes in one layout."""
    plot = st.app.plot
    if not st.results or plot is None:
        return [pn.pane.Markdown("*Choose methods and press Run.*")]
    return [pn.pane.HoloViews(plots.scatter(plot.xy, labels=r.labels, title=_title(m, r), size=GRID_SIZE,
                                            tools=(), legend=False), linked_axes=True)
            for m, r in st.results.items()]


def export_table(st: CompareState, suffix: str) -> io.BytesIO:
    """Points and every compared labeling (already computed by the last run), in the data layer's format."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_table(labels_table(st.labelings(), st.app.plot), Path(tmp) / f"labels{suffix}")
        return io.BytesIO(path.read_bytes())


def export_png(st: CompareState) -> io.BytesIO:
    labelings = {METHOD_NAMES[m]: r.labels for m, r in st.results.items()}
    titles = {METHOD_NAMES[m]: _title(m, r) for m, r in st.results.items()}
    buffer = io.BytesIO()
    plots.mosaic(st.app.plot.xy, labelings, titles).save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def compare_view(app: AppState) -> pn.viewable.Viewable:
    st = CompareState(app=app)
    methods = pn.widgets.MultiChoice(name="Methods", options={v: k for k, v in METHOD_NAMES.items()}, width=300,
                                     css_classes=["vc-methods"])
    two_way(methods, app, "methods")
    run = pn.widgets.Button(name="Run comparison", button_type="primary", width=300, css_classes=["vc-run-compare"])
    cancel = pn.widgets.Button(name="Cancel", button_type="warning", width=90, visible=False,
                               css_classes=["vc-cancel"])
    progress = pn.indicators.Progress(value=0, max=1, width=200, visible=False)
    busy_text = pn.pane.Str("")
    metric = pn.widgets.RadioButtonGroup(options=["AMI", "ARI"], css_classes=["vc-metric"])
    two_way(metric, app, "metric")
    references = {"People, else the plot's labels": "auto", "People's majority": "people",
                  "The plot's reference labels": "generator"}
    reference = pn.widgets.Select(name="Score methods against", width=300, css_classes=["vc-reference"],
                                  options=dict(references))
    two_way(reference, st, "reference")
    tuned = pn.widgets.Checkbox(name="Add tuned rows (best settings on the reference: an upper bound)",
                                css_classes=["vc-tuned"], width=300)
    two_way(tuned, st, "tuned")
    failures = pn.pane.Alert("", alert_type="warning", visible=False, width=800, css_classes=["vc-failures"])
    grid_box = pn.GridBox(*grid(st), ncols=3, css_classes=["vc-grid"])
    matrix_pane = pn.pane.HoloViews(hv.Div(""), css_classes=["vc-agreement"])
    kappa = pn.pane.DataFrame(None, visible=False, index=False, css_classes=["vc-kappa"])
    downloads = pn.Column(
        pn.widgets.FileDownload(callback=lambda: export_table(st, ".csv"), filename="labels.csv",
                                label="Labels (CSV)", css_classes=["vc-dl-csv"], width=300),
        pn.widgets.FileDownload(callback=lambda: export_table(st, ".parquet"), filename="labels.parquet",
                                label="Labels (Parquet)", width=300),
        pn.widgets.FileDownload(callback=lambda: export_png(st), filename="compare.png", label="Grid (PNG)",
                                width=300, css_classes=["vc-dl-png"]),
        visible=False,
    )

    async def on_run(_):
        progress.max = max(1, len(app.methods))
        await st.run()

    def on_busy(*_):
        progress.visible = cancel.visible = bool(st.busy)
        progress.value = min(st.done, progress.max)
        busy_text.object = st.busy

    def on_results(*_):
        grid_box.objects = grid(st)
        reference.options = {**references, **{METHOD_NAMES[m]: m for m in st.results}}
        downloads.visible = bool(st.results)
        lines = [f"- {METHOD_NAMES[m]}: {why}" for m, why in st.failures.items()]
        failures.object = "**No labels from:**\n" + "\n".join(lines) if lines else ""
        failures.visible = bool(lines)

    def on_matrix(*_):
        if st.matrix is None:
            matrix_pane.object = hv.Div("")
        else:
            names, values = st.matrix
            matrix_pane.object = plots.heatmap(values, names, app.metric)
        result = st.comparison
        if result is None or not result.scores:
            kappa.visible = False
            return
        table = pd.DataFrame({"method": list(result.scores), f"{result.metric} vs {result.reference}":
                              list(result.scores.values())})
        if result.kappa:
            table["kappa_alpha"] = [result.kappa.get(m) for m in result.scores]
        if st.tuned:
            table["row"] = ["tuned on the reference (upper bound)" if m.endswith(TUNED_LABEL) else "method"
                            for m in result.scores]
        kappa.object = table.round(3)
        kappa.visible = True

    def on_plot(*_):
        # A new plot invalidates the old comparison.
        st.param.update(results={}, failures={}, comparison=None, matrix=None, kappa={}, humans=None)

    run.on_click(on_run)
    cancel.on_click(lambda _: st.cancel())
    st.param.watch(on_busy, ["busy", "done"])
    st.param.watch(on_results, ["results", "failures"])
    st.param.watch(on_matrix, "comparison")
    app.param.watch(on_plot, "plot")

    controls = pn.Column("### Methods", methods, run, "### Agreement", metric, reference, tuned,
                         pn.pane.Markdown(SIMULATED_NOTE, width=300, styles={"font-size": "85%", "color": "#555"}),
                         "### Export", downloads, width=320)
    return pn.Row(controls, pn.Column(pn.Row(progress, busy_text, cancel), failures, grid_box,
                                      pn.Row(matrix_pane, kappa)), name="Compare")
