"""Export files of the annotation store: writing study frames, reading them back, replays from them.

Kept apart from the database: a study travels as one table with a row per (plot, annotation,
point), and these functions only turn records into that table and back.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .render import RenderSettings, render_png
from .store_records import MAX_KEY, AnnotationRecord, StoreError, _key, _labels, _loads, _now, _points, _seconds

EXPORT_FORMATS = (".csv", ".parquet", ".json")


def _json_scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")



def _imported_renders(plot_id, text: str) -> list[RenderSettings]:
    """Render settings read from an import, or a StoreError naming the plot."""
    try:
        return [RenderSettings.from_dict(d) for d in json.loads(text)]
    except (ValueError, TypeError) as exc:
        raise StoreError(f"plot {plot_id}: unreadable render settings ({exc})") from None



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



def export_frame(study_name: str, plots, records: list[AnnotationRecord]) -> pd.DataFrame:
    """One row per (plot, annotation, point); plots nobody annotated get one row per point
    with an empty annotator and label, so the points always travel with the labels.

    ``plots``: (task, kind, render JSON, truth bytes) per plot of the study, in order.
    """
    by_plot: dict[int, list[AnnotationRecord]] = {}
    for record in records:
        by_plot.setdefault(record.plot_id, []).append(record)
    parts = []
    for task, kind, render, truth in plots:
        n = len(task.xy)
        shown = np.ones(n, dtype=bool) if task.shown is None else np.isin(np.arange(n), task.shown)
        truth = pd.array(np.full(n, pd.NA) if truth is None else np.frombuffer(truth, "<i4"), dtype="Int32")
        base = {"study": study_name, "plot_id": task.plot_id, "plot": task.name, "point": np.arange(n),
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


def export_format(path) -> Path:
    """``path``, or a StoreError when its suffix is not one of EXPORT_FORMATS (checked before any work)."""
    path = Path(path)
    if path.suffix.lower() not in EXPORT_FORMATS:
        raise StoreError(f"cannot export to '{path.name}': use one of {', '.join(EXPORT_FORMATS)}")
    return path


def write_export(frame: pd.DataFrame, path) -> Path:
    """Write an export frame to ``path`` (.csv, .parquet or .json by its suffix)."""
    path = export_format(path)
    suffix = path.suffix.lower()
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


def parse_export(path) -> tuple[str, list[dict], list[dict]]:
    """(study name, plot items, annotations) of an export file, every value checked.

    Items are what ``AnnotationStore._create`` takes; each annotation names its plot by
    ``position`` in the items. Nothing is written, so a bad file changes nothing.
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
    return name, items, annotations
