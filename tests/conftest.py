"""Shared fixtures: the human reference data, a served dashboard and Chromium for Playwright."""
from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.commands.core import MAX_MESSAGE_BYTES
from bench.common import CHROMIUM, CHROMIUM_ARGS, free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
WUT = SHARED_DATA / "clustering-benchmarks" / "wut"


def pytest_addoption(parser):
    parser.addoption("--screenshots", metavar="DIR", default=None,
                     help="write the README's screenshots to DIR (`make screenshots` writes docs/screenshots); "
                          "by default they go to a temporary folder, so the suite leaves the checkout clean")


@pytest.fixture(scope="session")
def screenshot_dir(request, tmp_path_factory) -> Path:
    chosen = request.config.getoption("--screenshots")
    folder = Path(chosen).resolve() if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def wut_dir() -> Path:
    """The human reference labelings; skipped (with the reason) where ../shared is absent."""
    if not WUT.is_dir():
        pytest.skip(f"human reference data not found at {WUT} (it is present in CI)")
    return WUT


@pytest.fixture(scope="session", autouse=True)
def upload_dir(tmp_path_factory):
    """Uploads (and notebook plots) go to a temporary folder, not the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("uploads")
        mp.setenv("VISCLUST_UPLOAD_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing; `make test` installs Debian's chromium")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@contextmanager
def serve_panel(script: Path, log: Path, env: dict):
    """`panel serve SCRIPT` on a free port (a Popen, not a shell, so stopping it stops the server)."""
    port = free_port()
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "panel", "serve", str(script), "--port", str(port),
             "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}",
             "--websocket-max-message-size", str(MAX_MESSAGE_BYTES)],  # as `visclust serve`
            stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
        )
    url = f"http://127.0.0.1:{port}/{script.stem}"
    try:
        wait_for_http(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """Serve app/main.py with `panel serve` on a free port for the whole session."""
    # Parquet paths in URLs (parquet:<path>) may point into this session's temporary folders.
    env = {**os.environ, "VISCLUST_DATA_DIR": str(tmp_path_factory.mktemp("visclust-data")),
           "VISCLUST_DATA_ROOTS": str(tmp_path_factory.getbasetemp())}
    with serve_panel(ROOT / "app" / "main.py", tmp_path_factory.mktemp("server") / "panel.log", env) as url:
        yield url


@pytest.fixture
def errors(page):
    """Console errors and uncaught exceptions seen by the page."""
    seen: list[str] = []
    page.on("console", lambda msg: seen.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: seen.append(str(exc)))
    return seen
