"""Write scatterplots and labelings to CSV, TSV, Parquet, JSON or NumPy files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .scatterplot import InvalidScatterplot, Scatterplot


def plot_table(plot: Scatterplot) -> pd.DataFrame:
    """The plot as a table: x, y and one column per reference labeling."""
    table = pd.DataFrame({"x": plot.xy[:, 0], "y": plot.xy[:, 1]})
    if plot.labels is not None:
        labelings = plot.labelings
        if len(labelings) == 1:
            table["label"] = labelings[0]
        else:
            for i, lab in enumerate(labelings):
                table[f"labels{i}"] = lab
    return table


def save(plot: Scatterplot, path) -> Path:
    """Write a plot in the format its extension names; :func:`data.load` reads it back."""
    path = Path(path)
    return write_table(plot_table(plot), path, arrays={"xy": plot.xy, "labels": plot.labels})


def save_labels(labels: dict[str, np.ndarray] | np.ndarray, path, plot: Scatterplot | None = None, *,
                points: bool = True) -> Path:
    """Write one or more labelings (name -> labels), with the points when ``plot`` is given.

    The file keeps one row per row of the file ``plot`` was loaded from: rows its loader dropped
    (NaN/inf coordinates, ``plot.meta['dropped_rows']``) come back with empty labels and
    coordinates, and a ``dropped`` column (only present when some row was dropped) marks them.
    ``points=False`` leaves out the x and y columns.
    """
    return write_table(labels_table(labels, plot, points=points), Path(path))


def labels_table(labels: dict[str, np.ndarray] | np.ndarray, plot: Scatterplot | None = None, *,
                 points: bool = True) -> pd.DataFrame:
    """The table :func:`save_labels` writes (labels as nullable integers, so dropped rows stay empty)."""
    if isinstance(labels, np.ndarray):
        labels = {"label": labels}
    columns = {name: np.asarray(lab, dtype=np.int64) for name, lab in labels.items()}
    if plot is not None and points:
        columns = {"x": plot.xy[:, 0], "y": plot.xy[:, 1], **columns}
    dropped = (plot.meta.get("dropped_rows") or []) if plot is not None else []
    if not dropped:
        return pd.DataFrame(columns)
    kept = np.ones(len(next(iter(columns.values()))) + len(dropped), dtype=bool)
    kept[dropped] = False
    table = pd.DataFrame(index=pd.RangeIndex(len(kept)))
    for name, values in columns.items():
        full = pd.array(np.zeros(len(kept), values.dtype), dtype="Int64" if values.dtype.kind == "i" else "Float64")
        full[kept] = values
        full[~kept] = pd.NA
        table[name] = full
    table["dropped"] = ~kept
    return table


def write_table(table: pd.DataFrame, path: Path, arrays: dict | None = None) -> Path:
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".csv", ".txt"):
        table.to_csv(path, index=False)
    elif suffix == ".tsv":
        table.to_csv(path, index=False, sep="\t")
    elif suffix in (".parquet", ".pq"):
        table.to_parquet(path, index=False)
    elif suffix == ".json":
        path.write_text(json.dumps(table.astype(object).where(table.notna(), None).to_dict(orient="records")))
    elif suffix == ".npy":
        np.save(path, _plain_array(table))
    elif suffix == ".npz":
        payload = {k: v for k, v in (arrays or {}).items() if v is not None} or {"table": _plain_array(table)}
        np.savez_compressed(path, **payload)
    else:
        raise InvalidScatterplot(f"unknown output format '{suffix}'; use .csv, .tsv, .parquet, .json, .npy or .npz")
    return path


def _plain_array(table: pd.DataFrame) -> np.ndarray:
    """A numeric array NumPy can read without pickle: missing values (dropped rows) become NaN."""
    if table.isna().to_numpy().any():
        return table.to_numpy(dtype=np.float64, na_value=np.nan)
    return table.to_numpy()
