"""Human-labelled plots for training ClusterNet, from files or the annotation store.

Accepted sources (``load_annotations``):

1. A folder, one plot per file (the plot's name is the file stem):
   - ``PLOT.npz`` with ``xy`` (n, 2) and ``labels`` (m, n) or (n,): one row per annotator;
   - ``PLOT.csv`` with columns ``x``, ``y`` and one column per annotator (any other name);
   - ``PLOT.csv`` + ``PLOT.labels.csv``: the clustering-benchmarks layout (``data.load_benchmark``,
     0 = noise), e.g. the ``wut`` sets.
   Labels: integers, -1 or empty = the annotator left the point unlabelled.
2. An annotation-store export (``visclust annotations export``): ``.csv``, ``.parquet`` or
   ``.json`` with columns ``plot_id``, ``point`` (index), ``annotator``, ``label``, ``x``, ``y``
   (optional ``study`` and ``shown``). Points with ``shown`` false were not shown to the
   annotator, so they carry no label there (-2, excluded from the loss) rather than noise.
3. A database URL (``sqlite:///...``, ``postgresql+psycopg://...``): every study of the
   store (``data.store.AnnotationStore``), read through the same export frame.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data import InvalidScatterplot, Scatterplot, load_benchmark

ABSENT = -2  # the annotator did not see this point: no target, unlike -1 (seen, left unlabelled)
_FRAME_COLUMNS = {"plot_id", "point", "annotator", "label", "x", "y"}


def load_annotations(source) -> list[Scatterplot]:
    """Plots with their annotators' labelings (m, n) from a folder, an export file or a DB URL."""
    text = str(source)
    if "://" in text:
        return from_store(text)
    path = Path(source)
    if path.is_dir():
        return from_folder(path)
    if not path.exists():
        raise FileNotFoundError(f"annotations not found: {path}")
    return from_export(read_export(path))


def read_export(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".json":
        return pd.read_json(path, orient="records")
    raise InvalidScatterplot(f"cannot read annotations from '{path.name}': use a folder, .csv, .parquet or .json")


def from_store(url: str) -> list[Scatterplot]:
    from data.store import AnnotationStore

    with AnnotationStore(url) as store:
        # Annotators flagged by attention checks are left out of training data.
        frames = [store.export_frame(study.id, exclude_flagged=True) for study in store.studies()]
    return from_export(pd.concat(frames, ignore_index=True)) if frames else []


def from_export(frame: pd.DataFrame) -> list[Scatterplot]:
    """One Scatterplot per (study, plot_id) of an export frame; plots without labels are skipped."""
    missing = _FRAME_COLUMNS - set(frame.columns)
    if missing:
        raise InvalidScatterplot(f"annotation table lacks column(s) {sorted(missing)}")
    keys = ["study", "plot_id"] if "study" in frame.columns else ["plot_id"]
    if "kind" in frame.columns:  # attention checks are generated blobs, not the study's plots
        frame = frame[frame["kind"].fillna("plot") != "check"]
    plots = []
    for key, rows in frame.groupby(keys, sort=True, dropna=False):
        rows = rows[rows["annotator"].notna()]
        if rows.empty:
            continue
        pts = rows[["point", "x", "y"]].drop_duplicates("point").sort_values("point")
        index = {p: i for i, p in enumerate(pts["point"].to_numpy())}
        annotators = sorted(rows["annotator"].astype(str).unique())
        labels = np.full((len(annotators), len(pts)), ABSENT, dtype=np.int64)
        a_idx = rows["annotator"].astype(str).map({a: i for i, a in enumerate(annotators)}).to_numpy()
        p_idx = rows["point"].map(index).to_numpy()
        lab = pd.to_numeric(rows["label"], errors="coerce").fillna(-1).to_numpy(dtype=np.int64)
        if "shown" in rows.columns:
            lab = np.where(rows["shown"].astype(bool).to_numpy(), lab, ABSENT)
        labels[a_idx, p_idx] = np.where(lab < 0, np.maximum(lab, ABSENT), lab)
        name = "/".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        plots.append(_plot(pts[["x", "y"]].to_numpy(dtype=np.float64), labels, name))
    return [p for p in plots if p is not None]


def from_folder(folder: Path) -> list[Scatterplot]:
    plots = []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix == ".npz":
            with np.load(path) as f:
                if "xy" not in f.files or "labels" not in f.files:
                    raise InvalidScatterplot(f"{path.name} must hold arrays 'xy' and 'labels'")
                plots.append(_plot(f["xy"], np.atleast_2d(f["labels"]), path.stem))
        elif path.suffix == ".csv" and not path.name.endswith(".labels.csv"):
            if path.with_name(path.stem + ".labels.csv").exists():
                bench = load_benchmark(folder, path.stem)
                plots.append(_plot(bench.xy, bench.labelings, path.stem))
            else:
                table = pd.read_csv(path)
                if not {"x", "y"} <= set(table.columns):
                    raise InvalidScatterplot(f"{path.name} needs columns x, y and one column per annotator")
                ann = [c for c in table.columns if c not in ("x", "y")]
                labels = table[ann].apply(pd.to_numeric, errors="coerce").fillna(-1).to_numpy(np.int64).T
                plots.append(_plot(table[["x", "y"]].to_numpy(np.float64), labels, path.stem))
    return [p for p in plots if p is not None]


def _plot(xy, labels, name) -> Scatterplot | None:
    xy = np.asarray(xy, dtype=np.float64)
    labels = np.atleast_2d(np.asarray(labels, dtype=np.int64))
    if len(xy) < 3 or labels.shape[0] == 0 or not np.isfinite(xy).all():
        return None
    return Scatterplot(xy, labels=labels, name=str(name), meta={"source": "annotations"})

