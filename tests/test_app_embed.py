"""Browser test of the Embed page: a small projection search, then the top result in Explore."""
import pytest

from test_app_explore import TIMEOUT

pytestmark = pytest.mark.browser


def test_small_search_opens_top_result(page, app_url):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": 1400, "height": 950})
    page.goto(app_url + "?page=embed")
    page.get_by_text("Embed: projections people read consistently").wait_for(timeout=TIMEOUT)
    page.locator(".vc-embed-table select").select_option("iris")
    for name in ("tsne", "umap"):  # PCA alone: the quickest search
        page.locator(".vc-embed-methods label", has_text=name).click()
    page.locator(".vc-run-embed button").click()
    page.locator(".vc-embedding").first.wait_for(timeout=TIMEOUT * 3)
    assert page.locator(".vc-embedding").count() == 1
    page.locator(".vc-open-embedding button").first.click()
    page.get_by_text("150 points").wait_for(timeout=TIMEOUT)
    assert "page=explore" in page.url and "dataset=upload" in page.url
    assert errors == []
