"""The annotation store's database plumbing: engines, migrations, the submit statements, a fair lock."""
from __future__ import annotations

import os
import threading
from collections import deque
from importlib import metadata
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import bindparam, create_engine, event, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .store_models import Annotation, Annotator, Assignment, Plot, StudyPlot

_MIGRATION_LOCK = 0x76697363  # pg advisory lock id ("visc"): one process migrates at a time


def default_url() -> str:
    """``VISCLUST_DB_URL``, else a SQLite file in VISCLUST_DATA_DIR or the user's data dir."""
    url = os.environ.get("VISCLUST_DB_URL")
    if url:
        return url
    folder = os.environ.get("VISCLUST_DATA_DIR")
    if not folder:
        import platformdirs

        folder = platformdirs.user_data_dir("visclust")
    Path(folder).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(folder) / 'annotations.sqlite3'}"


def _app_version() -> str:
    try:
        return metadata.version("visclust")[:50]
    except metadata.PackageNotFoundError:
        return "unknown"


APP_VERSION = _app_version()  # looked up once: importlib.metadata scans dist-info folders per call


def submit_statements(dialect: str):
    """The statements of a submission, built once (building them costs more than running them).

    (check, insert, one): ``check`` validates study, annotator and plot at once and ``insert``
    writes; ``one`` (PostgreSQL only, else None; SQL for psycopg) does both in one round trip,
    with the server filling the assignment's start time and variant, the variant's render
    settings and the time.
    """
    plot, who = bindparam("plot"), bindparam("who")
    check = (select(Annotator.name, Plot.n_points, Assignment.created_at, Assignment.variant, StudyPlot.render)
             .select_from(Annotator)
             .join(StudyPlot, (StudyPlot.study_id == Annotator.study_id) & (StudyPlot.plot_id == plot))
             .join(Plot, Plot.id == StudyPlot.plot_id)
             .outerjoin(Assignment, (Assignment.annotator_id == Annotator.id) & (Assignment.plot_id == plot))
             .where(Annotator.id == who, Annotator.study_id == bindparam("study")))
    # ON CONFLICT DO NOTHING (SQLite >= 3.24, PostgreSQL) covers both unique constraints. On the
    # mapped table rather than the class: the ORM's bulk-insert machinery would cost more than the write.
    table = Annotation.__table__
    insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    if dialect != "postgresql":
        return check, insert.on_conflict_do_nothing().returning(table.c.id), None
    # INSERT ... SELECT: no row when study, annotator, plot or label count do not match, and none
    # on a repeat (ON CONFLICT); the caller then takes the two-statement path to say which.
    # Run on the pooled psycopg connection itself (see Submissions._submit_pg), hence psycopg's
    # parameter style.
    one = """
        INSERT INTO annotations (study_id, plot_id, annotator_id, key, labels, seconds, started_at, created_at,
                                 app_version, variant, render, viewport, lassos)
        SELECT an.study_id, sp.plot_id, an.id, %(key)s, %(labels)s, %(seconds)s, asg.created_at, now(),
               %(app_version)s, coalesce(asg.variant, 0), (sp.render::json -> coalesce(asg.variant, 0))::text,
               %(viewport)s, %(lassos)s
        FROM annotators an
        JOIN study_plots sp ON sp.study_id = an.study_id AND sp.plot_id = %(plot)s
        JOIN plots p ON p.id = sp.plot_id
        LEFT JOIN assignments asg ON asg.annotator_id = an.id AND asg.plot_id = sp.plot_id
        WHERE an.id = %(who)s AND an.study_id = %(study)s AND p.n_points = %(n)s
        ON CONFLICT DO NOTHING
        RETURNING id, (SELECT name FROM annotators WHERE id = %(who)s), started_at, created_at, variant, render
    """
    return check, insert.on_conflict_do_nothing().returning(table.c.id), one


def make_engine(url: str):
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            # Autocommit at the driver level so that the "begin" hook below decides how
            # transactions start; the pragmas hold per connection.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            # IMMEDIATE takes the write lock up front (waiting up to busy_timeout): a deferred
            # transaction that reads and then writes fails at once with SQLITE_BUSY in WAL mode.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # pool_size covers 20+ concurrent annotators: connections beyond it are closed on return,
    # so every overflow checkout paid a fresh connect (several ms) under load. No pre-ping: it
    # was one more round trip per submission; a connection the server dropped is replaced when
    # its first statement fails (submit retries once, its key makes the retry idempotent).
    return create_engine(url, pool_size=25, max_overflow=25)


def upgrade(engine) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class FairGate:
    """A lock granted strictly first come, first served.

    threading.Lock lets a releasing thread take the lock straight back (and any thread barge
    in), so with 20 writers some waited many rounds: that was most of the p99 submit latency
    on SQLite. Here a release hands the lock to the oldest waiter.
    """

    def __init__(self):
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Event] = deque()

    def __enter__(self):
        with self._mutex:
            if not self._held:
                self._held = True
                return self
            turn = threading.Event()
            self._waiters.append(turn)
        try:
            turn.wait()  # the releasing thread handed the lock to us
        except BaseException:  # interrupted while queued: leave the queue, or pass on a lock just granted
            with self._mutex:
                granted = turn.is_set()
                if not granted:
                    self._waiters.remove(turn)
            if granted:
                self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False
