"""Uploads live in a cache folder shared by every server process (app.uploads)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import data
from app import uploads
from app.sources import resolve, store_upload
from conftest import ROOT, free_port, wait_for_http

from data import InvalidScatterplot


def test_upload_is_found_by_another_process():
    plot = data.load(b"x,y,label\n0,0,0\n1,nan,1\n2,2,1\n3,1,0\n", format="csv", name="mine")
    key = store_upload(plot, b"the file's bytes")
    code = ("from app.sources import resolve; p = resolve(%r); "
            "print(len(p), p.name, p.labels.tolist(), p.meta['dropped_rows'])" % key)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(maxsplit=2) == ["3", "mine", "[0, 1, 0] [1]\n"]


def test_unknown_or_malformed_upload_keys_are_readable_errors():
    for key in ("upload:0123456789abcdef", "upload:../../etc/passwd"):
        with pytest.raises(InvalidScatterplot, match="upload the file again"):
            resolve(key)


def test_the_folder_is_pruned_oldest_first(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_BYTES", 1)  # keep only the newest file
    first = store_upload(data.load(np.eye(3) + 1), b"first")
    second = store_upload(data.load(np.eye(3) + 2), b"second")
    assert {p.stem for p in uploads.folder().glob("*.npz")} >= {second.split(":")[1]}
    assert not (uploads.folder() / f"{first.split(':')[1]}.npz").exists()


@pytest.mark.browser
def test_num_procs_2_serves_an_upload_no_server_process_received(page, tmp_path, errors):
    """`visclust serve --num-procs 2`: a plot stored by another process (this test) opens by URL."""
    key = store_upload(data.load(np.random.default_rng(0).normal(size=(777, 2))), b"stored elsewhere")
    port = free_port()
    env = {**os.environ, "VISCLUST_DATA_DIR": str(tmp_path)}
    with open(tmp_path / "serve.log", "w") as log:
        # Its own session: `visclust serve` starts Panel as a child, and both must stop.
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--num-procs", "2", "--port", str(port),
                                 "--address", "127.0.0.1"], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
                                start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/main"
        wait_for_http(url, proc)
        for _ in range(2):  # two sessions, whichever processes they land on
            page.goto(f"{url}?dataset={key}")
            page.get_by_text("777 points").wait_for(timeout=60_000)
        # Under pytest, Panel's multi-process server sometimes links its CSS from cdn.holoviz.org,
        # which this offline machine cannot resolve; any other console error fails the test.
        assert [e for e in errors if "ERR_NAME_NOT_RESOLVED" not in e] == []
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
