"""The annotation store on SQLite and on a real PostgreSQL server (tests/pg.py)."""
from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pg import pg_server  # noqa: F401  (fixture)

from data import store as store_mod
from data import store_records
from data.store import AnnotationStore
from data.store_records import (AlreadyAnnotated, IdempotencyConflict, InvalidLabels, InvalidStudy, StoreError,
                                UnknownAnnotator, UnknownPlot, UnknownStudy)
from data.store_models import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return request.getfixturevalue("pg_server").create_database()


@pytest.fixture
def store(url):
    with AnnotationStore(url) as s:
        yield s


def plots(k: int, n: int = 30, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, 2)) for _ in range(k)]


def test_migrated_schema_matches_models(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_reopening_is_idempotent(url):
    AnnotationStore(url).close()
    with AnnotationStore(url) as s:
        assert s.studies() == []


def test_tokens(store):
    a = store.create_study("a", plots(2), admin_token="admin-secret")
    b = store.create_study("b", plots(2, seed=1))
    token = store.add_annotator(a, name="ann")
    who = store.annotator_for_token(a.id, token)
    assert who.name == "ann" and who.study_id == a.id
    assert store.annotator_for_token(a.id, token + "x") is None
    assert store.annotator_for_token(b.id, token) is None  # a token only opens its own study
    assert store.annotator_for_token(a.id, "") is None
    assert store.annotator_for_token(a.id, "x" * 10_000) is None
    assert store.verify_admin(a, "admin-secret") and not store.verify_admin(a, "admin-secreT")
    assert not store.verify_admin(b, "admin-secret") and store.verify_admin(b, b.admin_token)
    assert not store.verify_admin(999, "admin-secret")
    from data.store_models import Annotator, Study
    from sqlalchemy import select
    with store._sessions() as s:  # only hashes are stored
        assert token not in s.scalars(select(Annotator.token_hash)).all()
        assert "admin-secret" not in s.scalars(select(Study.admin_token_hash)).all()


def test_plots_are_stored_once_by_content(store):
    xy = plots(3)
    a = store.create_study("a", xy)
    b = store.create_study("b", xy[::-1])
    ids_a = [p.plot_id for p in store.plots(a)]
    assert [p.plot_id for p in store.plots(b)] == ids_a[::-1]
    task = store.plot(a, ids_a[0])
    np.testing.assert_array_equal(task.xy, xy[0])
    from data.store_models import Plot
    with store._sessions() as s:
        assert s.get(Plot, ids_a[0]).sha256 == hashlib.sha256(xy[0].astype("<f8").tobytes()).hexdigest()
    with pytest.raises(InvalidStudy, match="same points"):
        store.create_study("dup", [xy[0], xy[0]])


def test_bundled_names_and_validation(store):
    info = store.create_study("bundled", ["iris", "moons"])
    assert [p.name for p in store.plots(info)] == ["iris", "moons"]
    for bad in ([], [np.zeros((0, 2))], [np.array([[0.0, np.nan]])]):
        with pytest.raises(InvalidStudy):
            store.create_study("bad", bad)
    with pytest.raises(InvalidStudy):
        store.create_study("", plots(1))
    with pytest.raises(InvalidStudy):
        store.create_study("x", plots(2), per_annotator=3)
    assert len(store.studies()) == 1


def test_points_cap(store, monkeypatch):
    monkeypatch.setattr(store_records, "MAX_POINTS", 100)  # read by the input checks
    with pytest.raises(InvalidStudy, match="at most 100"):
        store.create_study("big", plots(1, n=101))


def test_large_plots_get_a_seeded_subsample(store):
    big = np.random.default_rng(3).normal(size=(store_records.DISPLAY_MAX + 500, 2))
    shown = [store.plot(s, store.plots(s)[0].plot_id).shown
             for s in (store.create_study("a", [big], seed=4), store.create_study("b", [big], seed=4))]
    assert len(shown[0]) == store_records.DISPLAY_MAX and np.all(np.diff(shown[0]) > 0)
    np.testing.assert_array_equal(shown[0], shown[1])
    small = store.create_study("c", plots(1))
    assert store.plot(small, store.plots(small)[0].plot_id).shown is None


def test_next_plot_is_balanced_resumable_and_finite(store):
    info = store.create_study("s", plots(6), per_annotator=2, seed=1)
    people = [store.annotator_for_token(info, store.add_annotator(info)) for _ in range(3)]
    first = [store.next_plot(info, who) for who in people]
    assert len({t.plot_id for t in first}) == 3  # fewest annotations first: no plot twice
    assert store.next_plot(info, people[0]).plot_id == first[0].plot_id  # open assignment resumes
    for who, task in zip(people, first):
        store.submit(info, task.plot_id, who, np.zeros(len(task.xy), int), key=f"{who.id}-1")
    second = [store.next_plot(info, who) for who in people]
    assert {t.plot_id for t in first + second} == {p.plot_id for p in store.plots(info)}
    for who, task in zip(people, second):
        store.submit(info, task.plot_id, who, np.zeros(len(task.xy), int), key=f"{who.id}-2")
    assert all(store.next_plot(info, who) is None for who in people)
    progress = store.progress(info, people[0])
    assert (progress.done, progress.total, progress.finished) == (2, 2, True)
    assert [p.n_annotations for p in store.plots(info)] == [1] * 6


def test_plot_order_is_seeded_per_annotator(tmp_path):
    orders = []
    for run in range(2):
        with AnnotationStore(f"sqlite:///{tmp_path / f'{run}.sqlite3'}") as s:
            info = s.create_study("s", plots(8), seed=7)
            who = s.annotator_for_token(info, s.add_annotator(info))
            order = []
            while (task := s.next_plot(info, who)) is not None:
                order.append(task.position)
                s.submit(info, task.plot_id, who, -np.ones(len(task.xy), int))
            orders.append(order)
    assert orders[0] == orders[1] and sorted(orders[0]) == list(range(8))


def test_submit_is_idempotent(store):
    info = store.create_study("s", plots(2))
    who = store.annotator_for_token(info, store.add_annotator(info))
    task = store.next_plot(info, who)
    labels = np.r_[np.zeros(10, int), np.ones(10, int), -np.ones(10, int)]
    first = store.submit(info, task.plot_id, who, labels, key="view-1", seconds=4.5)
    again = store.submit(info, task.plot_id, who, labels, key="view-1", seconds=4.5)
    assert first.id == again.id and len(store.annotations(info)) == 1
    np.testing.assert_array_equal(store.annotations(info)[0].labels, labels)
    assert first.seconds == 4.5 and first.started_at is not None and first.created_at.tzinfo is not None
    with pytest.raises(IdempotencyConflict):
        store.submit(info, task.plot_id, who, labels[::-1], key="view-1")
    with pytest.raises(AlreadyAnnotated):
        store.submit(info, task.plot_id, who, labels, key="view-2")
    assert len(store.annotations(info)) == 1


@pytest.mark.parametrize("case", ["short", "long", "below-minus-one", "fractional", "2-d", "unknown-plot",
                                  "unknown-annotator", "other-study-annotator", "unknown-study",
                                  "other-study-plot", "negative-seconds", "long-key"])
def test_failed_validation_changes_nothing(store, case):
    info = store.create_study("s", plots(2))
    other = store.create_study("o", plots(1, seed=5))
    who = store.annotator_for_token(info, store.add_annotator(info))
    outsider = store.annotator_for_token(other, store.add_annotator(other))
    task = store.next_plot(info, who)
    ok = np.zeros(30, int)
    args = dict(study=info.id, plot_id=task.plot_id, annotator=who, labels=ok, key="k")
    bad = {"short": dict(labels=ok[:-1]), "long": dict(labels=np.zeros(31, int)),
           "below-minus-one": dict(labels=np.r_[ok[:-1], -2]), "fractional": dict(labels=ok + 0.5),
           "2-d": dict(labels=ok.reshape(2, 15)), "unknown-plot": dict(plot_id=10_000),
           "unknown-annotator": dict(annotator=10_000), "other-study-annotator": dict(annotator=outsider),
           "unknown-study": dict(study=10_000), "other-study-plot": dict(plot_id=store.plots(other)[0].plot_id),
           "negative-seconds": dict(seconds=-1), "long-key": dict(key="k" * 101)}[case]
    expected = {"unknown-plot": UnknownPlot, "other-study-plot": UnknownPlot, "unknown-study": UnknownStudy,
                "unknown-annotator": UnknownAnnotator, "other-study-annotator": UnknownAnnotator}.get(case, StoreError)
    with pytest.raises(expected) as err:
        store.submit(**{**args, **bad})
    assert isinstance(err.value, ValueError)
    if case in ("short", "long", "below-minus-one", "fractional", "2-d"):
        assert isinstance(err.value, InvalidLabels)
    assert store.annotations(info) == [] and store.annotations(other) == []
    store.submit(**args)  # the key was not used up by the failed attempt
    assert len(store.annotations(info)) == 1


def test_concurrent_annotators_lose_and_mix_nothing(store):
    n_people, n_plots, n = 20, 50, 30
    info = store.create_study("load", plots(n_plots, n=n))
    plot_ids = [p.plot_id for p in store.plots(info)]
    people = [store.annotator_for_token(info, store.add_annotator(info)) for _ in range(n_people)]
    barrier, errors = threading.Barrier(n_people), []

    def expected(a: int, p: int) -> np.ndarray:
        return (np.arange(n) * (a + 1) + p) % 7 - 1  # distinct per (annotator, plot), includes -1

    def work(a: int):
        try:
            barrier.wait()
            for p, plot_id in enumerate(plot_ids):
                store.submit(info, plot_id, people[a], expected(a, p), key=f"{a}-{p}", seconds=p)
            for p in range(3):  # a retried request after a lost response
                store.submit(info, plot_ids[p], people[a], expected(a, p), key=f"{a}-{p}", seconds=p)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in range(n_people)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    records = store.annotations(info)
    assert len(records) == n_people * n_plots
    index = {who.id: a for a, who in enumerate(people)}
    for r in records:
        a, p = index[r.annotator_id], plot_ids.index(r.plot_id)
        assert r.key == f"{a}-{p}" and r.seconds == p
        np.testing.assert_array_equal(r.labels, expected(a, p))
    assert all(s.n_annotations == n_people for s in store.plots(info))


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_export_import_round_trip(store, tmp_path, suffix):
    big = np.random.default_rng(9).normal(size=(store_records.DISPLAY_MAX + 10, 2))
    info = store.create_study("round trip", plots(3) + [big], seed=2)
    people = [store.annotator_for_token(info, store.add_annotator(info, name=f"p{i}")) for i in range(2)]
    for i, who in enumerate(people):
        for task in (store.plot(info, p.plot_id) for p in store.plots(info)[i:i + 2]):
            labels = np.arange(len(task.xy)) % 3 - 1
            store.submit(info, task.plot_id, who, labels, key=f"{who.name}-{task.plot_id}", seconds=1.25)
    path = store.export(info, tmp_path / f"out{suffix}")
    frame = store.export_frame(info)
    assert {"plot_id", "point", "annotator", "label", "x", "y"} <= set(frame.columns)
    with AnnotationStore(f"sqlite:///{tmp_path / 'other.sqlite3'}") as other:
        copy = other.import_(path)
        assert copy.name == "round trip" and other.verify_admin(copy, copy.admin_token)
        assert [(p.name, p.n_points, p.n_annotations) for p in other.plots(copy)] == \
               [(p.name, p.n_points, p.n_annotations) for p in store.plots(info)]
        for mine, theirs in zip(store.plots(info), other.plots(copy)):
            a, b = store.plot(info, mine.plot_id), other.plot(copy, theirs.plot_id)
            np.testing.assert_array_equal(a.xy, b.xy)  # bit-exact, so the content hash survives
            assert (a.shown is None and b.shown is None) or np.array_equal(a.shown, b.shown)
        got = {(r.annotator, r.key): r for r in other.annotations(copy)}
        for r in store.annotations(info):
            twin = got[(r.annotator, r.key)]
            np.testing.assert_array_equal(twin.labels, r.labels)
            assert twin.seconds == r.seconds
    with pytest.raises(StoreError):
        store.export(info, tmp_path / "out.xlsx")


@pytest.mark.parametrize("column,value,message", [
    ("kind", "bogus", "kind must be"),
    ("variant", 7, "variant 7"),
    ("plot_render", "not json", "unreadable render settings"),
    ("key", "k" * 101, "idempotency key"),
])
def test_import_refuses_values_later_reads_would_choke_on(tmp_path, column, value, message):
    """A tampered export is refused whole instead of breaking every read of the study."""
    with AnnotationStore(f"sqlite:///{tmp_path / 'a.sqlite3'}") as store:
        info = store.create_study("s", plots(1), seed=0)
        who = store.annotator_for_token(info, store.add_annotator(info))
        task = store.next_plot(info, who)
        store.submit(info, task.plot_id, who, np.zeros(len(task.xy), dtype=int), key="k")
        frame = store.export_frame(info)
        frame[column] = value
        frame.to_csv(tmp_path / "bad.csv", index=False)
        with pytest.raises(StoreError, match=message):
            store.import_(tmp_path / "bad.csv")
        assert len(store.studies()) == 1


def test_default_sqlite_file_uses_wal(tmp_path, monkeypatch):
    monkeypatch.delenv("VISCLUST_DB_URL", raising=False)
    monkeypatch.setenv("VISCLUST_DATA_DIR", str(tmp_path / "dir"))
    with AnnotationStore() as s:
        s.create_study("s", plots(1))
    path = tmp_path / "dir" / "annotations.sqlite3"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_cli_create_export_import(tmp_path, capsys):
    from app.cli import main

    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    assert main(["study", "create", "cli", "--plots", "iris", "moons", "--annotators", "2", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "study id: 1" in out and out.count("page=annotate&study=1&token=") == 2
    assert main(["annotations", "export", "1", "-o", str(tmp_path / "a.parquet"), "--db", db]) == 0
    assert main(["annotations", "import", str(tmp_path / "a.parquet"), "--db", db]) == 0
    assert "imported study 2" in capsys.readouterr().out
    assert main(["annotations", "export", "9", "-o", str(tmp_path / "b.csv"), "--db", db]) == 2
    assert "no study 9" in capsys.readouterr().err


def test_upgrade_from_0001_keeps_data_and_fills_defaults(url):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, insert

    from data.store_models import Annotation, Annotator, Plot, Study, StudyPlot

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store_mod.__file__).parent / "migrations"))
    engine = create_engine(url)
    xy = plots(1)[0]
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        now = store_records._now()
        # 0001's columns only, as a study written before 0002 would have them
        conn.execute(insert(Study.__table__).values(id=1, name="old", admin_token_hash="0" * 64, seed=0,
                                                    created_at=now))
        conn.execute(insert(Plot.__table__).values(id=1, sha256="a" * 64, n_points=30, points=xy.tobytes()))
        conn.execute(insert(StudyPlot.__table__).values(study_id=1, plot_id=1, position=0, name="p"))
        conn.execute(insert(Annotator.__table__).values(id=1, study_id=1, name="ann", token_hash="b" * 64,
                                                        created_at=now))
        conn.execute(insert(Annotation.__table__).values(
            id=1, study_id=1, plot_id=1, annotator_id=1, key="k", labels=np.zeros(30, "<i4").tobytes(),
            created_at=now, app_version="old"))
    engine.dispose()
    with AnnotationStore(url) as s:
        info = s.study(1)
        assert (info.policy, info.attention_rate, info.n_plots) == ("balanced", 0.0, 1)
        [record] = s.annotations(1)
        assert record.variant == 0 and record.render is None
        assert s.plot(1, 1).render.x_range is not None  # default settings, resolved from the points
        assert s.replay(1, 1, 1)[:4] == b"\x89PNG"
