"""The annotation store: studies in which people cluster scatterplots by lasso.

SQLite (a file in the user's data dir) by default, PostgreSQL when ``VISCLUST_DB_URL`` or
the ``url`` argument names one. The schema is versioned by the Alembic migrations in
data/migrations and brought to ``head`` whenever a store is opened. Every write is one
transaction; bad input raises a :class:`StoreError` (a ValueError) and changes nothing.
Tokens are random (``secrets``); only their SHA-256 is stored, and they are never logged.

Records, errors and input checks live in data/store_records.py, the database plumbing in
data/store_db.py and export files in data/store_io.py.
Study logic that needs perception (routing by ambiguity, CLAMS priors, agreement statistics)
is injected by the caller: perception/study.py wires the defaults (``open_store``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from contextlib import contextmanager, nullcontext
from typing import Callable, Protocol

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from .render import RenderSettings
from .scatterplot import Scatterplot
from .store_db import FairGate, default_url, make_engine, submit_statements, upgrade
from .store_models import Annotation, Annotator, Assignment, Plot, Study, StudyPlot
from .store_records import (MAX_NAME, MAX_PLOTS, MAX_TOKEN, AnnotationRecord, AnnotatorInfo, InvalidStudy, PlotSummary,
                            PlotTask, Progress, StoreError, StudyInfo, UnknownAnnotator, UnknownPlot, UnknownStudy,
                            _attention_checks, _design, _hash, _id, _name, _now, _plot_renders, _points, _subsample,
                            _variants, flagged_annotators, n_checks)
from .store_exchange import Exchange
from .store_submit import Submissions


class Router(Protocol):
    """What the "ambiguity" policy asks about a plot (perception.routing.RoutingCache is one)."""

    def state(self, study_id: int, plot_id: int, annotations: list, prior: float | None):
        """``annotations``: (id, labels bytes) of the plot, oldest first. Returns an object with
        ``priority`` (higher = annotate sooner) and ``finished(target_width)``."""


class AnnotationStore(Submissions, Exchange):
    """Studies, annotators and their lasso labellings in SQLite or PostgreSQL.

    Thread-safe: each call opens its own session. Methods take study and annotator ids or the
    info objects returned by :meth:`create_study` / :meth:`annotator_for_token`.

    ``router`` serves studies of the "ambiguity" policy (without one, their next_plot raises a
    StoreError); ``prior(xy)`` gives such a study's plots their ambiguity guess at creation
    (None: no guess). perception.study.open_store passes the defaults.
    """

    def __init__(self, url: str | None = None, router: Router | None = None,
                 prior: Callable[[np.ndarray], float | None] | None = None):
        self.url = url or default_url()
        self.router, self.prior = router, prior
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time and its busy handler polls with growing sleeps, which
        # starves some threads for seconds; queueing this process's transactions first come,
        # first served wastes no time (other processes still wait through busy_timeout).
        self._lock = FairGate() if self.engine.dialect.name == "sqlite" else nullcontext()
        self._submit_check, self._submit_insert, self._submit_one = submit_statements(self.engine.dialect.name)
        self._autocommit = None if self.engine.dialect.name == "sqlite" else sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
        upgrade(self.engine)

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
        than ``target_width``; its plots get the store's ``prior``.
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
        if policy == "ambiguity" and self.prior is not None:
            for item in items:
                if item.get("kind", "plot") == "plot":
                    item["prior"] = self.prior(item["xy"])
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
        if self.router is None:
            raise StoreError(f"study {st.id} routes by ambiguity: open the store with a router "
                             "(perception.study.open_store)")
        ids = {c[3].plot_id for c in candidates}
        rows = s.execute(select(Annotation.id, Annotation.plot_id, Annotation.labels)
                         .where(Annotation.study_id == st.id, Annotation.plot_id.in_(ids))
                         .order_by(Annotation.id)).all()
        by_plot: dict[int, list] = {}
        for ann_id, plot_id, labels in rows:
            by_plot.setdefault(plot_id, []).append((ann_id, labels))
        keyed = []
        for n_ann, n_asg, rank, sp in candidates:
            state = self.router.state(st.id, sp.plot_id, by_plot.get(sp.plot_id, []), sp.prior)
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
        return flagged_annotators(self.attention_scores(study))
