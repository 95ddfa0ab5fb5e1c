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
from collections import deque
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from alembic import command
from alembic.config import Config
from sqlalchemy import bindparam, create_engine, event, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import sessionmaker

from .render import RenderSettings, render_png
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
POLICIES = ("balanced", "ambiguity")
MAX_ATTENTION_RATE = 0.5
CHECK_POINTS = 150      # points of an attention-check plot
CHECK_MIN_AMI = 0.8     # an annotator whose labelling of a check scores below this is flagged
MAX_VARIANTS = 20
MAX_LASSO_VERTICES = 50_000  # per submission, all lassos together: a long, careful lasso has ~1,000


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
    attention_rate: float = 0.0
    policy: str = "balanced"
    target_width: float = 0.1
    render_variants: tuple[RenderSettings, ...] = ()


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
    render: RenderSettings | None = None  # resolved settings of the assigned variant
    variant: int = 0
    kind: str = "plot"  # "check" = attention check; never shown as such to the annotator

    @property
    def shown_xy(self) -> np.ndarray:
        return self.xy if self.shown is None else self.xy[self.shown]


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
    variant: int = 0
    render: RenderSettings | None = None
    viewport: dict | None = None
    lassos: list | None = None


@dataclass(frozen=True)
class AnnotatorStats:
    annotator_id: int
    name: str
    annotations: int
    median_seconds: float | None
    loo_kappa_alpha: float | None  # mean over their plots of kappa_alpha(them, the others)
    attention_score: float | None  # lowest AMI with the truth over their attention checks
    flagged: bool


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


APP_VERSION = _app_version()  # looked up once: importlib.metadata scans dist-info folders per call


