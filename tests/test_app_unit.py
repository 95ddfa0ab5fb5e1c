"""Non-browser tests of the dashboard's state, background jobs and rendering helpers."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pandas as pd
import pytest

from app import jobs, plots
from app.pages.compare import export_png, export_table
from app.compare_state import CompareState
from app.sources import generator_key, parse_size, resolve
from app.state import AppState
from data import InvalidScatterplot


def run(coro):
    """asyncio.run in a fresh thread: Playwright's sync API keeps a loop running in this one."""
    out = {}
    thread = threading.Thread(target=lambda: out.update(value=asyncio.run(coro)))
    thread.start()
    thread.join()
    return out.get("value")


def test_resolve_names_bundled_generated_and_large():
    assert len(resolve("moons")) == 1000
    plot = resolve(generator_key("blobs", {"n": 300, "k": 3, "seed": 1}))
    assert len(plot) == 300 and plot.labels.max() == 2
    assert len(resolve("gaussian-2k")) == 2000


@pytest.mark.parametrize("text, n", [("5000", 5000), ("100k", 100_000), ("10M", 10_000_000)])
def test_parse_size(text, n):
    assert parse_size(text) == n


@pytest.mark.parametrize("key", ["gaussian-20M", "gaussian-lots", "no-such-set", "gen:blobs:bogus=1", "upload:abc"])
def test_bad_names_give_readable_errors(key):
    with pytest.raises(InvalidScatterplot):
        resolve(key)


def test_cache_shares_one_run_per_key():
    calls = []
    key = ("unit-test", time.time())
    first = jobs.submit(key, lambda _: calls.append(1) or 42)
    second = jobs.submit(key, lambda _: calls.append(1) or 43)
    assert run(first.result()) == 42 == run(second.result())
    assert calls == [1] and key in jobs.CACHE


def test_cancel_stops_waiting_without_blocking():
    gate = threading.Event()
    job = jobs.submit(("unit-test-cancel", time.time()), lambda _: gate.wait(10))

    async def cancel_soon():
        await asyncio.sleep(0.1)
        job.cancel()

    async def main():
        asyncio.get_running_loop().create_task(cancel_soon())
        await job.result()

    start = time.perf_counter()
    async def cancelled():
        with pytest.raises(jobs.JobCancelled):
            await main()
        return True

    assert run(cancelled())
    assert time.perf_counter() - start < 2
    gate.set()


def test_upload_good_and_bad_keeps_the_last_plot():
    app = AppState(dataset="moons")
    app.load_now()
    assert not app.upload(b"name,colour\nfoo,red\n", "broken.csv")
    assert "broken.csv" in app.error and len(app.plot) == 1000
    csv = "a,b,label\n" + "\n".join(f"{i},{i % 7},{i % 2}" for i in range(50))
    assert app.upload(csv.encode(), "mine.csv")
    assert len(app.plot) == 50 and app.dataset.startswith("upload:") and app.error == ""
    assert len(resolve(app.dataset)) == 50  # a shared URL finds the upload again


def test_compare_run_scores_and_exports():
    app = AppState(dataset="separated-blobs", methods=["hdbscan", "dbscan"])
    app.load_now()
    st = CompareState(app=app)
    run(st.run())
    assert set(st.results) == {"hdbscan", "dbscan"}
    names, matrix = st.matrix
    assert names == ["HDBSCAN", "DBSCAN", "reference"] and matrix.shape == (3, 3)
    assert np.allclose(np.diag(matrix), 1.0)
    table = pd.read_csv(export_table(st, ".csv"))
    assert list(table.columns) == ["x", "y", "HDBSCAN", "DBSCAN", "reference"] and len(table) == 1200
    assert export_png(st).getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unavailable_clusternet_is_reported_not_faked():
    app = AppState(dataset="moons", methods=["clusternet", "dbscan"])
    app.load_now()
    st = CompareState(app=app)
    run(st.run())
    if jobs.availability()["clusternet"]:
        assert "clusternet" in st.failures and "clusternet" not in st.results
    assert "dbscan" in st.results


def test_job_progress_reaches_the_event_loop():
    gate, halfway = threading.Event(), threading.Event()

    def work(progress):
        progress(0.5, "half done")
        halfway.set()
        gate.wait(10)
        progress(1.0, "done")
        return "ok"

    job = jobs.submit(("unit-test-progress", time.time()), work)
    assert halfway.wait(10)
    assert (job.progress, job.progress_text) == (0.5, "half done")
    seen = []
    threading.Timer(0.2, gate.set).start()
    assert run(job.result(poll=0.01, on_progress=lambda f, text: seen.append((f, text)))) == "ok"
    assert seen[0] == (0.5, "half done") and job.progress == 1.0


def test_uncached_job_cancel_reaches_the_function():
    started = threading.Event()

    def work(progress):
        started.set()
        return progress.cancelled.wait(10)

    job = jobs.submit(("unit-test-uncached",), work, cache=False)
    assert started.wait(10)
    job.cancel()
    assert job.future.result(timeout=5) is True and ("unit-test-uncached",) not in jobs.CACHE


def test_categories_put_noise_grey_and_wrap_past_fifty():
    column = plots.category_column(np.array([-1, 0, 1, 60]))
    assert list(column[:3]) == ["noise", "0", "1"] and column[3] == str(60 % plots.MAX_COLORS)
    assert plots.color_key()["noise"] == plots.NOISE_COLOR


def test_mosaic_size():
    xy = np.random.default_rng(0).normal(size=(500, 2))
    labels = {"a": np.zeros(500, int), "b": np.arange(500) % 4, "c": -np.ones(500, int), "d": np.arange(500) % 2}
    img = plots.mosaic(xy, labels, {}, cols=3, size=100)
    assert img.size == (300, 2 * 122)


def test_ellipse_paths_follow_the_covariance():
    (path,) = plots.ellipse_paths(np.array([[1.0, 2.0]]), np.array([[[4.0, 0.0], [0.0, 1.0]]]), n_sigma=1)
    assert np.isclose(np.abs(path[:, 0] - 1).max(), 2.0, atol=1e-2)
    assert np.isclose(np.abs(path[:, 1] - 2).max(), 1.0, atol=1e-2)


def test_compare_uses_stored_human_annotations(tmp_path, monkeypatch):
    """A plot that people annotated in a study shows their majority and kappa_alpha per method."""
    from data.store import AnnotationStore

    monkeypatch.setenv("VISCLUST_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("VISCLUST_DB_URL", raising=False)
    app = AppState(dataset="separated-blobs", methods=["hdbscan", "kmeans"])
    app.load_now()
    with AnnotationStore() as store:
        study = store.create_study("s", ["separated-blobs"], seed=0)
        for i in range(3):
            who = store.annotator_for_token(study.id, store.add_annotator(study.id))
            task = store.next_plot(study.id, who.id)
            labels = app.plot.labels.copy()
            labels[: 10 * i] = -1  # people leave a few points out, differently
            store.submit(study.id, task.plot_id, who.id, labels, key=f"k{i}")
    st = CompareState(app=app)
    run(st.run())
    assert st.humans.shape == (3, 1200)
    names, _ = st.matrix
    assert "people (majority of 3)" in names
    assert set(st.kappa) == {"HDBSCAN", "k-means"} and all(np.isfinite(list(st.kappa.values())))
