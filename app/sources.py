"""Data-source strings: one string names a plot, so that the URL can carry it.

``iris`` (bundled), ``gen:blobs:n=2000,k=5`` (a generator with its parameters),
``gaussian-10M`` (a large seeded Gaussian mixture, for speed checks), ``upload:<id>``
(a file uploaded to this server, kept in a cache folder that all its processes share: see app.uploads)
or ``parquet:<path>`` (a Parquet file or folder of any size on the server, opened through Dask as a
data.large.LazyPlot; only under the folders in $VISCLUST_DATA_ROOTS, default the working folder,
since the path comes from a URL).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import data
from data import InvalidScatterplot, Scatterplot
from data.large import LazyPlot, gaussian_mixture, shared_client

from . import jobs, uploads

MAX_POINTS = 10_000_000
ROOTS_ENV = "VISCLUST_DATA_ROOTS"
_allowed: set[Path] = set()


def allow(path) -> str:
    """Let this process open one more Parquet path (a notebook's own file); returns its data-set string."""
    path = Path(path).resolve()
    _allowed.add(path)
    return f"parquet:{path}"


def _open_parquet(text: str) -> LazyPlot:
    path = Path(text).resolve()
    roots = [Path(r).resolve() for r in os.environ.get(ROOTS_ENV, os.getcwd()).split(os.pathsep) if r]
    if path not in _allowed and not any(path.is_relative_to(root) for root in roots):
        raise InvalidScatterplot(f"{text} is outside the folders this server may read ({ROOTS_ENV})")
    shared_client()  # views, labels and lassos of Dask-backed plots run on the process's cluster
    plot = LazyPlot(path)
    plot.subsample  # sampled now, in the loading job, not on the first colouring
    return plot


def generator_key(kind: str, params: dict) -> str:
    body = ",".join(f"{k}={v}" for k, v in params.items())
    return f"gen:{kind}:{body}"


def _number(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text)
    if not match:
        raise InvalidScatterplot(f"'{text}' is not a point count such as 5000, 100k or 10M")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    n = int(float(match.group(1)) * scale)
    if not 3 <= n <= MAX_POINTS:
        raise InvalidScatterplot(f"point counts go from 3 to {MAX_POINTS:,}, not {n:,}")
    return n


def store_upload(plot: Scatterplot, raw: bytes) -> str:
    """Keep an uploaded plot where every server process finds it, so its URL can be shared and reloaded."""
    return uploads.save(plot, raw)


def parse_upload(raw: bytes, filename: str, x=None, y=None, label=None) -> Scatterplot:
    """The plot in an uploaded file; raises InvalidScatterplot saying what is wrong with it."""
    fmt = filename.rsplit(".", 1)[-1].lower() if "." in filename else None
    if fmt is None:
        raise InvalidScatterplot("the file has no extension; name it .csv, .tsv, .parquet, .json or .npy")
    plot = data.load(raw, x=x or None, y=y or None, label=label or None, format=fmt, name=filename.rsplit(".", 1)[0])
    if len(plot) > MAX_POINTS:
        raise InvalidScatterplot(f"the dashboard shows up to {MAX_POINTS:,} points; this file has {len(plot):,}")
    return plot


def resolve(key: str) -> Scatterplot | LazyPlot:
    """The plot a data-set string names; raises InvalidScatterplot with a readable message."""
    if key.startswith("parquet:"):
        return _open_parquet(key.removeprefix("parquet:"))
    if key.startswith("upload:"):
        plot = uploads.load(key)
        if plot is None:
            raise InvalidScatterplot("that upload is no longer on the server; please upload the file again")
        return plot
    if key.startswith("gen:"):
        _, kind, body = (key.split(":", 2) + [""])[:3]
        params = dict(item.split("=", 1) for item in body.split(",") if "=" in item)
        params = {k: _number(v) for k, v in params.items()}
        try:
            if int(params.get("n", 0)) > MAX_POINTS:
                raise InvalidScatterplot(f"generators go up to {MAX_POINTS:,} points")
            plot = data.generate.generate(kind, **params)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidScatterplot(f"bad generator parameter: {exc}") from None
        plot.name = key
        return plot
    match = re.fullmatch(r"gaussian-(\w+)", key)
    if match:
        n = parse_size(match.group(1))
        plot = gaussian_mixture(n, k=5, separation=4.0, density_range=2.0, seed=0)  # filled in place: lean at 10M
        plot.name = key
        return plot
    return data.load(key)


def load_job(key: str) -> jobs.Job:
    return jobs.submit(("dataset", key), lambda _: resolve(key))