def _submit_statements(dialect: str):
    """The statements of a submission, built once (building them costs more than running them).

    (check, insert, one): ``check`` validates study, annotator and plot at once and ``insert``
    writes; ``one`` (PostgreSQL only, else None) does both in one round trip, with the server
    filling the assignment's start time and variant, the variant's render settings and the time.
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
    one = text("""
        INSERT INTO annotations (study_id, plot_id, annotator_id, key, labels, seconds, started_at, created_at,
                                 app_version, variant, render, viewport, lassos)
        SELECT an.study_id, sp.plot_id, an.id, :key, :labels, :seconds, asg.created_at, now(),
               :app_version, coalesce(asg.variant, 0), (sp.render::json -> coalesce(asg.variant, 0))::text,
               :viewport, :lassos
        FROM annotators an
        JOIN study_plots sp ON sp.study_id = an.study_id AND sp.plot_id = :plot
        JOIN plots p ON p.id = sp.plot_id
        LEFT JOIN assignments asg ON asg.annotator_id = an.id AND asg.plot_id = sp.plot_id
        WHERE an.id = :who AND an.study_id = :study AND p.n_points = :n
        ON CONFLICT DO NOTHING
        RETURNING id, (SELECT name FROM annotators WHERE id = :who), started_at, created_at, variant, render
    """)
    return check, insert.on_conflict_do_nothing().returning(table.c.id), one


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
    # pool_size covers 20+ concurrent annotators: connections beyond it are closed on return,
    # so every overflow checkout paid a fresh connect (several ms) under load. No pre-ping: it
    # was one more round trip per submission; a connection the server dropped is replaced when
    # its first statement fails (submit retries once, its key makes the retry idempotent).
    return create_engine(url, pool_size=25, max_overflow=25)


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


def _variants(render_variants) -> list[RenderSettings]:
    variants = list(render_variants or [RenderSettings()])
    if not 1 <= len(variants) <= MAX_VARIANTS:
        raise InvalidStudy(f"a study has 1 to {MAX_VARIANTS} render variants")
    try:
        variants = [v if isinstance(v, RenderSettings) else RenderSettings.from_dict(dict(v)) for v in variants]
    except (TypeError, ValueError) as exc:
        raise InvalidStudy(f"invalid render settings: {exc}") from None
    names = [v.name or f"variant {i + 1}" for i, v in enumerate(variants)]
    if len(set(names)) < len(names):
        raise InvalidStudy("render variants need distinct names")
    return [v if v.name else RenderSettings.from_dict({**v.to_dict(), "name": n}) for v, n in zip(variants, names)]


def _design(attention_rate, policy, target_width) -> tuple[float, str, float]:
    attention_rate, target_width = float(attention_rate), float(target_width)
    if not 0 <= attention_rate <= MAX_ATTENTION_RATE:
        raise InvalidStudy(f"attention_rate must be between 0 and {MAX_ATTENTION_RATE}")
    if policy not in POLICIES:
        raise InvalidStudy(f"policy must be one of {', '.join(POLICIES)}")
    if not 0 < target_width <= 1:
        raise InvalidStudy("target_width must be in (0, 1]")
    return attention_rate, policy, target_width


def n_checks(attention_rate: float, n_plots: int) -> int:
    """Attention checks per annotator so that they make ``attention_rate`` of all their items."""
    if attention_rate <= 0:
        return 0
    return max(1, math.ceil(attention_rate * n_plots / (1 - attention_rate) - 1e-9))


def _attention_checks(count: int, seed: int) -> list[dict]:
    """Well-separated blobs whose clusters nobody attentive can miss; the blob labels are the truth."""
    from .generate import blobs

    checks = []
    for i in range(count):
        plot = blobs(CHECK_POINTS, k=2 + i % 3, separation=12, seed=int(seed) * 1000 + i)
        checks.append(dict(name=f"check {i + 1}", xy=_points(plot.xy), kind="check",
                           truth=plot.reference_labels))
    return checks


def clams_prior(xy: np.ndarray) -> float | None:
    """CLAMS' predicted ambiguity, routing's guess before anyone has annotated; None if unavailable."""
    try:
        from perception.clams import CLAMS

        return float(CLAMS().score(xy))
    except (ImportError, FileNotFoundError):  # the shipped separability model may still be in training
        return None


def _plot_renders(sp: StudyPlot, xy: np.ndarray) -> list[RenderSettings]:
    if sp.render is None:  # studies created before render settings were stored
        return [RenderSettings().resolve(xy, seed=sp.position)]
    return [RenderSettings.from_dict(d) for d in json.loads(sp.render)]


def _flagged(attention_scores: dict[int, list[float]]) -> set[int]:
    return {who for who, scores in attention_scores.items() if min(scores) < CHECK_MIN_AMI}


def _imported_renders(plot_id, text: str) -> list[RenderSettings]:
    """Render settings read from an import, or a StoreError naming the plot."""
    try:
        return [RenderSettings.from_dict(d) for d in json.loads(text)]
    except (ValueError, TypeError) as exc:
        raise StoreError(f"plot {plot_id}: unreadable render settings ({exc})") from None


def _loads(text: str | None):
    return None if text is None else json.loads(text)


def _viewport(viewport) -> str | None:
    if viewport is None:
        return None
    try:
        x, y = [float(v) for v in viewport["x"]], [float(v) for v in viewport["y"]]
    except (KeyError, TypeError, ValueError):
        raise StoreError('a viewport is {"x": [lo, hi], "y": [lo, hi]}') from None
    if len(x) != 2 or len(y) != 2 or not all(map(math.isfinite, x + y)) or x[0] >= x[1] or y[0] >= y[1]:
        raise StoreError("a viewport needs finite ranges with low < high")
    return json.dumps({"x": x, "y": y})


def _lassos(lassos) -> str | None:
    if lassos is None:
        return None
    out, vertices = [], 0
    try:
        for lasso in lassos:
            x, y = [float(v) for v in lasso["x"]], [float(v) for v in lasso["y"]]
            if len(x) != len(y) or not all(map(math.isfinite, x + y)):
                raise ValueError
            out.append({"cluster": int(lasso.get("cluster", -1)), "x": x, "y": y})
            vertices += len(x)
    except (KeyError, TypeError, ValueError):
        raise StoreError('lassos are [{"cluster": k, "x": [...], "y": [...]}] with finite coordinates') from None
    if vertices > MAX_LASSO_VERTICES:
        raise StoreError(f"the lassos have {vertices:,} vertices; at most {MAX_LASSO_VERTICES:,} are stored")
    return json.dumps(out)


def read_export(path) -> pd.DataFrame:
    """A file written by :meth:`AnnotationStore.export`, as a DataFrame."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, dtype={"annotator": "string", "key": "string", "plot": "string"})
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".json":
        return pd.DataFrame(json.loads(path.read_text()))
    raise StoreError(f"cannot read '{path.name}': use one of {', '.join(EXPORT_FORMATS)}")


def replay_export(path, plot_id: int, annotator: str) -> bytes:
    """:meth:`AnnotationStore.replay` from an export file: the PNG of ``annotator``'s view of a plot."""
    frame = read_export(path)
    rows = frame[(frame["plot_id"] == int(plot_id)) & (frame["annotator"] == annotator)].sort_values("point")
    if rows.empty:
        raise StoreError(f"'{Path(path).name}' has no annotation of plot {plot_id} by {annotator!r}")
    first = rows.iloc[0]
    if "render" not in rows or pd.isna(first["render"]):
        raise StoreError("this export has no render settings (written before they were stored)")
    shown = rows["shown"].astype(bool).to_numpy()
    xy = rows[["x", "y"]].to_numpy(dtype=np.float64)[shown]
    labels = rows["label"].to_numpy(dtype=np.int64)[shown]
    return render_png(xy, RenderSettings.from_json(first["render"]), labels=labels,
                      lassos=_loads(first["lassos"]) if pd.notna(first["lassos"]) else None,
                      viewport=_loads(first["viewport"]) if pd.notna(first["viewport"]) else None)


