"""Browser tests of lasso selections on the datashaded Explore plot: exact counts, export, new plot."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.sources import resolve
from data.render import points_in_polygon

pytestmark = pytest.mark.browser

TIMEOUT = 60_000

# The main figure's Bokeh view: data <-> page coordinates, and the selection outline's vertices.
FIGURE = "[...Bokeh.index.query(v => v.model.type == 'Figure')][0]"
TO_PAGE = f"""([xs, ys]) => {{
    const v = {FIGURE}, box = v.canvas_view.el.getBoundingClientRect();
    return xs.map((x, i) => [box.left + v.frame.x_scale.compute(x), box.top + v.frame.y_scale.compute(ys[i])]);
}}"""
OUTLINE = f"""() => {{
    const v = {FIGURE};
    for (const r of v.model.renderers) {{
        const d = r.data_source && r.data_source.data;
        if (d && d.xs && d.xs.length) return [Array.from(d.xs[0]), Array.from(d.ys[0])];
    }}
    return null;
}}"""


def draw_lasso(page, xs, ys, steps: int = 8):
    """Drag the lasso tool along the polygon (data coordinates), through intermediate points."""
    page.locator(".bk-tool-icon-lasso-select").first.click()
    corners = page.evaluate(TO_PAGE, [list(xs), list(ys)])
    path = [corners[0]]
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1]):
        path += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, steps)[1:]]
    page.mouse.move(*path[0])
    page.mouse.down()
    for point in path[1:]:
        page.mouse.move(*point)
    page.mouse.up()


def selected_count(page) -> int:
    node = page.locator(".vc-count .vc-selected").first
    node.wait_for(timeout=TIMEOUT)
    return int(node.inner_text().replace(",", ""))


def test_lasso_count_matches_points_in_polygon_then_export_and_open(page, app_url, errors, tmp_path):
    page.set_viewport_size({"width": 1400, "height": 950})
    page.goto(app_url + "?dataset=separated-blobs")
    page.locator(".vc-main-plot canvas").first.wait_for(timeout=TIMEOUT)
    page.get_by_text("1,200 points").wait_for(timeout=TIMEOUT)
    xy = resolve("separated-blobs").xy
    centre, span = xy.mean(axis=0), xy.max(axis=0) - xy.min(axis=0)
    angles = np.linspace(0, 2 * np.pi, 7)[:-1]  # a hexagon over the middle of the plot
    xs, ys = centre[0] + 0.3 * span[0] * np.cos(angles), centre[1] + 0.3 * span[1] * np.sin(angles)
    draw_lasso(page, xs, ys)
    count = selected_count(page)

    # The server's polygon (drawn back as the outline) is the mouse's path: the hexagon, to a pixel.
    page.wait_for_function(f"({OUTLINE})() !== null", timeout=TIMEOUT)
    px, py = map(np.asarray, page.evaluate(OUTLINE))
    assert len(px) >= 6 and np.abs(px.min() - xs.min()) < 0.02 * span[0] and np.abs(py.max() - ys.max()) < 0.02 * span[1]
    expected = np.flatnonzero(points_in_polygon(xy, px, py))
    assert 0 < count == len(expected) < len(xy)

    with page.expect_download(timeout=TIMEOUT) as download:
        page.locator(".vc-sel-csv a, .vc-sel-csv button").first.click()
    download.value.save_as(tmp_path / "selection.csv")
    table = pd.read_csv(tmp_path / "selection.csv")
    assert list(table.columns) == ["row", "x", "y"] and table["row"].tolist() == expected.tolist()
    np.testing.assert_allclose(table[["x", "y"]].to_numpy(), xy[expected])

    page.locator(".vc-sel-open button").first.click()
    page.get_by_text(f"{count:,} points").wait_for(timeout=TIMEOUT)
    page.wait_for_url("**dataset=upload*", timeout=TIMEOUT)
    assert errors == []
