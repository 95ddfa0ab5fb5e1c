"""Browser tests of the Explore page (headless Chromium through pytest-playwright)."""
from __future__ import annotations

import time

import numpy as np
import pytest

pytestmark = pytest.mark.browser

TIMEOUT = 60_000


def open_app(page, url: str):
    page.set_viewport_size({"width": 1400, "height": 950})
    page.goto(url)
    page.locator(".vc-main-plot canvas").first.wait_for(timeout=TIMEOUT)


def plot_image(page) -> bytes:
    """A screenshot of the main plot; retried while Bokeh swaps the element for a re-render."""
    from playwright.sync_api import Error

    for _ in range(20):
        try:
            return page.locator(".vc-main-plot").first.screenshot(timeout=10_000)
        except Error:
            page.wait_for_timeout(500)
    return page.locator(".vc-main-plot").first.screenshot()


def wait_for_new_image(page, before: bytes, timeout: float = 60.0) -> bytes:
    deadline = time.time() + timeout
    while time.time() < deadline:
        page.wait_for_timeout(400)
        after = plot_image(page)
        if after != before:
            return after
    raise AssertionError("the plot did not change")


def wait_idle(page):
    """Until no job spinner text is left (a run or a load is over)."""
    page.locator(".vc-cancel").first.wait_for(state="hidden", timeout=TIMEOUT)


def test_loads_without_console_errors(page, app_url, errors):
    open_app(page, app_url)
    page.get_by_text("1,200 points").wait_for(timeout=TIMEOUT)
    page.wait_for_timeout(1000)
    assert errors == []


def test_gallery_pick_changes_canvas(page, app_url, errors):
    open_app(page, app_url)
    page.get_by_text("1,200 points").wait_for(timeout=TIMEOUT)
    before = plot_image(page)
    page.locator(".vc-dataset select").select_option("rings")
    page.get_by_text("1,000 points").wait_for(timeout=TIMEOUT)
    wait_for_new_image(page, before)
    assert "dataset=rings" in page.url
    assert errors == []


def colour_by(page, label: str):
    """Pick a colouring and wait until its run is over and the plot has changed."""
    before = plot_image(page)
    page.locator(".vc-color select").select_option(label=label)
    wait_idle(page)
    wait_for_new_image(page, before)


def test_colour_by_clusterer(page, app_url, errors):
    open_app(page, app_url + "?dataset=moons")
    page.get_by_text("1,000 points").wait_for(timeout=TIMEOUT)
    colour_by(page, "HDBSCAN")
    assert "color=hdbscan" in page.url
    assert errors == []


def test_generated_scene_coloured_by_clusternet_average(page, app_url, errors):
    open_app(page, app_url)
    page.get_by_text("1,200 points").wait_for(timeout=TIMEOUT)
    page.locator(".bk-tab", has_text="Generate").click()
    page.locator(".vc-generator select").select_option("scene")
    page.locator(".vc-generate button").click()
    page.get_by_text("2,000 points").wait_for(timeout=TIMEOUT)
    assert "gen%3Ascene" in page.url or "gen:scene" in page.url
    colour_by(page, "ClusterNet (average linkage) labels")
    assert "color=clusternet-average" in page.url
    assert errors == []


def test_upload_csv_shows_point_count(page, app_url, errors):
    open_app(page, app_url)
    page.locator(".bk-tab", has_text="Upload").click()
    rows = "\n".join(f"{i % 17},{(i * 7) % 23},{i % 2}" for i in range(123))
    page.locator(".vc-upload input[type=file]").set_input_files(
        {"name": "mine.csv", "mimeType": "text/csv", "buffer": f"a,b,label\n{rows}\n".encode()})
    page.get_by_text("123 points").wait_for(timeout=TIMEOUT)
    page.wait_for_url(lambda url: "dataset=upload" in url, timeout=TIMEOUT)  # the URL follows asynchronously
    assert errors == []


