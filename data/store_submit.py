"""Submissions to the annotation store: one labelling per annotator and plot, idempotent by key.

The hot path of a study (every annotator's every plot), hence the prepared statements and the
single round trip on PostgreSQL. A mixin of :class:`data.store.AnnotationStore`, which provides
the sessions, the prepared statements and the study/annotator/plot lookups used here.
"""
from __future__ import annotations

import json
from contextlib import contextmanager

import numpy as np
import psycopg
from sqlalchemy import select

from .render import RenderSettings
from .store_db import APP_VERSION
from .store_models import Annotation, Annotator
from .store_records import (AlreadyAnnotated, AnnotationRecord, IdempotencyConflict, StoreError, _id, _key, _labels,
                            _lassos, _loads, _now, _seconds, _utc, _viewport)


class Submissions:
    """Writing and reading back annotations (see the module docstring)."""

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

    def _submit_pg(self, params: dict):
        """The one-statement submission (PostgreSQL) on a pooled psycopg connection in autocommit.

        On the driver's connection rather than through a Session: SQLAlchemy's session and result
        machinery cost 0.45 of the 0.65 ms of client CPU a submission took, which 20 annotators
        queue for. Autocommit is switched back off before the connection returns to the pool,
        where sessions expect transactions. A connection the server dropped is discarded and the
        submission retried once (its key makes the retry idempotent).
        """
        for attempt in (1, 2):
            raw = self.engine.raw_connection()
            try:
                driver = raw.driver_connection
                driver.autocommit = True
                try:
                    return driver.execute(self._submit_one, params, prepare=True).fetchone()
                finally:
                    driver.autocommit = False
            except psycopg.OperationalError:
                raw.invalidate()
                if attempt == 2:
                    raise
            finally:
                raw.close()

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
            found = self._submit_pg(dict(study=study_id, plot=plot_id, who=annotator_id, n=len(arr), key=key,
                                         labels=arr.astype("<i4").tobytes(), seconds=seconds,
                                         app_version=APP_VERSION, viewport=viewport_json, lassos=lassos_json))
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
