"""Browser test of the Models page: what ships, the honest training note, cards and evaluations."""
import pytest

pytestmark = pytest.mark.browser
TIMEOUT = 60_000


def test_models_page_shows_cards_and_evaluations(page, app_url, errors):
    page.set_viewport_size({"width": 1400, "height": 950})
    page.goto(app_url + "?page=models")
    page.get_by_text("What ships").wait_for(timeout=TIMEOUT)
    page.locator(".vc-simulated-note").get_by_text("simulated observers").wait_for(timeout=TIMEOUT)
    page.get_by_text("ClusterNet and the clusterers").wait_for(timeout=TIMEOUT)
    assert page.get_by_text("clusternet", exact=True).count() >= 1  # a row of the evaluation table
    assert page.get_by_text("available", exact=True).count() >= 2  # ClusterNet and CLAMS are usable
    page.get_by_role("button", name="Model card").click()
    page.get_by_text("Trained on simulated people only").wait_for(timeout=TIMEOUT)
    assert errors == []
