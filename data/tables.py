"""High-dimensional tables (many numeric columns, an optional label column) for projection."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .loaders import LABEL_COLUMNS, _decode
from .scatterplot import InvalidScatterplot

MAX_COLUMNS = 10_000


@dataclass
class Table:
    """Rows to project: ``X`` (n, d) float64, optional ``labels`` (n,) int, column names."""

    X: np.ndarray
    labels: np.ndarray | None = None
    columns: list = field(default_factory=list)
    name: str = ""
    meta: dict = field(default_factory=dict)


def _sklearn_table(name):
    from sklearn import datasets as skd

    bunch = {"digits": skd.load_digits, "wine": skd.load_wine, "iris": skd.load_iris,
             "breast-cancer": skd.load_breast_cancer}[name]()
    return Table(bunch.data.astype(np.float64), bunch.target.astype(np.int64),
                 [str(c) for c in getattr(bunch, "feature_names", range(bunch.data.shape[1]))], name,
                 {"source": f"scikit-learn load_{name.replace('-', '_')}"})


def _penguins_table():
    from palmerpenguins import load_penguins

    cols = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    frame = load_penguins().dropna(subset=cols)
    labels = frame["species"].astype("category").cat.codes.to_numpy().astype(np.int64)
    return Table(frame[cols].to_numpy(np.float64), labels, cols, "penguins", {"source": "palmerpenguins"})


TABLES = {
    "digits": lambda: _sklearn_table("digits"),
    "wine": lambda: _sklearn_table("wine"),
    "iris": lambda: _sklearn_table("iris"),
    "breast-cancer": lambda: _sklearn_table("breast-cancer"),
    "penguins": _penguins_table,
}


def table_datasets() -> list[str]:
    """Bundled high-dimensional sets (from installed packages)."""
    return list(TABLES)


def load_table(source, label: str | None = None, *, max_rows: int | None = None) -> Table:
    """A bundled set name, a CSV/TSV/Parquet file, a DataFrame or an array; all numeric
    columns but ``label`` become features (default label: a column named label/class/...)."""
    if isinstance(source, np.ndarray):
        frame = pd.DataFrame(source)
        name = "array"
    elif isinstance(source, pd.DataFrame):
        frame, name = source, "table"
    elif isinstance(source, str) and source in TABLES and not Path(source).exists():
        table = TABLES[source]()
        return table if max_rows is None else _head(table, max_rows)
    else:
        path = Path(source)
        if not path.exists():
            raise InvalidScatterplot(f"no such file or bundled table: {source} (bundled: {table_datasets()})")
        suffix = path.suffix.lower()
        try:
            if suffix in (".parquet", ".pq"):
                frame = pd.read_parquet(path)
            elif suffix in (".csv", ".tsv", ".txt"):
                from io import StringIO

                frame = pd.read_csv(StringIO(_decode(path.read_bytes())), sep="\t" if suffix == ".tsv" else ",")
            else:
                raise InvalidScatterplot(f"unknown table format '{suffix}'; use CSV, TSV or Parquet")
        except InvalidScatterplot:
            raise
        except Exception as exc:  # pandas/pyarrow raise many types on corrupt files
            raise InvalidScatterplot(f"could not read {path.name}: {str(exc).splitlines()[0][:200]}") from None
        name = path.stem
    return _head(_from_frame(frame, label, name), max_rows) if max_rows else _from_frame(frame, label, name)


def _from_frame(frame: pd.DataFrame, label, name) -> Table:
    if label is not None and label not in frame.columns:
        raise InvalidScatterplot(f"no label column '{label}'; columns are {list(map(str, frame.columns))}")
    if label is None:
        label = next((c for c in frame.columns if str(c).lower() in LABEL_COLUMNS), None)
    features = frame.drop(columns=[label]) if label is not None else frame
    numeric = features.select_dtypes(include=[np.number]).drop(
        columns=features.select_dtypes(include=["bool"]).columns)
    if numeric.shape[1] < 2:
        raise InvalidScatterplot("need at least two numeric feature columns to project")
    if numeric.shape[1] > MAX_COLUMNS:
        raise InvalidScatterplot(f"{numeric.shape[1]} columns is over the limit of {MAX_COLUMNS}")
    X = numeric.to_numpy(np.float64)
    keep = np.isfinite(X).all(axis=1)
    labels = None
    if label is not None:
        labels = pd.factorize(frame[label])[0].astype(np.int64)[keep]
    X = X[keep]
    if len(X) < 10:
        raise InvalidScatterplot(f"need at least 10 complete rows to project, got {len(X)}")
    return Table(X, labels, [str(c) for c in numeric.columns], name,
                 {"dropped_rows": int((~keep).sum()), "label": None if label is None else str(label)})


def _head(table: Table, max_rows: int) -> Table:
    if len(table.X) <= max_rows:
        return table
    idx = np.sort(np.random.default_rng(0).choice(len(table.X), max_rows, replace=False))
    labels = None if table.labels is None else table.labels[idx]
    return Table(table.X[idx], labels, table.columns, table.name, {**table.meta, "subsampled_from": len(table.X)})
