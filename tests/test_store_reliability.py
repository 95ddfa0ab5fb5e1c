"""The store under failure: clients that abort mid-request and retry, and a killed server process.

The invariant in both: every acknowledged submission is stored exactly once.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from pg import pg_server  # noqa: F401  (fixture)
from sqlalchemy import event

from data.store import AnnotationStore

N_PEOPLE, N_SUBMITS, N_POINTS = 20, 100, 20


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return request.getfixturevalue("pg_server").create_database()


class ClientAbort(Exception):
    """The client went away in the middle of its request."""


def expected(a: int, p: int) -> np.ndarray:
    return (np.arange(N_POINTS) * (a + 1) + p) % 5 - 1


def _inject_faults(store: AnnotationStore, plan: threading.local):
    """Abort the calling thread's requests at random points, as its ``plan.rng`` decides.

    Before a statement or at connection checkout: raise (the request dies) or first close the
    connection underneath (a dropped socket / killed client). Before commit: raise (rolled back). The
    "response lost after commit" case is played by the client loop itself.
    """
    def maybe_abort(where: str, dbapi_conn=None):
        rng = getattr(plan, "rng", None)
        if rng is None or rng.random() > 0.04:
            return
        if dbapi_conn is not None and rng.random() < 0.5:
            dbapi_conn.close()  # the next use fails as a disconnect
            return
        raise ClientAbort(where)

    @event.listens_for(store.engine, "before_cursor_execute")
    def _statement(conn, *_args):
        maybe_abort("statement", conn.connection.dbapi_connection)

    @event.listens_for(store.engine, "commit")
    def _commit(conn):
        maybe_abort("commit")

    # PostgreSQL's one-statement submit runs on the pooled driver connection, past the
    # statement events: its faults come at checkout.
    @event.listens_for(store.engine, "checkout")
    def _checkout(dbapi_conn, _record, _proxy):
        maybe_abort("checkout", dbapi_conn)


def test_aborting_clients_lose_and_duplicate_nothing(url):
    with AnnotationStore(url) as store:
        rng = np.random.default_rng(0)
        info = store.create_study("faults", [rng.normal(size=(N_POINTS, 2)) for _ in range(N_SUBMITS)])
        plot_ids = [p.plot_id for p in store.plots(info)]
        people = [store.annotator_for_token(info, store.add_annotator(info)) for _ in range(N_PEOPLE)]
        plan, acked, errors, lock = threading.local(), {}, [], threading.Lock()
        stats = {"aborts": 0, "lost_responses": 0}
        _inject_faults(store, plan)
        barrier = threading.Barrier(N_PEOPLE)

        def client(a: int):
            plan.rng = np.random.default_rng([1, a])
            barrier.wait()
            for p, plot_id in enumerate(plot_ids):
                key = f"{a}-{p}"
                for _attempt in range(50):  # a real client retries with the same key until it hears back
                    try:
                        record = store.submit(info, plot_id, people[a], expected(a, p), key=key, seconds=1.0)
                    except Exception:  # noqa: BLE001 - any failure: retry, like a browser would
                        with lock:
                            stats["aborts"] += 1
                        continue
                    if plan.rng.random() < 0.03:  # committed, but the response never arrived
                        with lock:
                            stats["lost_responses"] += 1
                        continue
                    with lock:
                        acked[key] = record.id
                    break
                else:
                    errors.append(f"{key} never acknowledged")

        threads = [threading.Thread(target=client, args=(a,)) for a in range(N_PEOPLE)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        plan.rng = None
        assert errors == []
        assert stats["aborts"] > 50 and stats["lost_responses"] > 10  # the faults did happen
        records = store.annotations(info)
        keys = [r.key for r in records]
        assert len(keys) == len(set(keys)), "duplicated submissions"
        assert len(acked) == N_PEOPLE * N_SUBMITS
        assert set(keys) == set(acked), "lost (or unacknowledged extra) submissions"
        index = {who.id: a for a, who in enumerate(people)}
        for r in records:
            a, p = index[r.annotator_id], plot_ids.index(r.plot_id)
            assert r.key == f"{a}-{p}" and acked[r.key] == r.id
            np.testing.assert_array_equal(r.labels, expected(a, p))


WRITER = """
import os, sys, threading
import numpy as np
from data.store import AnnotationStore

url, study, ack_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
store = AnnotationStore(url)
plots = [p.plot_id for p in store.plots(study)]
people = store.annotators(study)
fd = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

def work(a):
    for p, plot_id in enumerate(plots):
        key = f"{a}-{p}"
        store.submit(study, plot_id, people[a], np.full(20, p % 3), key=key)
        os.write(fd, (key + "\\n").encode())  # acknowledged only once submit has returned

threads = [threading.Thread(target=work, args=(a,)) for a in range(len(people))]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def test_killed_server_keeps_every_acknowledged_submission(url, tmp_path):
    rng = np.random.default_rng(2)
    with AnnotationStore(url) as store:
        info = store.create_study("restart", [rng.normal(size=(20, 2)) for _ in range(400)])
        for _ in range(4):
            store.add_annotator(info)
    acks = tmp_path / "acks.txt"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url, str(info.id), str(acks)], cwd=root,
                            env={**os.environ, "PYTHONPATH": root}, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while time.time() < deadline and (not acks.exists() or acks.read_text().count("\n") < 200):
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # mid-study: writes are in flight
    proc.wait(timeout=10)
    acked = set(acks.read_text().split())
    assert 200 <= len(acked) < 1600, "the writer was not killed mid-study"
    with AnnotationStore(url) as store:  # "the restarted server"
        keys = [r.key for r in store.annotations(info)]
        assert acked <= set(keys)
        assert len(keys) == len(set(keys))
        # the study goes on where it stopped: a resubmission of an acknowledged key is a no-op
        first = store.annotations(info)[0]
        again = store.submit(info, first.plot_id, first.annotator_id, first.labels, key=first.key)
        assert again.id == first.id and len(store.annotations(info)) == len(keys)
