"""The annotation store: studies in which people cluster scatterplots by lasso.

SQLite (a file in the user's data dir) by default, PostgreSQL when ``VISCLUST_DB_URL`` or
the ``url`` argument names one. The schema is versioned by the Alembic migrations in
data/migrations and brought to ``head`` whenever a store is opened. Every write is one
transaction; bad input raises a :class:`StoreError` (a ValueError) and changes nothing.
Tokens are random (``secrets``); only their SHA-256 is stored, and they are never logged.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import threading
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from .scatterplot import Scatterplot
from .store_models import Annotation, Annotator, Assignment, Plot, Study, StudyPlot

MAX_POINTS = 200_000   # per plot: a 3.2 MB blob, still quick to send to a browser
DISPLAY_MAX = 10_000   # larger plots are shown (and lassoed) as a seeded subsample of this size
MAX_PLOTS = 1_000      # per study
MAX_NAME = 200
MAX_KEY = 100
MAX_TOKEN = 200        # longer "tokens" are rejected before hashing
_MIGRATION_LOCK = 0x76697363  # pg advisory lock id ("visc"): one process migrates at a time
EXPORT_FORMATS = (".csv", ".parquet", ".json")


class StoreError(ValueError):
    """Input the store refuses; the message is meant for a person."""


class UnknownStudy(StoreError):
    pass


class UnknownPlot(StoreError):
    pass


class UnknownAnnotator(StoreError):
    pass


class InvalidLabels(StoreError):
    pass


class InvalidStudy(StoreError):
    pass


class AlreadyAnnotated(StoreError):
    """The annotator already labelled this plot (under another idempotency key)."""


class IdempotencyConflict(StoreError):
    """An idempotency key reused for a different submission."""


@dataclass(frozen=True)
class StudyInfo:
    id: int
    name: str
    n_plots: int
    per_annotator: int | None
    seed: int
    admin_token: str | None = None  # only known right after creation or import


@dataclass(frozen=True)
class AnnotatorInfo:
    id: int
    study_id: int
    name: str


@dataclass(frozen=True)
class PlotTask:
    """A plot to show: all its points, and the indices shown (None = all)."""

    plot_id: int
    name: str
    position: int
    xy: np.ndarray
    shown: np.ndarray | None
    started_at: datetime | None = None


@dataclass(frozen=True)
class PlotSummary:
    plot_id: int
    name: str
    n_points: int
    n_annotations: int


@dataclass(frozen=True)
class AnnotationRecord:
    id: int
    study_id: int
    plot_id: int
    annotator_id: int
    annotator: str
    key: str
    labels: np.ndarray
    seconds: float | None
    started_at: datetime | None
    created_at: datetime
    app_version: str


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def finished(self) -> bool:
        return self.done >= self.total


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


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; every stored one is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def _app_version() -> str:
    try:
        return metadata.version("visclust")[:50]
    except metadata.PackageNotFoundError:
        return "unknown"


def _make_engine(url: str):
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
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30)


def _upgrade(engine) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _id(obj) -> int:
    """Accept an id or an info object (StudyInfo, AnnotatorInfo) wherever an id is wanted."""
    value = getattr(obj, "id", obj)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise StoreError(f"expected an id (integer), got {type(value).__name__}")
    return int(value)


def _name(name, what: str) -> str:
    name = str(name).strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidStudy(f"{what} must have 1 to {MAX_NAME} characters")
    return name


def _points(xy) -> np.ndarray:
    xy = np.ascontiguousarray(xy, dtype="<f8")
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0:
        raise InvalidStudy(f"a plot needs points of shape (n, 2) with n >= 1, got {xy.shape}")
    if len(xy) > MAX_POINTS:
        raise InvalidStudy(f"a plot may have at most {MAX_POINTS:,} points, this one has {len(xy):,}")
    if not np.isfinite(xy).all():
        raise InvalidStudy("plot coordinates must be finite numbers")
    return xy


def _labels(labels, n: int | None = None) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise InvalidLabels(f"labels must be one value per point, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all() \
                or np.any(arr != np.round(arr)):
            raise InvalidLabels("labels must be whole numbers (-1 = not in a cluster)")
    if n is not None and len(arr) != n:
        raise InvalidLabels(f"the plot has {n} points but {len(arr)} labels were sent")
    if arr.size and (arr.min() < -1 or arr.max() >= 2**31 - 1):
        raise InvalidLabels("labels must be -1 (not in a cluster) or a cluster number >= 0")
    return arr.astype("<i4")


def _seconds(seconds) -> float | None:
    if seconds is None:
        return None
    seconds = float(seconds)
    if not math.isfinite(seconds) or seconds < 0:
        raise StoreError("seconds must be a finite number >= 0")
    return seconds


def _key(key) -> str:
    if key is None:
        return uuid.uuid4().hex
    key = str(key)
    if not key or len(key) > MAX_KEY:
        raise StoreError(f"the idempotency key must have 1 to {MAX_KEY} characters")
    return key


def _json_scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _subsample(n: int, rng: np.random.Generator) -> bytes | None:
    if n <= DISPLAY_MAX:
        return None
    return np.sort(rng.choice(n, DISPLAY_MAX, replace=False)).astype("<i4").tobytes()


class AnnotationStore:
    """Studies, annotators and their lasso labellings in SQLite or PostgreSQL.

    Thread-safe: each call opens its own session. Methods take study and annotator ids or the
    info objects returned by :meth:`create_study` / :meth:`annotator_for_token`.
    """

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        self.engine = _make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time and its busy handler polls with growing sleeps, which
        # starves some threads for seconds; queueing this process's transactions on a lock is
        # fair and wastes no time (other processes still wait through busy_timeout).
        self._lock = threading.Lock() if self.engine.dialect.name == "sqlite" else nullcontext()
        _upgrade(self.engine)

    def __repr__(self) -> str:
        return f"AnnotationStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextmanager
    def _tx(self):
        with self._lock, self._sessions() as session, session.begin():
            yield session

    # --- studies -------------------------------------------------------------------------

    def create_study(self, name: str, plots, per_annotator: int | None = None, seed: int = 0,
                     admin_token: str | None = None) -> StudyInfo:
        """A study of ``plots`` (Scatterplots or anything ``data.load`` reads: bundled names,
        files; numpy arrays are used as they are). ``per_annotator`` caps the plots each annotator sees (None = all);
        ``seed`` fixes every annotator's plot order and the subsamples of large plots."""
        from .loaders import load

        items = []
        for source in plots:
            if isinstance(source, np.ndarray):  # raw points are taken as given (load drops NaN rows)
                plot = Scatterplot(_points(source))
            else:
                plot = source if isinstance(source, Scatterplot) else load(source)
            items.append((plot.name or f"plot {len(items) + 1}", _points(plot.xy), None))
        with self._tx() as s:
            return self._create(s, name, items, per_annotator, seed, admin_token)

    def _create(self, s, name, items, per_annotator, seed, admin_token) -> StudyInfo:
        name = _name(name, "the study name")
        if not items:
            raise InvalidStudy("a study needs at least one plot")
        if len(items) > MAX_PLOTS:
            raise InvalidStudy(f"a study may have at most {MAX_PLOTS} plots")
        if per_annotator is not None and not 1 <= int(per_annotator) <= len(items):
            raise InvalidStudy(f"per_annotator must be between 1 and the number of plots ({len(items)})")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidStudy("seed must be an integer >= 0")
        admin_token = admin_token or secrets.token_urlsafe(24)
        if len(admin_token) > MAX_TOKEN:
            raise InvalidStudy(f"the admin token may have at most {MAX_TOKEN} characters")
        rng = np.random.default_rng(int(seed))
        study = Study(name=name, admin_token_hash=_hash(admin_token), seed=int(seed),
                      per_annotator=None if per_annotator is None else int(per_annotator),
                      created_at=_now())
        s.add(study)
        s.flush()
        seen = set()
        for position, (plot_name, xy, shown) in enumerate(items):
            row = self._plot_row(s, xy)
            if row.id in seen:
                raise InvalidStudy(f"plot '{plot_name}' has the same points as an earlier plot")
            seen.add(row.id)
            shown = _subsample(len(xy), rng) if shown is None else shown
            s.add(StudyPlot(study_id=study.id, plot_id=row.id, position=position,
                            name=_name(str(plot_name)[:MAX_NAME], "a plot name"), shown=shown))
        s.flush()
        return StudyInfo(study.id, study.name, len(items), study.per_annotator, study.seed, admin_token)

    @staticmethod
    def _plot_row(s, xy: np.ndarray) -> Plot:
        blob = xy.tobytes()
        digest = hashlib.sha256(blob).hexdigest()
        row = s.scalar(select(Plot).where(Plot.sha256 == digest))
        if row is not None:
            return row
        try:
            # A savepoint, so that losing a race with another process adding the same
            # points (unique sha256) does not abort the whole study.
            with s.begin_nested():
                row = Plot(sha256=digest, n_points=len(xy), points=blob)
                s.add(row)
            return row
        except IntegrityError:
            return s.scalar(select(Plot).where(Plot.sha256 == digest))

    def study(self, study) -> StudyInfo:
        with self._tx() as s:
            row = self._study(s, study)
            return StudyInfo(row.id, row.name, len(row.plots), row.per_annotator, row.seed)

    def studies(self) -> list[StudyInfo]:
        with self._tx() as s:
            rows = s.scalars(select(Study).order_by(Study.id)).all()
            return [StudyInfo(r.id, r.name, len(r.plots), r.per_annotator, r.seed) for r in rows]

    def verify_admin(self, study, token) -> bool:
        """Whether ``token`` is the study's admin token (False for unknown studies)."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            return False
        with self._tx() as s:
            row = s.get(Study, _id(study))
            return row is not None and hmac.compare_digest(row.admin_token_hash, _hash(token))

    @staticmethod
    def _study(s, study) -> Study:
        row = s.get(Study, _id(study))
        if row is None:
            raise UnknownStudy(f"there is no study {_id(study)}")
        return row

    # --- annotators ----------------------------------------------------------------------

    def add_annotator(self, study, name: str | None = None) -> str:
        """A new annotator of ``study``; returns their token (the only time it is known)."""
        token = secrets.token_urlsafe(24)
        with self._tx() as s:
            row = self._study(s, study)
            annotator = Annotator(study_id=row.id, name=_name(name, "the annotator name") if name else "",
                                  token_hash=_hash(token), created_at=_now())
            s.add(annotator)
            s.flush()
            if not name:
                annotator.name = f"annotator {annotator.id}"
        return token

    def annotator_for_token(self, study, token) -> AnnotatorInfo | None:
        """The annotator of ``study`` holding ``token``, or None."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            return None
        digest = _hash(token)
        with self._tx() as s:
            row = s.scalar(select(Annotator).where(Annotator.token_hash == digest))
            # The lookup is by hash, so timing reveals nothing about the token; compare_digest
            # keeps the final check constant-time as well.
            if row is None or not hmac.compare_digest(row.token_hash, digest) or row.study_id != _id(study):
                return None
            return AnnotatorInfo(row.id, row.study_id, row.name)

    def annotators(self, study) -> list[AnnotatorInfo]:
        with self._tx() as s:
            self._study(s, study)
            rows = s.scalars(select(Annotator).where(Annotator.study_id == _id(study)).order_by(Annotator.id))
            return [AnnotatorInfo(r.id, r.study_id, r.name) for r in rows]

    @staticmethod
    def _annotator(s, study: Study, annotator) -> Annotator:
        row = s.get(Annotator, _id(annotator))
        if row is None:
            raise UnknownAnnotator(f"there is no annotator {_id(annotator)}")
        if row.study_id != study.id:
            raise UnknownAnnotator(f"annotator {row.id} is not part of study {study.id}")
        return row

    # --- plots ---------------------------------------------------------------------------

    def next_plot(self, study, annotator) -> PlotTask | None:
        """The annotator's next plot, or None when they are done.

        An open assignment (shown but not submitted) comes back first, so a reloaded link
        resumes. Otherwise the plot with the fewest annotations (then fewest assignments) is
        chosen, ties broken by the annotator's own seeded permutation of the study's plots.
        """
        for _ in range(3):  # retried when the same annotator races themselves (two tabs)
            try:
                return self._next_plot(study, annotator)
            except IntegrityError:
                continue
        raise StoreError("could not assign a plot; please try again")

    def _next_plot(self, study, annotator) -> PlotTask | None:
        with self._tx() as s:
            st = self._study(s, study)
            who = self._annotator(s, st, annotator)
            mine = {a.plot_id: a for a in s.scalars(select(Assignment).where(Assignment.annotator_id == who.id))}
            done = set(s.scalars(select(Annotation.plot_id).where(Annotation.annotator_id == who.id)))
            by_plot = {sp.plot_id: sp for sp in st.plots}
            for assignment in sorted(mine.values(), key=lambda a: a.id):
                if assignment.plot_id not in done:
                    return self._task(by_plot[assignment.plot_id], assignment.created_at)
            total = st.per_annotator or len(st.plots)
            if len(mine.keys() | done) >= total:
                return None
            n_ann = self._counts(s, Annotation, st.id)
            n_asg = self._counts(s, Assignment, st.id)
            rank = np.random.default_rng([st.seed, who.id]).permutation(len(st.plots))
            candidates = [(n_ann.get(sp.plot_id, 0), n_asg.get(sp.plot_id, 0), int(rank[i]), sp)
                          for i, sp in enumerate(st.plots) if sp.plot_id not in mine and sp.plot_id not in done]
            if not candidates:
                return None
            chosen = min(candidates, key=lambda c: c[:3])[3]
            assignment = Assignment(study_id=st.id, annotator_id=who.id, plot_id=chosen.plot_id, created_at=_now())
            s.add(assignment)
            s.flush()
            return self._task(chosen, assignment.created_at)

    @staticmethod
    def _counts(s, model, study_id: int) -> dict[int, int]:
        rows = s.execute(select(model.plot_id, func.count()).where(model.study_id == study_id)
                         .group_by(model.plot_id))
        return {plot_id: count for plot_id, count in rows}

    @staticmethod
    def _task(sp: StudyPlot, started_at=None) -> PlotTask:
        xy = np.frombuffer(sp.plot.points, dtype="<f8").reshape(-1, 2).copy()
        shown = None if sp.shown is None else np.frombuffer(sp.shown, dtype="<i4").astype(np.int64)
        return PlotTask(sp.plot_id, sp.name, sp.position, xy, shown, started_at)

    def plot(self, study, plot_id: int) -> PlotTask:
        with self._tx() as s:
            return self._task(self._study_plot(s, self._study(s, study), plot_id))

    def plots(self, study) -> list[PlotSummary]:
        with self._tx() as s:
            st = self._study(s, study)
            counts = self._counts(s, Annotation, st.id)
            return [PlotSummary(sp.plot_id, sp.name, sp.plot.n_points, counts.get(sp.plot_id, 0))
                    for sp in st.plots]

    @staticmethod
    def _study_plot(s, study: Study, plot_id) -> StudyPlot:
        sp = s.get(StudyPlot, (study.id, _id(plot_id)))
        if sp is None:
            raise UnknownPlot(f"plot {_id(plot_id)} is not part of study {study.id}")
        return sp

    # --- annotations ---------------------------------------------------------------------

    def submit(self, study, plot_id: int, annotator, labels, key: str | None = None,
               seconds: float | None = None) -> AnnotationRecord:
        """Store one labelling (``labels[i]`` = cluster of point i, -1 = not lassoed).

        ``key`` makes the submission idempotent: sending the same key again returns the
        stored record instead of adding another (None: a fresh key, no such protection).
        """
        arr = _labels(labels)
        key, seconds = _key(key), _seconds(seconds)
        try:
            with self._tx() as s:
                st = self._study(s, study)
                existing = s.scalar(select(Annotation).where(Annotation.study_id == st.id, Annotation.key == key))
                if existing is not None:
                    return self._repeat(s, existing, plot_id, annotator, arr)
                who = self._annotator(s, st, annotator)
                sp = self._study_plot(s, st, plot_id)
                arr = _labels(arr, sp.plot.n_points)
                if s.scalar(select(Annotation.id).where(Annotation.annotator_id == who.id,
                                                        Annotation.plot_id == sp.plot_id)) is not None:
                    raise AlreadyAnnotated(f"{who.name} has already annotated plot {sp.plot_id}")
                started = s.scalar(select(Assignment.created_at).where(Assignment.annotator_id == who.id,
                                                                       Assignment.plot_id == sp.plot_id))
                row = Annotation(study_id=st.id, plot_id=sp.plot_id, annotator_id=who.id, key=key,
                                 labels=arr.tobytes(), seconds=seconds, started_at=started,
                                 created_at=_now(), app_version=_app_version())
                s.add(row)
                s.flush()
                return self._record(row, who.name)
        except IntegrityError:
            # A concurrent request committed first (same key, or same annotator and plot).
            with self._tx() as s:
                existing = s.scalar(select(Annotation).where(Annotation.study_id == _id(study),
                                                             Annotation.key == key))
                if existing is not None:
                    return self._repeat(s, existing, plot_id, annotator, arr)
            raise AlreadyAnnotated(f"plot {_id(plot_id)} has already been annotated by this annotator") from None

    def _repeat(self, s, existing: Annotation, plot_id, annotator, arr) -> AnnotationRecord:
        same = (existing.plot_id == _id(plot_id) and existing.annotator_id == _id(annotator)
                and existing.labels == arr.tobytes())
        if not same:
            raise IdempotencyConflict(f"idempotency key '{existing.key}' was already used for another submission")
        return self._record(existing, s.get(Annotator, existing.annotator_id).name)

    @staticmethod
    def _record(row: Annotation, annotator_name: str) -> AnnotationRecord:
        return AnnotationRecord(row.id, row.study_id, row.plot_id, row.annotator_id, annotator_name, row.key,
                                np.frombuffer(row.labels, dtype="<i4").astype(np.int64), row.seconds,
                                _utc(row.started_at), _utc(row.created_at), row.app_version)

    def annotations(self, study, plot_id: int | None = None) -> list[AnnotationRecord]:
        """Every annotation of the study (or of one of its plots), oldest first."""
        with self._tx() as s:
            st = self._study(s, study)
            query = (select(Annotation, Annotator.name).join(Annotator, Annotator.id == Annotation.annotator_id)
                     .where(Annotation.study_id == st.id).order_by(Annotation.id))
            if plot_id is not None:
                query = query.where(Annotation.plot_id == self._study_plot(s, st, plot_id).plot_id)
            return [self._record(row, name) for row, name in s.execute(query)]

    def labelings(self, study, plot_id: int) -> np.ndarray:
        """The annotations of one plot as an int array (m, n), -1 = not lassoed."""
        records = self.annotations(study, plot_id)
        if not records:
            return np.empty((0, self.plot(study, plot_id).xy.shape[0]), dtype=np.int64)
        return np.stack([r.labels for r in records])

    def progress(self, study, annotator) -> Progress:
        with self._tx() as s:
            st = self._study(s, study)
            who = self._annotator(s, st, annotator)
            done = s.scalar(select(func.count()).select_from(Annotation).where(Annotation.annotator_id == who.id))
            return Progress(int(done), st.per_annotator or len(st.plots))

    # --- export / import -----------------------------------------------------------------

    def export_frame(self, study) -> pd.DataFrame:
        """One row per (plot, annotation, point); plots nobody annotated get one row per point
        with an empty annotator and label, so the points always travel with the labels."""
        with self._tx() as s:
            st = self._study(s, study)
            plots = [self._task(sp) for sp in st.plots]
        by_plot: dict[int, list[AnnotationRecord]] = {}
        for record in self.annotations(study):
            by_plot.setdefault(record.plot_id, []).append(record)
        parts = []
        for task in plots:
            n = len(task.xy)
            shown = np.ones(n, dtype=bool) if task.shown is None else np.isin(np.arange(n), task.shown)
            base = {"study": st.name, "plot_id": task.plot_id, "plot": task.name, "point": np.arange(n),
                    "x": task.xy[:, 0], "y": task.xy[:, 1], "shown": shown}
            for r in by_plot.get(task.plot_id) or [None]:
                parts.append(pd.DataFrame({
                    **base,
                    "annotator": None if r is None else r.annotator,
                    "key": None if r is None else r.key,
                    "seconds": np.nan if r is None or r.seconds is None else r.seconds,
                    "created_at": None if r is None else r.created_at.isoformat(),
                    "app_version": None if r is None else r.app_version,
                    "label": pd.array(np.full(n, pd.NA) if r is None else r.labels, dtype="Int32"),
                }))
        return pd.concat(parts, ignore_index=True)

    def export(self, study, path) -> Path:
        """Write :meth:`export_frame` to ``path`` (.csv, .parquet or .json by its suffix)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in EXPORT_FORMATS:
            raise StoreError(f"cannot export to '{path.name}': use one of {', '.join(EXPORT_FORMATS)}")
        frame = self.export_frame(study)
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        elif suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            # The json module writes floats by repr, so coordinates survive exactly (and so
            # does the plots' content hash); pandas' writer rounds to 15 digits.
            records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
            path.write_text(json.dumps(records, allow_nan=False, default=_json_scalar))
        return path

    def import_(self, path) -> StudyInfo:
        """A new study from a file written by :meth:`export`, in one transaction.

        The study gets a fresh admin token (returned); imported annotators get tokens nobody
        knows, since only hashes were ever stored.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype={"annotator": "string", "key": "string", "plot": "string"})
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix == ".json":
            frame = pd.DataFrame(json.loads(path.read_text()))
        else:
            raise StoreError(f"cannot import '{path.name}': use one of {', '.join(EXPORT_FORMATS)}")
        missing = {"plot_id", "point", "x", "y", "annotator", "label"} - set(frame.columns)
        if missing:
            raise StoreError(f"'{path.name}' lacks the columns {sorted(missing)}")
        name = str(frame["study"].iloc[0]) if "study" in frame and len(frame) else path.stem
        items, annotations = [], []
        for plot_id, rows in frame.groupby("plot_id", sort=False):
            points = rows.drop_duplicates("point").sort_values("point")
            n = len(points)
            if not np.array_equal(points["point"].to_numpy(), np.arange(n)):
                raise StoreError(f"plot {plot_id}: point indices must run from 0 to n - 1")
            shown = None
            if "shown" in points and not points["shown"].astype(bool).all():
                shown = np.flatnonzero(points["shown"].astype(bool).to_numpy()).astype("<i4").tobytes()
            plot_name = str(points["plot"].iloc[0]) if "plot" in points else f"plot {plot_id}"
            items.append((plot_name, _points(points[["x", "y"]].to_numpy(dtype=np.float64)), shown))
            labelled = rows[rows["annotator"].notna()]
            group_by = ["annotator", "key"] if "key" in labelled and labelled["key"].notna().all() else ["annotator"]
            for group, ann in labelled.groupby(group_by, sort=False):
                group = group if isinstance(group, tuple) else (group,)
                labels = np.full(n, -1, dtype=np.int64)
                labels[ann["point"].to_numpy(dtype=np.int64)] = _labels(ann["label"].to_numpy(dtype=np.float64))
                first = ann.iloc[0]
                annotations.append(dict(
                    position=len(items) - 1, annotator=str(group[0]),
                    key=str(group[1]) if len(group) > 1 else f"import-{plot_id}-{group[0]}"[:MAX_KEY],
                    labels=labels, seconds=_seconds(first["seconds"]) if "seconds" in ann and pd.notna(
                        first["seconds"]) else None,
                    created_at=pd.Timestamp(first["created_at"]).to_pydatetime() if "created_at" in ann and pd.notna(
                        first["created_at"]) else _now(),
                    app_version=str(first["app_version"])[:50] if "app_version" in ann and pd.notna(
                        first["app_version"]) else "unknown"))
        with self._tx() as s:
            info = self._create(s, name, items, None, 0, None)
            positions = {sp.position: sp for sp in self._study(s, info.id).plots}
            who: dict[str, Annotator] = {}
            for a in annotations:
                if a["annotator"] not in who:
                    who[a["annotator"]] = Annotator(study_id=info.id, name=_name(a["annotator"], "an annotator name"),
                                                    token_hash=_hash(secrets.token_urlsafe(24)), created_at=_now())
                    s.add(who[a["annotator"]])
                    s.flush()
                sp = positions[a["position"]]
                s.add(Annotation(study_id=info.id, plot_id=sp.plot_id, annotator_id=who[a["annotator"]].id,
                                 key=a["key"], labels=_labels(a["labels"], sp.plot.n_points).tobytes(),
                                 seconds=a["seconds"], started_at=None, created_at=a["created_at"],
                                 app_version=a["app_version"]))
            s.flush()
        return info
