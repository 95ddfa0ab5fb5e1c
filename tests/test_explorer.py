"""The notebook API (app.Explorer), lasso selections and the app's exports of uploaded plots."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.pages.compare import export_table
from app.compare_state import CompareState
from app.options import METHOD_NAMES
from app.state import AppState


def run(coro):
    """asyncio.run in a fresh thread: Playwright's sync API keeps a loop running in this one."""
    out = {}
    thread = threading.Thread(target=lambda: out.update(value=asyncio.run(coro)))
    thread.start()
    thread.join()
    return out.get("value")


def test_compare_export_keeps_the_uploaded_rows():
    """An upload with NaN rows: the exported labels still line up with the user's file."""
    rng = np.random.default_rng(1)
    xy = rng.normal(size=(60, 2))
    xy[[0, 17], 0] = np.nan
    app = AppState(methods=["kmeans"])
    assert app.upload(pd.DataFrame(xy, columns=["a", "b"]).to_csv(index=False).encode(), "mine.csv")
    st = CompareState(app=app)
    run(st.run())
    table = pd.read_csv(export_table(st, ".csv"))
    assert len(table) == 60 and np.flatnonzero(table["dropped"]).tolist() == [0, 17]
    assert table[METHOD_NAMES["kmeans"].replace(" ", "_")].isna().sum() == 2 and table["x"].iloc[1] == xy[1, 0]


NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "explorer.ipynb"


def test_example_notebook_runs_with_a_selection_from_python():
    """docs/explorer.ipynb end to end in a fresh kernel: the view displays, the selection set
    from Python is non-empty and lies inside the polygon."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "from data.render import points_in_polygon\n"
        "expected = np.flatnonzero(points_in_polygon(df.to_numpy(), xs, ys))\n"
        "assert explorer.selection.dtype.kind == 'i' and len(expected) > 0\n"
        "assert np.array_equal(explorer.selection, expected)\n"
        "print('selection', len(explorer.selection))"))
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parents[1])}}).execute()
    outputs = {i: cell.get("outputs", []) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"}
    view = [o for o in outputs[3] if o.output_type == "execute_result"]  # after Panel's resources
    assert view and "application/vnd.holoviews_exec.v0+json" in view[0]["data"]  # the inline view
    assert "array([], dtype=int64)" in outputs[5][0]["data"]["text/plain"]  # empty before any selection
    printed = outputs[len(nb.cells) - 1][0]["text"]
    assert int(printed.split()[1]) > 0