class _FairGate:
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
        # starves some threads for seconds; queueing this process's transactions first come,
        # first served wastes no time (other processes still wait through busy_timeout).
        self._lock = _FairGate() if self.engine.dialect.name == "sqlite" else nullcontext()
        self._submit_check, self._submit_insert, self._submit_one = _submit_statements(self.engine.dialect.name)
        self._autocommit = None if self.engine.dialect.name == "sqlite" else sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
        self._routing_state = None
        _upgrade(self.engine)

    @property
    def _routing(self):
        """Per-plot agreement state of the ambiguity policy, cached across calls (AMIs are costly)."""
        if self._routing_state is None:
            from perception.routing import RoutingCache

            self._routing_state = RoutingCache()
        return self._routing_state

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

    @contextmanager
    def _submit_tx(self):
        """Where a submission runs. On PostgreSQL in autocommit: its one write is a single INSERT
        (atomic by itself) and the rows it reads before are never changed, so BEGIN and COMMIT
        would only add two network round trips, each a wait for the scheduler on a busy host."""
        if self._autocommit is None:
            with self._tx() as session:
                yield session
        else:
            with self._autocommit() as session:
                yield session

    # --- studies -------------------------------------------------------------------------

    def create_study(self, name: str, plots, per_annotator: int | None = None, seed: int = 0,
                     admin_token: str | None = None, render_variants=None, attention_rate: float = 0.0,
                     policy: str = "balanced", target_width: float = 0.1) -> StudyInfo:
        """A study of ``plots`` (Scatterplots or anything ``data.load`` reads: bundled names,
        files; numpy arrays are used as they are). ``per_annotator`` caps the plots each annotator sees (None = all);
        ``seed`` fixes every annotator's plot order and the subsamples of large plots.

        ``render_variants``: RenderSettings under which each plot is shown (a study factor; each
        annotator sees a plot under one of them, balanced); default one variant of default
        settings. ``attention_rate``: share of each annotator's items that are attention checks
        (well-separated blobs with a known answer). ``policy``: "balanced" or "ambiguity" (see
        perception.routing), whose stopping rule is a 90% interval of human ambiguity narrower
        than ``target_width``.
        """
        from .loaders import load

        items = []
        for source in plots:
            if isinstance(source, np.ndarray):  # raw points are taken as given (load drops NaN rows)
                plot = Scatterplot(_points(source))
            else:
                plot = source if isinstance(source, Scatterplot) else load(source)
            items.append(dict(name=plot.name or f"plot {len(items) + 1}", xy=_points(plot.xy)))
        variants = _variants(render_variants)
        attention_rate, policy, target_width = _design(attention_rate, policy, target_width)
        total = len(items) if per_annotator is None else int(per_annotator)
        items += _attention_checks(n_checks(attention_rate, max(total, 1)), seed)
        if policy == "ambiguity":
            for item in items:
                if item.get("kind", "plot") == "plot":
                    item["prior"] = clams_prior(item["xy"])
        with self._tx() as s:
            return self._create(s, name, items, per_annotator, seed, admin_token, variants,
                                attention_rate, policy, target_width)

    def _create(self, s, name, items, per_annotator, seed, admin_token, variants=None, attention_rate=0.0,
                policy="balanced", target_width=0.1) -> StudyInfo:
        """``items``: dicts with name, xy and optionally shown, kind, truth, prior, render (JSON)."""
        name = _name(name, "the study name")
        n_real = sum(item.get("kind", "plot") == "plot" for item in items)
        if not n_real:
            raise InvalidStudy("a study needs at least one plot")
        if len(items) > MAX_PLOTS:
            raise InvalidStudy(f"a study may have at most {MAX_PLOTS} plots")
        if per_annotator is not None and not 1 <= int(per_annotator) <= n_real:
            raise InvalidStudy(f"per_annotator must be between 1 and the number of plots ({n_real})")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidStudy("seed must be an integer >= 0")
        admin_token = admin_token or secrets.token_urlsafe(24)
        if len(admin_token) > MAX_TOKEN:
            raise InvalidStudy(f"the admin token may have at most {MAX_TOKEN} characters")
        variants = variants or [RenderSettings()]
        rng = np.random.default_rng(int(seed))
        study = Study(name=name, admin_token_hash=_hash(admin_token), seed=int(seed),
                      per_annotator=None if per_annotator is None else int(per_annotator),
                      created_at=_now(), attention_rate=attention_rate, policy=policy, target_width=target_width,
                      render_variants=json.dumps([v.to_dict() for v in variants]))
        s.add(study)
        s.flush()
        seen = set()
        for position, item in enumerate(items):
            xy, plot_name = item["xy"], item["name"]
            row = self._plot_row(s, xy)
            if row.id in seen:
                raise InvalidStudy(f"plot '{plot_name}' has the same points as an earlier plot")
            seen.add(row.id)
            shown = item.get("shown")
            shown = _subsample(len(xy), rng) if shown is None else shown
            # Every variant resolved now (axis ranges, draw seed), so all annotators see the same picture.
            render = item.get("render") or json.dumps(
                [v.resolve(xy, seed=int(seed) * 100_003 + position).to_dict() for v in variants])
            truth = item.get("truth")
            s.add(StudyPlot(study_id=study.id, plot_id=row.id, position=position,
                            name=_name(str(plot_name)[:MAX_NAME], "a plot name"), shown=shown, render=render,
                            kind=item.get("kind", "plot"), prior=item.get("prior"),
                            truth=None if truth is None else np.asarray(truth, "<i4").tobytes()))
        s.flush()
        s.refresh(study)
        return self._info(study, admin_token)

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
            return self._info(self._study(s, study))

    def studies(self) -> list[StudyInfo]:
        with self._tx() as s:
            rows = s.scalars(select(Study).order_by(Study.id)).all()
            return [self._info(r) for r in rows]

    def verify_admin(self, study, token) -> bool:
        """Whether ``token`` is the study's admin token (False for unknown studies)."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            return False
        with self._tx() as s:
            row = s.get(Study, _id(study))
            return row is not None and hmac.compare_digest(row.admin_token_hash, _hash(token))

    @staticmethod
    def _info(row: Study, admin_token: str | None = None) -> StudyInfo:
        variants = tuple(RenderSettings.from_dict(v) for v in json.loads(row.render_variants or "[]"))
        return StudyInfo(row.id, row.name, sum(sp.kind == "plot" for sp in row.plots), row.per_annotator,
                         row.seed, admin_token, row.attention_rate, row.policy, row.target_width,
                         variants or (RenderSettings(),))

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
        resumes. Attention checks are mixed in at the study's rate. Otherwise the study's policy
        picks the plot (perception.routing): "balanced" takes the one with the fewest annotations
        (then fewest assignments), "ambiguity" the most ambiguous one that has not met the
        stopping rule; ties are broken by the annotator's own seeded permutation. The render
        variant is the plot's least used one, ties broken the same way.
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
                    return self._task(by_plot[assignment.plot_id], assignment.created_at, assignment.variant)
            seen = mine.keys() | done
            checks_seen = sum(by_plot[p].kind == "check" for p in seen)
            plots_seen = len(seen) - checks_seen
            total = self._total(st)
            checks_total = n_checks(st.attention_rate, total)
            if plots_seen >= total and checks_seen >= checks_total:
                return None
            # A check is due once the share of checks so far would fall below the rate.
            check_due = checks_seen < checks_total and (
                plots_seen >= total or checks_seen < round(st.attention_rate * (len(seen) + 1)))
            kind = "check" if check_due else "plot"
            n_ann = self._counts(s, Annotation, st.id)
            n_asg = self._counts(s, Assignment, st.id)
            rank = np.random.default_rng([st.seed, who.id]).permutation(len(st.plots))
            candidates = [(n_ann.get(sp.plot_id, 0), n_asg.get(sp.plot_id, 0), int(rank[i]), sp)
                          for i, sp in enumerate(st.plots) if sp.kind == kind and sp.plot_id not in seen]
            if kind == "plot" and st.policy == "ambiguity":
                candidates = self._by_ambiguity(s, st, candidates)
            if not candidates:
                return None
            chosen = min(candidates, key=lambda c: c[:3])[3]
            variant = self._variant(s, st, chosen, who)
            assignment = Assignment(study_id=st.id, annotator_id=who.id, plot_id=chosen.plot_id,
                                    created_at=_now(), variant=variant)
            s.add(assignment)
            s.flush()
            return self._task(chosen, assignment.created_at, variant)

    @staticmethod
    def _total(st: Study) -> int:
        return st.per_annotator or sum(sp.kind == "plot" for sp in st.plots)

    @staticmethod
    def _variant(s, st: Study, sp: StudyPlot, who: Annotator) -> int:
        n = len(json.loads(sp.render)) if sp.render else 1
        used = dict(s.execute(select(Assignment.variant, func.count())
                              .where(Assignment.study_id == st.id, Assignment.plot_id == sp.plot_id)
                              .group_by(Assignment.variant)).all())
        rank = np.random.default_rng([st.seed, who.id, sp.plot_id]).permutation(n)
        return min(range(n), key=lambda v: (used.get(v, 0), int(rank[v])))

    def _by_ambiguity(self, s, st: Study, candidates: list) -> list:
        """Candidates re-keyed by the ambiguity policy; plots that met the stopping rule drop out."""
        ids = {c[3].plot_id for c in candidates}
        rows = s.execute(select(Annotation.id, Annotation.plot_id, Annotation.labels)
                         .where(Annotation.study_id == st.id, Annotation.plot_id.in_(ids))
                         .order_by(Annotation.id)).all()
        by_plot: dict[int, list] = {}
        for ann_id, plot_id, labels in rows:
            by_plot.setdefault(plot_id, []).append((ann_id, labels))
        keyed = []
        for n_ann, n_asg, rank, sp in candidates:
            state = self._routing.state(st.id, sp.plot_id, by_plot.get(sp.plot_id, []), sp.prior)
            if state.finished(st.target_width):
                continue
            keyed.append((-state.priority, n_ann + n_asg, rank, sp))
        return keyed

    @staticmethod
    def _counts(s, model, study_id: int) -> dict[int, int]:
        rows = s.execute(select(model.plot_id, func.count()).where(model.study_id == study_id)
                         .group_by(model.plot_id))
        return {plot_id: count for plot_id, count in rows}

    @staticmethod
    def _task(sp: StudyPlot, started_at=None, variant: int = 0) -> PlotTask:
        xy = np.frombuffer(sp.plot.points, dtype="<f8").reshape(-1, 2).copy()
        shown = None if sp.shown is None else np.frombuffer(sp.shown, dtype="<i4").astype(np.int64)
        return PlotTask(sp.plot_id, sp.name, sp.position, xy, shown, started_at,
                        _plot_renders(sp, xy)[variant], variant, sp.kind)

    def plot(self, study, plot_id: int) -> PlotTask:
        with self._tx() as s:
            return self._task(self._study_plot(s, self._study(s, study), plot_id))

    def plots(self, study, include_checks: bool = False) -> list[PlotSummary]:
        """The study's plots in order; attention checks only on request."""
        with self._tx() as s:
            st = self._study(s, study)
            counts = self._counts(s, Annotation, st.id)
            return [PlotSummary(sp.plot_id, sp.name, sp.plot.n_points, counts.get(sp.plot_id, 0))
                    for sp in st.plots if include_checks or sp.kind == "plot"]

    @staticmethod
    def _study_plot(s, study: Study, plot_id) -> StudyPlot:
        sp = s.get(StudyPlot, (study.id, _id(plot_id)))
        if sp is None:
            raise UnknownPlot(f"plot {_id(plot_id)} is not part of study {study.id}")
        return sp

    # --- annotations ---------------------------------------------------------------------

    def submit(self, study, plot_id: int, annotator, labels, key: str | None = None,
               seconds: float | None = None, viewport: dict | None = None,
               lassos: list | None = None) -> AnnotationRecord:
        """Store one labelling (``labels[i]`` = cluster of point i, -1 = not lassoed).

        ``key`` makes the submission idempotent: sending the same key again returns the
        stored record instead of adding another (None: a fresh key, no such protection).
        The render settings of the assigned variant are stored with it, with the annotator's
        ``viewport`` ({"x": [lo, hi], "y": [lo, hi]}) where zooming was allowed and their
        ``lassos`` ([{"cluster", "x", "y"}] in data coordinates) for replays.
        """
        arr = _labels(labels)
        key, seconds = _key(key), _seconds(seconds)
        viewport_json, lassos_json = _viewport(viewport), _lassos(lassos)
        study_id, plot_id, annotator_id = _id(study), _id(plot_id), _id(annotator)
        if self._submit_one is not None:
            for attempt in (1, 2):
                try:
                    with self._submit_tx() as s:
                        found = s.execute(self._submit_one, dict(
                            study=study_id, plot=plot_id, who=annotator_id, n=len(arr), key=key,
                            labels=arr.astype("<i4").tobytes(), seconds=seconds, app_version=APP_VERSION,
                            viewport=viewport_json, lassos=lassos_json)).first()
                    break
                except DBAPIError as exc:  # a pooled connection the server dropped: retry once
                    if attempt == 2 or not exc.connection_invalidated:
                        raise
            if found is not None:
                new_id, name, started, now, variant, render = found
                return AnnotationRecord(new_id, study_id, plot_id, annotator_id, name, key, arr.astype(np.int64),
                                        seconds, _utc(started), _utc(now), APP_VERSION, variant,
                                        None if render is None else RenderSettings.from_json(render),
                                        _loads(viewport_json), _loads(lassos_json))
        # SQLite, and PostgreSQL when the one statement stored nothing: one SELECT that validates
        # study, annotator and plot at once (and says which is wrong), then one INSERT whose ON
        # CONFLICT DO NOTHING makes a repeat (same key, or same annotator and plot) a no-op instead
        # of an error; only then is the stored row looked up.
        with self._submit_tx() as s:
            found = s.execute(self._submit_check, dict(study=study_id, plot=plot_id, who=annotator_id)).first()
            if found is None:
                self._explain_missing(s, study_id, plot_id, annotator_id)
            name, n_points, started, variant, renders = found
            arr = _labels(arr, n_points)
            variant = variant or 0
            render = None if renders is None else json.dumps(json.loads(renders)[variant], sort_keys=True)
            now = _now()
            values = dict(study_id=study_id, plot_id=plot_id, annotator_id=annotator_id, key=key,
                          labels=arr.tobytes(), seconds=seconds, started_at=started, created_at=now,
                          app_version=APP_VERSION, variant=variant, render=render, viewport=viewport_json,
                          lassos=lassos_json)
            new_id = s.scalar(self._submit_insert, values)
            if new_id is not None:
                return AnnotationRecord(new_id, study_id, plot_id, annotator_id, name, key,
                                        arr.astype(np.int64), seconds, _utc(started), now, APP_VERSION, variant,
                                        None if render is None else RenderSettings.from_json(render),
                                        _loads(viewport_json), _loads(lassos_json))
            existing = s.scalar(select(Annotation).where(Annotation.study_id == study_id, Annotation.key == key))
            if existing is not None:
                return self._repeat(s, existing, plot_id, annotator_id, arr)
            raise AlreadyAnnotated(f"{name} has already annotated plot {plot_id}")

    def _explain_missing(self, s, study_id: int, plot_id: int, annotator_id: int):
        """Raise the error that says which of study, annotator and plot is wrong."""
        st = self._study(s, study_id)
        self._annotator(s, st, annotator_id)
        self._study_plot(s, st, plot_id)
        raise StoreError("the submission does not match the study")  # unreachable unless rows vanish

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
                                _utc(row.started_at), _utc(row.created_at), row.app_version, row.variant,
                                None if row.render is None else RenderSettings.from_json(row.render),
                                _loads(row.viewport), _loads(row.lassos))

    def annotations(self, study, plot_id: int | None = None, exclude_flagged: bool = False,
                    variant: int | None = None, kind: str | None = None) -> list[AnnotationRecord]:
        """Every annotation of the study (or of one of its plots), oldest first.

        ``exclude_flagged`` drops annotators who failed an attention check (see :meth:`flagged`);
        ``variant`` keeps one render variant; ``kind`` "plot" or "check" keeps those plots only.
        """
        dropped = self.flagged(study) if exclude_flagged else set()
        with self._tx() as s:
            st = self._study(s, study)
            query = (select(Annotation, Annotator.name).join(Annotator, Annotator.id == Annotation.annotator_id)
                     .where(Annotation.study_id == st.id).order_by(Annotation.id))
            if plot_id is not None:
                query = query.where(Annotation.plot_id == self._study_plot(s, st, plot_id).plot_id)
            if variant is not None:
                query = query.where(Annotation.variant == int(variant))
            if kind is not None:
                query = query.join(StudyPlot, (StudyPlot.study_id == st.id)
                                   & (StudyPlot.plot_id == Annotation.plot_id)).where(StudyPlot.kind == kind)
            return [self._record(row, name) for row, name in s.execute(query) if row.annotator_id not in dropped]

    def labelings(self, study, plot_id: int, exclude_flagged: bool = False, variant: int | None = None) -> np.ndarray:
        """The annotations of one plot as an int array (m, n), -1 = not lassoed."""
        records = self.annotations(study, plot_id, exclude_flagged=exclude_flagged, variant=variant)
        if not records:
            return np.empty((0, self.plot(study, plot_id).xy.shape[0]), dtype=np.int64)
        return np.stack([r.labels for r in records])

    def human_labelings(self, xy, exclude_flagged: bool = True) -> np.ndarray:
        """Every stored labelling of exactly these points, from any study: (m, n), -1 = not lassoed.

        Points are matched by content hash, so a plot loaded from anywhere finds its annotations.
        """
        xy = _points(xy)
        digest = hashlib.sha256(xy.tobytes()).hexdigest()
        with self._tx() as s:
            plot = s.scalar(select(Plot).where(Plot.sha256 == digest))
            rows = [] if plot is None else s.execute(
                select(Annotation.study_id, Annotation.annotator_id, Annotation.labels)
                .where(Annotation.plot_id == plot.id).order_by(Annotation.id)).all()
        dropped = {study: self.flagged(study) for study in {r.study_id for r in rows}} if exclude_flagged else {}
        kept = [np.frombuffer(r.labels, dtype="<i4").astype(np.int64) for r in rows
                if r.annotator_id not in dropped.get(r.study_id, ())]
        return np.stack(kept) if kept else np.empty((0, len(xy)), dtype=np.int64)

    def progress(self, study, annotator) -> Progress:
        with self._tx() as s:
            st = self._study(s, study)
            who = self._annotator(s, st, annotator)
            done = s.scalar(select(func.count()).select_from(Annotation).where(Annotation.annotator_id == who.id))
            total = self._total(st)
            return Progress(int(done), total + n_checks(st.attention_rate, total))

    # --- quality control -----------------------------------------------------------------

    def attention_scores(self, study) -> dict[int, list[float]]:
        """Per annotator: AMI of each of their attention-check labellings with the known answer."""
        from sklearn.metrics import adjusted_mutual_info_score

        with self._tx() as s:
            st = self._study(s, study)
            truth = {sp.plot_id: np.frombuffer(sp.truth, dtype="<i4") for sp in st.plots
                     if sp.kind == "check" and sp.truth is not None}
            rows = s.execute(select(Annotation.annotator_id, Annotation.plot_id, Annotation.labels)
                             .where(Annotation.study_id == st.id, Annotation.plot_id.in_(truth))).all()
        scores: dict[int, list[float]] = {}
        for who, plot_id, labels in rows:
            # Unlassoed points count as one more class, as everywhere in perception.agreement.
            ami = adjusted_mutual_info_score(truth[plot_id], np.frombuffer(labels, dtype="<i4"))
            scores.setdefault(who, []).append(float(ami))
        return scores

    def flagged(self, study) -> set[int]:
        """Annotators who labelled an attention check with AMI below CHECK_MIN_AMI."""
        return _flagged(self.attention_scores(study))

    def annotator_stats(self, study, exclude_flagged: bool = False) -> list[AnnotatorStats]:
        """Per annotator: annotations, median seconds per plot, leave-one-out kappa_alpha (their
        agreement with the others on the plots they share, others filtered by ``exclude_flagged``)
        and attention-check score."""
        from perception.agreement import kappa_alpha

        scores = self.attention_scores(study)
        flagged = _flagged(scores)
        records = self.annotations(study, kind="plot")
        by_plot: dict[int, list[AnnotationRecord]] = {}
        for r in records:
            if not (exclude_flagged and r.annotator_id in flagged):
                by_plot.setdefault(r.plot_id, []).append(r)
        out = []
        for who in self.annotators(study):
            if exclude_flagged and who.id in flagged:
                continue
            mine = [r for r in records if r.annotator_id == who.id]
            kappas = []
            for r in mine:
                others = [o.labels for o in by_plot.get(r.plot_id, []) if o.annotator_id != who.id]
                if len(others) >= 2:  # alpha among the others needs two of them
                    kappas.append(kappa_alpha(r.labels, np.stack(others)))
            seconds = [r.seconds for r in mine if r.seconds is not None]
            out.append(AnnotatorStats(who.id, who.name, len(mine), float(np.median(seconds)) if seconds else None,
                                      float(np.mean(kappas)) if kappas else None,
                                      min(scores[who.id]) if who.id in scores else None, who.id in flagged))
        return out

    # --- replay --------------------------------------------------------------------------

    def replay(self, study, plot_id: int, annotator) -> bytes:
        """PNG of the plot as ``annotator`` saw it (settings, viewport), their labels and lassos coloured."""
        mine = [r for r in self.annotations(study, plot_id) if r.annotator_id == _id(annotator)]
        if not mine:
            raise StoreError(f"annotator {_id(annotator)} has not annotated plot {_id(plot_id)}")
        record, task = mine[0], self.plot(study, plot_id)
        settings = record.render or task.render
        labels = record.labels if task.shown is None else record.labels[task.shown]
        return render_png(task.shown_xy, settings, labels=labels, lassos=record.lassos, viewport=record.viewport)

    # --- export / import -----------------------------------------------------------------

    def export_frame(self, study, exclude_flagged: bool = False) -> pd.DataFrame:
        """One row per (plot, annotation, point); plots nobody annotated get one row per point
        with an empty annotator and label, so the points always travel with the labels."""
        with self._tx() as s:
            st = self._study(s, study)
            plots = [(self._task(sp), sp.kind, sp.render, sp.truth) for sp in st.plots]
        by_plot: dict[int, list[AnnotationRecord]] = {}
        for record in self.annotations(study, exclude_flagged=exclude_flagged):
            by_plot.setdefault(record.plot_id, []).append(record)
        parts = []
        for task, kind, render, truth in plots:
            n = len(task.xy)
            shown = np.ones(n, dtype=bool) if task.shown is None else np.isin(np.arange(n), task.shown)
            truth = pd.array(np.full(n, pd.NA) if truth is None else np.frombuffer(truth, "<i4"), dtype="Int32")
            base = {"study": st.name, "plot_id": task.plot_id, "plot": task.name, "point": np.arange(n),
                    "x": task.xy[:, 0], "y": task.xy[:, 1], "shown": shown, "kind": kind, "truth": truth,
                    "plot_render": render or json.dumps([task.render.to_dict()])}
            for r in by_plot.get(task.plot_id) or [None]:
                parts.append(pd.DataFrame({
                    **base,
                    "annotator": None if r is None else r.annotator,
                    "key": None if r is None else r.key,
                    "seconds": np.nan if r is None or r.seconds is None else r.seconds,
                    "created_at": None if r is None else r.created_at.isoformat(),
                    "app_version": None if r is None else r.app_version,
                    "variant": pd.array([pd.NA if r is None else r.variant] * n, dtype="Int32"),
                    "render": None if r is None or r.render is None else r.render.to_json(),
                    "viewport": None if r is None or r.viewport is None else json.dumps(r.viewport),
                    "lassos": None if r is None or r.lassos is None else json.dumps(r.lassos),
                    "label": pd.array(np.full(n, pd.NA) if r is None else r.labels, dtype="Int32"),
                }))
        return pd.concat(parts, ignore_index=True)

    def export(self, study, path, exclude_flagged: bool = False) -> Path:
        """Write :meth:`export_frame` to ``path`` (.csv, .parquet or .json by its suffix)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in EXPORT_FORMATS:
            raise StoreError(f"cannot export to '{path.name}': use one of {', '.join(EXPORT_FORMATS)}")
        frame = self.export_frame(study, exclude_flagged=exclude_flagged)
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
        frame = read_export(path)
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
            item = dict(name=plot_name, xy=_points(points[["x", "y"]].to_numpy(dtype=np.float64)), shown=shown)
            first_point = points.iloc[0]
            if "kind" in points and pd.notna(first_point["kind"]):
                item["kind"] = str(first_point["kind"])
                if item["kind"] not in ("plot", "check"):
                    raise StoreError(f"plot {plot_id}: kind must be 'plot' or 'check', not {item['kind']!r}")
            if item.get("kind") == "check" and "truth" in points:
                item["truth"] = _labels(points["truth"].to_numpy(dtype=np.float64))
            if "plot_render" in points and pd.notna(first_point["plot_render"]):
                item["render"] = str(first_point["plot_render"])
                n_variants = len(_imported_renders(plot_id, item["render"]))
            else:
                n_variants = 1
            items.append(item)
            labelled = rows[rows["annotator"].notna()]
            group_by = ["annotator", "key"] if "key" in labelled and labelled["key"].notna().all() else ["annotator"]
            for group, ann in labelled.groupby(group_by, sort=False):
                group = group if isinstance(group, tuple) else (group,)
                labels = np.full(n, -1, dtype=np.int64)
                labels[ann["point"].to_numpy(dtype=np.int64)] = _labels(ann["label"].to_numpy(dtype=np.float64))
                first = ann.iloc[0]
                annotations.append(dict(
                    position=len(items) - 1, annotator=str(group[0]),
                    key=_key(group[1]) if len(group) > 1 else f"import-{plot_id}-{group[0]}"[:MAX_KEY],
                    labels=labels, seconds=_seconds(first["seconds"]) if "seconds" in ann and pd.notna(
                        first["seconds"]) else None,
                    created_at=pd.Timestamp(first["created_at"]).to_pydatetime() if "created_at" in ann and pd.notna(
                        first["created_at"]) else _now(),
                    app_version=str(first["app_version"])[:50] if "app_version" in ann and pd.notna(
                        first["app_version"]) else "unknown",
                    **{col: first[col] if col in ann and pd.notna(first[col]) else None
                       for col in ("variant", "render", "viewport", "lassos")}))
                # Checked here: every later read of the study parses these values.
                if not 0 <= int(annotations[-1]["variant"] or 0) < n_variants:
                    raise StoreError(f"plot {plot_id}: render variant {annotations[-1]['variant']} does not exist")
                if annotations[-1]["render"] is not None:
                    _imported_renders(plot_id, f"[{annotations[-1]['render']}]")
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
                                 app_version=a["app_version"], variant=int(a["variant"] or 0),
                                 render=None if a["render"] is None else str(a["render"]),
                                 viewport=_viewport(_loads(a["viewport"])), lassos=_lassos(_loads(a["lassos"]))))
            s.flush()
        return info
