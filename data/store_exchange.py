"""Exchange with the world outside the database: study export and import, and replays.

A mixin of :class:`data.store.AnnotationStore`, which provides the sessions, the study
lookups, ``annotations`` and ``plot`` used here; the file formats live in data/store_io.py.
"""
from __future__ import annotations

import secrets
from pathlib import Path

import pandas as pd

from .render import render_png
from .store_io import export_format, export_frame, parse_export, write_export
from .store_models import Annotation, Annotator
from .store_records import (StoreError, StudyInfo, _hash, _id, _labels, _lassos, _loads, _name, _now,
                            _viewport)


class Exchange:
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
        """The study as one table (see data.store_io.export_frame)."""
        with self._tx() as s:
            st = self._study(s, study)
            name, plots = st.name, [(self._task(sp), sp.kind, sp.render, sp.truth) for sp in st.plots]
        return export_frame(name, plots, self.annotations(study, exclude_flagged=exclude_flagged))

    def export(self, study, path, exclude_flagged: bool = False) -> Path:
        """Write :meth:`export_frame` to ``path`` (.csv, .parquet or .json by its suffix)."""
        path = export_format(path)
        return write_export(self.export_frame(study, exclude_flagged=exclude_flagged), path)

    def import_(self, path) -> StudyInfo:
        """A new study from a file written by :meth:`export`, in one transaction.

        The study gets a fresh admin token (returned); imported annotators get tokens nobody
        knows, since only hashes were ever stored.
        """
        name, items, annotations = parse_export(path)
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