def test_upload_over_bokehs_default_message_cap(page, app_url, errors):
    """A 25 MB CSV: more than the 20 MB a websocket message may carry unless the server
    raises the cap, as `visclust serve` and the test server do."""
    open_app(page, app_url)
    page.locator(".bk-tab", has_text="Upload").click()
    xy = np.random.default_rng(0).random((1_100_000, 2))
    body = "x,y\n" + "\n".join(f"{x:.8f},{y:.8f}" for x, y in xy) + "\n"
    assert len(body) > 24e6
    page.locator(".vc-upload input[type=file]").set_input_files(
        {"name": "big.csv", "mimeType": "text/csv", "buffer": body.encode()})
    page.get_by_text("1,100,000 points").wait_for(timeout=3 * TIMEOUT)
    assert errors == []


def test_broken_upload_shows_error_and_app_keeps_working(page, app_url, errors):
    open_app(page, app_url + "?dataset=rings")
    page.get_by_text("1,000 points").wait_for(timeout=TIMEOUT)
    page.locator(".bk-tab", has_text="Upload").click()
    page.locator(".vc-upload input[type=file]").set_input_files(
        {"name": "broken.csv", "mimeType": "text/csv", "buffer": b"name,colour\nfoo,red\nbar,blue\n"})
    page.locator(".vc-error").get_by_text("broken.csv").wait_for(timeout=TIMEOUT)
    assert page.get_by_text("1,000 points").is_visible()  # the previous plot stays
    page.locator(".bk-tab", has_text="Gallery").click()
    page.locator(".vc-dataset select").select_option("moons")
    page.get_by_text("1,000 points").wait_for(timeout=TIMEOUT)
    page.locator(".vc-error").wait_for(state="hidden", timeout=TIMEOUT)
    assert "dataset=moons" in page.url
    assert errors == []


def test_shared_url_restores_the_view(page, app_url, errors):
    open_app(page, app_url)
    page.locator(".vc-dataset select").select_option("spirals")
    page.get_by_text("1,000 points").wait_for(timeout=TIMEOUT)
    density = plot_image(page)
    page.locator(".vc-color select").select_option(label="DBSCAN")
    page.wait_for_url("**color=dbscan**", timeout=TIMEOUT)
    wait_for_new_image(page, density)
    page.wait_for_timeout(1000)
    shared = page.url
    first = plot_image(page)

    other = page.context.new_page()
    open_app(other, shared)
    other.get_by_text("1,000 points").wait_for(timeout=TIMEOUT)
    wait_idle(other)
    assert other.locator(".vc-dataset select").input_value() == "spirals"
    assert other.locator(".vc-color select option:checked").inner_text() == "DBSCAN"
    deadline = time.time() + 30
    while plot_image(other) != first and time.time() < deadline:
        other.wait_for_timeout(400)
    assert plot_image(other) == first
    assert errors == []


def test_screenshot_explore(page, app_url, screenshot_dir):
    open_app(page, app_url + "?dataset=touching-blobs&color=hdbscan")
    wait_idle(page)
    page.locator(".vc-clams").click()
    page.get_by_text("Ambiguity:").wait_for(timeout=TIMEOUT)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(screenshot_dir / "explore.png"))


def test_dask_backed_parquet_opens_rerenders_on_zoom_and_colours(page, app_url, errors, tmp_path_factory):
    from data.large import gaussian_mixture, write_points

    plot = gaussian_mixture(300_000, k=5, seed=2)
    path = write_points(plot.xy, tmp_path_factory.mktemp("served") / "points", partitions=4)
    open_app(page, f"{app_url}?dataset=parquet:{path}")
    page.get_by_text("300,000 points").wait_for(timeout=TIMEOUT)
    page.get_by_text("read through Dask", exact=False).wait_for(timeout=TIMEOUT)
    page.wait_for_timeout(1500)
    before = plot_image(page)
    box = page.locator(".vc-main-plot canvas").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -480)
    wait_for_new_image(page, before)
    colour_by(page, "k-means")
    assert errors == []
