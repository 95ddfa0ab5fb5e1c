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


def save_labels(labels: dict[str, np.ndarray] | np.ndarray, path, plot: Scatterplot | None = None) -> Path:
    """Write one or more labelings (name -> labels), with the points when ``plot`` is given."""
    if isinstance(labels, np.ndarray):
        labels = {"label": labels}
    table = pd.DataFrame({name: np.asarray(lab, dtype=np.int64) for name, lab in labels.items()})
    if plot is not None:
        table.insert(0, "y", plot.xy[:, 1])
        table.insert(0, "x", plot.xy[:, 0])
    return write_table(table, Path(path))


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
        path.write_text(json.dumps(table.to_dict(orient="records")))
    elif suffix == ".npy":
        np.save(path, table.to_numpy())
    elif suffix == ".npz":
        payload = {k: v for k, v in (arrays or {}).items() if v is not None} or {"table": table.to_numpy()}
        np.savez_compressed(path, **payload)
    else:
        raise InvalidScatterplot(f"unknown output format '{suffix}'; use .csv, .tsv, .parquet, .json, .npy or .npz")
    return path
