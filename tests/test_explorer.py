"""The notebook API (app.Explorer), lasso selections and the app's exports of uploaded plots."""
from __future__ import annotations

import asyncio
import threading

import numpy as np
import pandas as pd

from app.pages.compare import export_table
from app.state import METHOD_NAMES, AppState, CompareState


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
