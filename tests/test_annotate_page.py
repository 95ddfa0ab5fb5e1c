"""The Annotate page in headless Chromium: lasso, submit, refusal and admin export."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import ROOT, serve_panel

from data.store import AnnotationStore
from data.store_models import StudyPlot
from app.pages.annotate import _consecutive

pytestmark = pytest.mark.browser

SCRIPT = """
import panel as pn
from app.pages.annotate import annotate_view
pn.extension()
annotate_view(dict(pn.state.session_args)).servable(title="Annotate")
"""


def test_consecutive_renumbers_in_creation_order():
    np.testing.assert_array_equal(_consecutive(np.array([-1, 3, 1, 3, -1])), [-1, 1, 0, 1, -1])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The page alone, served from a tiny script, with its own SQLite store."""
    folder = tmp_path_factory.mktemp("annotate")
    (folder / "annotate_app.py").write_text(SCRIPT)
    env = {**os.environ, "VISCLUST_DATA_DIR": str(folder), "PYTHONPATH": str(ROOT)}
    env.pop("VISCLUST_DB_URL", None)
    store = AnnotationStore(f"sqlite:///{folder / 'annotations.sqlite3'}")
    try:
        with serve_panel(folder / "annotate_app.py", folder / "panel.log", env) as url:
            yield url, store
    finally:
        store.close()


def clusters() -> tuple[np.ndarray, list[np.ndarray]]:
    """Three well separated groups; the test lassos the first two."""
    rng = np.random.default_rng(0)
    centres = [(0.0, 0.0), (10.0, 0.0), (5.0, 9.0)]
    groups = [rng.uniform(-1, 1, size=(12, 2)) + c for c in centres]
    xy = np.concatenate(groups)
    sizes = np.cumsum([0] + [len(g) for g in groups])
    return xy, [np.arange(sizes[i], sizes[i + 1]) for i in range(3)]


def lasso(page, box, points: np.ndarray, settings, margin: float = 0.03):
    """Drag the mouse around the bounding box of ``points`` (data coordinates), drawn with ``settings``."""
    (ax0, ax1), (ay0, ay1) = settings.x_range, settings.y_range

    def px(x, y):
        return (box["x"] + (x - ax0) / (ax1 - ax0) * settings.width,
                box["y"] + (ay1 - y) / (ay1 - ay0) * settings.height)

    margin *= max(ax1 - ax0, ay1 - ay0)
    (x0, y0), (x1, y1) = points.min(axis=0) - margin, points.max(axis=0) + margin
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    page.mouse.move(*px(*corners[0]))
    page.mouse.down()
    for (ax, ay), (bx, by) in zip(corners, corners[1:]):
        for t in np.linspace(0, 1, 8)[1:]:
            page.mouse.move(*px(ax + t * (bx - ax), ay + t * (by - ay)))
    page.mouse.up()


def test_annotator_lassos_two_clusters_and_admin_exports(served, page, tmp_path):
    url, store = served
    xy, groups = clusters()
    info = store.create_study("browser", [xy])
    token = store.add_annotator(info, name="lasso-tester")
    page.set_viewport_size({"width": 1280, "height": 1200})  # the whole page, so nothing scrolls
    page.goto(f"{url}?study={info.id}&token={token}")
    page.get_by_text("Plot 1 of 1").wait_for(timeout=60_000)
    canvas = page.locator("canvas").first  # the lasso plot is the page's only figure
    canvas.wait_for()
    page.wait_for_timeout(1000)  # let the layout settle before measuring
    box = canvas.bounding_box()
    settings = store.plot(info, store.plots(info)[0].plot_id).render
    lasso(page, box, xy[groups[0]], settings)
    page.wait_for_timeout(500)
    lasso(page, box, xy[groups[1]], settings)
    page.wait_for_timeout(500)
    page.locator(".vc-submit button").click()
    page.get_by_text("All done").wait_for(timeout=30_000)

    [record] = store.annotations(info)
    expected = np.full(len(xy), -1)
    expected[groups[0]], expected[groups[1]] = 0, 1
    np.testing.assert_array_equal(record.labels, expected)
    assert record.seconds > 0 and [lasso["cluster"] for lasso in record.lassos] == [0, 1]

    page.goto(f"{url}?study={info.id}&admin={info.admin_token}")
    page.locator(".vc-admin-table").wait_for(timeout=60_000)
    with page.expect_download(timeout=30_000) as download:
        page.locator(".vc-export button").click()
    text = open(download.value.path()).read()
    assert "lasso-tester" in text and record.key in text
    page.locator(".vc-replay img").wait_for(timeout=30_000)  # the admin sees the same replay
    assert page.locator(".vc-admin-table td", has_text="not computed").count() == 1
    page.locator(".vc-clams button").click()  # CLAMS runs as a job, off the event loop
    page.locator(".vc-admin-table td", has_text="not computed").wait_for(state="detached", timeout=60_000)


def test_annotator_passes_an_attention_check(served, page):
    """One real plot and one attention check (rate 0.5); the annotator lassos every cluster of each."""
    url, store = served
    xy, groups = clusters()
    info = store.create_study("checked", [xy + 50], attention_rate=0.5, seed=5)
    token = store.add_annotator(info, name="careful")
    who = store.annotator_for_token(info, token)
    page.set_viewport_size({"width": 1280, "height": 1200})
    page.goto(f"{url}?study={info.id}&token={token}")
    kinds = []
    for step in (1, 2):
        page.get_by_text(f"Plot {step} of 2").wait_for(timeout=60_000)
        task = store.next_plot(info, who)  # the page's open assignment
        kinds.append(task.kind)
        if task.kind == "check":
            with store._sessions() as s:
                truth = np.frombuffer(s.get(StudyPlot, (info.id, task.plot_id)).truth, "<i4")
            parts = [np.flatnonzero(truth == k) for k in np.unique(truth)]
        else:
            parts = groups[:2]
        canvas = page.locator("canvas").first
        page.wait_for_timeout(800)
        box = canvas.bounding_box()
        for part in parts:
            lasso(page, box, task.xy[part], task.render, margin=0.01)
            page.wait_for_timeout(400)
        page.locator(".vc-submit button").click()
    page.get_by_text("All done").wait_for(timeout=30_000)
    assert sorted(kinds) == ["check", "plot"]
    assert store.flagged(info) == set()
    [score] = store.attention_scores(info)[who.id]
    assert score > 0.8


def test_wrong_token_is_refused(served, page):
    url, store = served
    info = store.create_study("refusal", [clusters()[0] + 100])
    for query in (f"study={info.id}&token=not-a-token", f"study={info.id}&admin=not-the-admin"):
        page.goto(f"{url}?{query}")
        page.locator(".vc-refusal").wait_for(timeout=60_000)
        assert page.locator(".vc-lasso-plot").count() == 0


def test_the_main_app_opens_the_annotate_page(app_url, page):
    """app/main.py imports the page (and the store) on the first visit; it still opens from the nav URL."""
    page.goto(f"{app_url}?page=annotate&study=999&token=not-a-token")
    page.locator(".vc-refusal").wait_for(timeout=60_000)
