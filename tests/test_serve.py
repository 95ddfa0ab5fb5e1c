"""The dashboard is served by `panel serve app/main.py` and loads in real Chromium."""
import pytest

pytestmark = pytest.mark.browser


def test_served_page_loads_without_console_errors(app_url, page):
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app_url)
    page.wait_for_selector("text=visclust", timeout=60000)
    assert "visclust" in page.title()
    assert errors == []
