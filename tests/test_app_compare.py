"""Browser tests of the Compare page: the grid, the agreement matrix and the exports."""
from __future__ import annotations

import json
import urllib.parse

import pandas as pd
import pytest

pytestmark = pytest.mark.browser

TIMEOUT = 90_000
# Fast methods, so the test measures the app rather than the clusterers.
METHODS = ["hdbscan", "dbscan", "agglomerative-single", "agglomerative-ward"]


def run_grid(page, app_url, dataset="separated-blobs"):
    query = urllib.parse.urlencode({"page": "compare", "dataset": dataset, "methods": json.dumps(METHODS)})
    page.set_viewport_size({"width": 1600, "height": 1250})
    page.goto(f"{app_url}?{query}")
    page.locator(".vc-run-compare button").click(timeout=TIMEOUT)
    page.locator(".vc-agreement canvas").first.wait_for(timeout=TIMEOUT)


def test_grid_of_four_methods_and_agreement_matrix(page, app_url, errors):
    run_grid(page, app_url)
    assert page.locator(".vc-grid .bk-Figure").count() == 4
    assert page.locator(".vc-methods .choices__list--multiple .choices__item").count() == 4
    page.locator(".vc-metric button", has_text="ARI").click()
    page.wait_for_url("**metric=ARI**", timeout=TIMEOUT)
    page.locator(".vc-agreement canvas").first.wait_for(timeout=TIMEOUT)
    assert errors == []


def test_export_labels_csv(page, app_url, tmp_path, screenshot_dir):
    run_grid(page, app_url, dataset="moons")
    with page.expect_download(timeout=TIMEOUT) as download:
        page.locator(".vc-dl-csv a, .vc-dl-csv button").first.click()
    path = tmp_path / "labels.csv"
    download.value.save_as(path)
    table = pd.read_csv(path)
    assert len(table) == 1000
    assert {"x", "y", "HDBSCAN", "DBSCAN", "reference"} <= set(table.columns)
    page.screenshot(path=str(screenshot_dir / "compare.png"), full_page=True)
