"""Read a scatterplot from files, bytes, arrays, tables or bundled names."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .scatterplot import InvalidScatterplot, Scatterplot
from .validate import clean_points

DEFAULT_MAX_BYTES = 500 * 1024 * 1024
LABEL_COLUMNS = ("label", "labels", "cluster", "class")
FORMATS = {
    ".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
    ".json": "json", ".npy": "npy", ".npz": "npz",
}


def load(source, x=None, y=None, *, label=None, strict: bool = False,
         max_bytes: int = DEFAULT_MAX_BYTES, format: str | None = None, name: str | None = None) -> Scatterplot:
    """Load a scatterplot.

    ``source``: a file path (CSV/TSV, Parquet, JSON, .npy/.npz), a path to a benchmark set
    ``DIR/NAME`` (``NAME.csv`` + ``NAME.labels.csv``, label 0 = noise), a bundled data set
    name (see :func:`data.datasets`), raw bytes with ``format``, a DataFrame or an array.
    ``x``/``y`` pick columns by name or index (default: the first two numeric columns);
    ``label`` names a label column (default: a column called label/labels/cluster/class).
    Rows with NaN/inf are dropped and counted in ``meta['dropped_nonfinite']`` unless ``strict``.
    """
    if isinstance(source, Scatterplot):
        return source
    if isinstance(source, pd.DataFrame):
        return from_table(source, x, y, label=label, strict=strict, name=name or "table")
    if isinstance(source, np.ndarray):
        return from_array(source, strict=strict, name=name or "array")
    if isinstance(source, (bytes, bytearray)):
        if format is None:
            raise InvalidScatterplot("raw bytes need a format (csv, tsv, parquet, json, npy or npz)")
        if len(source) > max_bytes:
            raise InvalidScatterplot(_too_big(len(source), max_bytes))
        return _parse(io.BytesIO(bytes(source)), format, x, y, label, strict, name or "upload")
    if isinstance(source, (str, Path)):
        return _load_path(source, x, y, label, strict, max_bytes, format, name)
    raise InvalidScatterplot(f"cannot load a scatterplot from a {type(source).__name__}")


def _load_path(source, x, y, label, strict, max_bytes, format, name):
    from .gallery import bundled, datasets

    path = Path(source).expanduser()
    if not path.exists():
        bench = path.with_suffix(".csv") if path.suffix == "" else None
        if bench is not None and bench.exists() and bench.with_name(path.name + ".labels.csv").exists():
            return load_benchmark(path.parent, path.name, strict=strict)
        if isinstance(source, str) and source in datasets():
            return bundled(source)
        raise InvalidScatterplot(f"no such file or bundled data set: {source!s}")
    if path.is_dir():
        raise InvalidScatterplot(
            f"{path} is a folder; name one data set in it, e.g. {path / 'NAME'} for NAME.csv + NAME.labels.csv"
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise InvalidScatterplot(_too_big(size, max_bytes))
    fmt = format or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidScatterplot(
            f"unknown file format '{path.suffix}'; use CSV, TSV, Parquet, JSON, .npy or .npz"
        )
    labels_file = path.with_name(path.stem + ".labels.csv")
    if fmt == "csv" and labels_file.exists() and x is None and y is None:
        return load_benchmark(path.parent, path.stem, strict=strict)
    with open(path, "rb") as fh:
        return _parse(fh, fmt, x, y, label, strict, name or path.stem)


def _too_big(size, cap):
    return f"the file is {size / 1e6:.1f} MB, over the {cap / 1e6:.0f} MB limit; raise max_bytes to load it"


def _parse(fh, fmt, x, y, label, strict, name) -> Scatterplot:
    fmt = fmt.lower().lstrip(".")
    try:
        if fmt in ("csv", "tsv"):
            raw = fh.read()
            text = _decode(raw)
            sep = "\t" if fmt == "tsv" else None
            table = pd.read_csv(io.StringIO(text), sep=sep, engine="python")
            return from_table(table, x, y, label=label, strict=strict, name=name)
        if fmt == "parquet":
            table = pd.read_parquet(fh)
            return from_table(table, x, y, label=label, strict=strict, name=name)
        if fmt == "json":
            return _from_json(fh.read(), x, y, label, strict, name)
        if fmt in ("npy", "npz"):
            return _from_numpy(fh, fmt, strict, name)
    except InvalidScatterplot:
        raise
    except (ValueError, OSError, UnicodeError, KeyError, pd.errors.ParserError, EOFError) as exc:
        raise InvalidScatterplot(f"could not read the {fmt.upper()} data: {_short(exc)}") from None
    except Exception as exc:  # pyarrow and numpy raise their own types on corrupt files
        raise InvalidScatterplot(f"could not read the {fmt.upper()} data: {_short(exc)}") from None
    raise InvalidScatterplot(f"unknown format '{fmt}'; use csv, tsv, parquet, json, npy or npz")


def _short(exc) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _decode(raw: bytes) -> str:
    if b"\x00" in raw[:4096]:
        raise InvalidScatterplot("the file looks binary, not text; is it really CSV/TSV?")
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidScatterplot("the file's text encoding is not UTF-8 or Latin-1")


def _from_json(raw, x, y, label, strict, name):
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidScatterplot(f"malformed JSON: {exc}") from None
    if isinstance(obj, dict) and "points" in obj:
        labels = obj.get("labels")
        return from_array(np.asarray(obj["points"], dtype=object), labels=labels, strict=strict, name=name)
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        return from_table(pd.DataFrame.from_records(obj), x, y, label=label, strict=strict, name=name)
    if isinstance(obj, dict):
        return from_table(pd.DataFrame(obj), x, y, label=label, strict=strict, name=name)
    if isinstance(obj, list):
        return from_array(np.asarray(obj, dtype=object), strict=strict, name=name)
    raise InvalidScatterplot("JSON must be [[x, y], ...], a list of records, or {\"points\": [...]}")


def _from_numpy(fh, fmt, strict, name):
    obj = np.load(fh, allow_pickle=False)
    if fmt == "npz":
        keys = list(obj.keys())
        key = next((k for k in ("xy", "points", "X") if k in keys), keys[0] if keys else None)
        if key is None:
            raise InvalidScatterplot("the .npz archive holds no arrays")
        labels = next((obj[k] for k in ("labels", "y") if k in keys and k != key), None)
        return from_array(obj[key], labels=labels, strict=strict, name=name)
    return from_array(obj, strict=strict, name=name)


def from_array(arr, labels=None, *, strict: bool = False, name: str = "array") -> Scatterplot:
    """Points from an (n, >=2) array: the first two columns are x and y."""
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise InvalidScatterplot(f"expected an (n, 2) array of points, got shape {arr.shape}")
    try:
        xy = arr[:, :2].astype(np.float64)
    except (TypeError, ValueError):
        raise InvalidScatterplot("the points contain values that are not numbers") from None
    meta: dict = {}
    xy, labels = clean_points(xy, labels, strict=strict, meta=meta)
    return Scatterplot(xy, labels=labels, name=name, meta=meta)


def from_table(table: pd.DataFrame, x=None, y=None, *, label=None, strict: bool = False,
               name: str = "table") -> Scatterplot:
    """Points from two columns of a table, chosen by name or position."""
    if table.shape[0] == 0:
        raise InvalidScatterplot("the data has no points")
    label_col = _pick_label(table, label)
    candidates = [c for c in table.columns if c != label_col]
    xcol = _pick_column(table, x, candidates)
    ycol = _pick_column(table, y, [c for c in candidates if c != xcol])
    xs = _numeric(table[xcol], xcol)
    ys = _numeric(table[ycol], ycol)
    labels = None
    if label_col is not None:
        lab = pd.to_numeric(table[label_col], errors="coerce")
        labels = lab.fillna(-1).to_numpy().astype(np.int64) if lab.notna().any() else \
            pd.factorize(table[label_col])[0].astype(np.int64)
    meta: dict = {"x": str(xcol), "y": str(ycol), "columns": [str(c) for c in table.columns]}
    if label_col is not None:
        meta["label"] = str(label_col)
    xy, labels = clean_points(np.column_stack([xs, ys]), labels, strict=strict, meta=meta)
    return Scatterplot(xy, labels=labels, name=name, meta=meta)


def _pick_label(table, label):
    if label is not None:
        if label not in table.columns:
            raise InvalidScatterplot(f"no label column '{label}'; columns are {list(map(str, table.columns))}")
        return label
    return next((c for c in table.columns if str(c).lower() in LABEL_COLUMNS), None)


def _pick_column(table, choice, candidates):
    if choice is None:
        numeric = [c for c in candidates if _is_numeric(table[c])]
        if not numeric:
            raise InvalidScatterplot(_no_numeric_msg(table))
        return numeric[0]
    if choice in table.columns:
        return choice
    if isinstance(choice, (int, np.integer)) or (isinstance(choice, str) and choice.lstrip("-").isdigit()):
        idx = int(choice)
        if -len(table.columns) <= idx < len(table.columns):
            return table.columns[idx]
        raise InvalidScatterplot(f"column index {idx} is out of range (the table has {len(table.columns)} columns)")
    raise InvalidScatterplot(f"no column '{choice}'; columns are {list(map(str, table.columns))}")


def _no_numeric_msg(table):
    return (f"need two numeric columns for x and y; numeric columns found: "
            f"{[str(c) for c in table.columns if _is_numeric(table[c])]} of {list(map(str, table.columns))}")


def _is_numeric(col: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_numeric_dtype(col):
        return True
    converted = pd.to_numeric(col, errors="coerce")
    return converted.notna().sum() >= max(1, 0.9 * col.notna().sum())


def _numeric(col: pd.Series, name) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    converted = pd.to_numeric(col, errors="coerce")
    bad = int((converted.isna() & col.notna()).sum())
    if bad > 0.1 * max(1, col.notna().sum()):
        example = col[converted.isna() & col.notna()].iloc[0]
        raise InvalidScatterplot(f"column '{name}' is not numeric (e.g. value {example!r})")
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


def load_benchmark(folder, name: str, *, strict: bool = False) -> Scatterplot:
    """A set in the clustering-benchmarks layout: NAME.csv + NAME.labels.csv (0 = noise -> -1)."""
    folder = Path(folder)
    points_file, labels_file = folder / f"{name}.csv", folder / f"{name}.labels.csv"
    if not points_file.exists():
        raise InvalidScatterplot(f"no benchmark set '{name}' in {folder}")
    points = pd.read_csv(points_file)
    labels = None
    if labels_file.exists():
        raw = pd.read_csv(labels_file).to_numpy(dtype=np.int64).T  # (m, n)
        labels = np.where(raw == 0, -1, raw - 1)
    meta: dict = {"source": str(points_file)}
    xy, labels = clean_points(points.iloc[:, :2].to_numpy(), labels, strict=strict, meta=meta)
    if labels is not None and len(labels) == 1:
        labels = labels[0]
    return Scatterplot(xy, labels=labels, name=name, meta=meta)


def benchmark_names(folder) -> list[str]:
    """Names of the sets in a clustering-benchmarks folder."""
    return sorted(p.name[: -len(".labels.csv")] for p in Path(folder).glob("*.labels.csv"))
