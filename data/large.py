"""Point sets larger than memory: Parquet read lazily with Dask, aggregated by datashader.

A plot of 100M+ points is never loaded whole: datashader's Dask backend bins each partition
and sums the grids, so memory stays near one partition plus the output grid. Computation runs
on a ``dask.distributed`` client: an existing scheduler when an address is given (argument or
``VISCLUST_DASK_SCHEDULER``), else a local cluster started on demand.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .generate import _spread_centres
from .scatterplot import InvalidScatterplot, Scatterplot

SCHEDULER_ENV = "VISCLUST_DASK_SCHEDULER"
CHUNK = 1_000_000
# No dashboard, and the scheduler's HTTP routes on a free port: the default, 8787, warns whenever a
# second cluster starts on the machine.
QUIET = {"dashboard_address": ":0", "scheduler_kwargs": {"dashboard": False}}


def mixture_chunks(n: int, k: int = 5, separation: float = 4.0, density_range: float = 2.0, seed: int = 0,
                   chunk: int = CHUNK):
    """(xy, labels) chunks of n points of k Gaussian clusters, each point's cluster drawn at random.

    Drawn chunk by chunk, so any n costs one chunk of scratch memory; the points come in
    random order already (no shuffle). ``separation``: least distance between centres in
    units of the mean sigma; ``density_range``: largest over smallest cluster sigma.
    """
    if int(n) < 1 or int(k) < 1:
        raise InvalidScatterplot(f"need at least one point and one cluster, got n={n}, k={k}")
    rng = np.random.default_rng(seed)
    scales = np.exp(rng.uniform(0, np.log(max(density_range, 1.0)), k))
    scales /= scales.mean()
    centres = _spread_centres(rng, k, separation)
    for start in range(0, int(n), chunk):
        labels = rng.integers(0, k, min(chunk, int(n) - start))
        yield centres[labels] + rng.standard_normal((len(labels), 2)) * scales[labels, None], labels


def gaussian_mixture(n: int, k: int = 5, separation: float = 4.0, density_range: float = 2.0,
                     seed: int = 0) -> Scatterplot:
    """A seeded Gaussian mixture of n points with reference labels, filled in place chunk by chunk.

    Peak memory is the result (16 bytes a point for xy, 8 for labels) plus one chunk; the
    general generators (data.generate) stack and shuffle, about 4x that at 10M points.
    """
    xy, labels = np.empty((int(n), 2)), np.empty(int(n), np.int64)
    start = 0
    for part, lab in mixture_chunks(n, k, separation, density_range, seed):
        xy[start:start + len(lab)], labels[start:start + len(lab)] = part, lab
        start += len(lab)
    plot = Scatterplot(xy, meta={"generator": "gaussian_mixture", "params": dict(
        n=int(n), k=k, separation=separation, density_range=density_range, seed=seed)})
    plot.labels = labels  # int64, one per point already: validating would copy them (80 MB at 10M)
    return plot


@contextmanager
def dask_client(scheduler: str | None = None, n_workers: int | None = None, processes: bool = True):
    """A distributed client: connect to ``scheduler`` (or $VISCLUST_DASK_SCHEDULER), else a LocalCluster.

    ``processes=False`` runs the local workers as threads of this process: right for datashader's
    aggregation (numba releases the GIL) and it saves each worker process's ~400 MB of imports.
    """
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        client = Client(address)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(n_workers=n_workers or min(2, os.cpu_count() or 1), threads_per_worker=1,
                           processes=processes, **QUIET)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


_SHARED: list = []
_SHARED_LOCK = threading.Lock()


def shared_client():
    """The process's client for interactive views, made on first use and kept: the scheduler in
    $VISCLUST_DASK_SCHEDULER, else a local cluster of threads (a server renders many views; one
    cluster serves them all)."""
    from distributed import Client, LocalCluster

    with _SHARED_LOCK:
        if not _SHARED:
            address = os.environ.get(SCHEDULER_ENV)
            if address:
                _SHARED.append(Client(address))
            else:
                cluster = LocalCluster(n_workers=1, threads_per_worker=os.cpu_count() or 1, processes=False,
                                       **QUIET)
                _SHARED.append(Client(cluster))
        return _SHARED[0]


def open_points(path, x: str = "x", y: str = "y"):
    """Lazily open a Parquet file or folder of points as a Dask DataFrame with columns x, y."""
    import dask.dataframe as dd

    path = Path(path)
    if not path.exists():
        raise InvalidScatterplot(f"no such Parquet file or folder: {path}")
    try:
        frame = dd.read_parquet(str(path), columns=[x, y])
    except (KeyError, ValueError) as exc:
        raise InvalidScatterplot(f"could not read columns {x!r}, {y!r} from {path}: {exc}") from None
    return frame.rename(columns={x: "x", y: "y"}) if (x, y) != ("x", "y") else frame


def extent(frame) -> tuple[tuple[float, float], tuple[float, float]]:
    """(x_range, y_range) of the finite points, computed in one pass over the partitions."""
    import dask

    finite = frame[np.isfinite(frame.x) & np.isfinite(frame.y)]
    lo_x, hi_x, lo_y, hi_y, n = dask.compute(finite.x.min(), finite.x.max(), finite.y.min(), finite.y.max(),
                                            finite.x.count())
    if n == 0:
        raise InvalidScatterplot("the file holds no point with finite coordinates")
    return (float(lo_x), float(hi_x)), (float(lo_y), float(hi_y))


def aggregate(points, width: int = 800, height: int = 800, x_range=None, y_range=None) -> np.ndarray:
    """Point counts on a width x height grid (rows = y, as datashader returns them).

    ``points``: a Dask or pandas DataFrame with columns x, y, or a path to Parquet.
    """
    import datashader as ds

    frame = open_points(points) if isinstance(points, (str, Path)) else points
    if x_range is None or y_range is None:
        x_range, y_range = extent(frame)
    canvas = ds.Canvas(plot_width=width, plot_height=height, x_range=x_range, y_range=y_range)
    return np.asarray(canvas.points(frame, "x", "y", agg=ds.count()).values)


def shade_png(counts: np.ndarray, path) -> Path:
    """Write a count grid as a PNG (histogram-equalised blues), the way the dashboard shades density."""
    import datashader.transfer_functions as tf
    import xarray as xr

    grid = xr.DataArray(counts, dims=["y", "x"])
    image = tf.shade(grid.where(grid > 0), cmap=["#c6dbef", "#08306b"], how="eq_hist")
    path = Path(path)
    image.to_pil().save(path)
    return path


def write_points(xy: np.ndarray, path, partitions: int = 8) -> Path:
    """Write points as a folder of Parquet partitions (the layout Dask reads in parallel)."""
    import dask.dataframe as dd
    import pandas as pd

    path = Path(path)
    frame = dd.from_pandas(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}), npartitions=partitions)
    frame.to_parquet(str(path), write_index=False)
    return path


SAMPLE = 100_000


class LazyPlot:
    """A Parquet point set too large for memory, as a plot: read by Dask, never loaded whole.

    Views are aggregated partition by partition (datashader's Dask backend); methods run on
    :meth:`sample`, a seeded subsample, and :meth:`propagate` carries their labels to every
    point by nearest neighbour, partition by partition. ``path``: a Parquet file or folder;
    ``x``/``y``: its coordinate columns.
    """

    def __init__(self, path, x: str = "x", y: str = "y", name: str | None = None):
        self.path = Path(path).resolve()
        self.frame = open_points(self.path, x, y)
        self.name = name or self.path.stem
        self.meta = {"path": str(self.path), "x": x, "y": y, "dask": True}
        self._sizes: np.ndarray | None = None
        self._extent = None
        self._subsample: Scatterplot | None = None

    def _scan(self, n: int, seed: int) -> Scatterplot:
        """One pass over the partitions: rows per partition, the finite extent and a seeded sample.

        The sample is exactly min(n, finite points) points, uniform over the whole plot: each
        point gets a random key (seeded per partition) and the n smallest keys of all win.
        """
        import dask

        scans = dask.compute(*[dask.delayed(_scan_partition)(part, n, seed, i)
                               for i, part in enumerate(self.frame.to_delayed())])
        self._sizes = np.array([scan[0] for scan in scans], np.int64)
        bounds = np.array([scan[1] for scan in scans], np.float64)
        if not np.isfinite(bounds).all(axis=1).any():
            raise InvalidScatterplot("the file holds no point with finite coordinates")
        with np.errstate(invalid="ignore"):
            lo, hi = np.nanmin(bounds[:, :2], axis=0), np.nanmax(bounds[:, 2:], axis=0)
        self._extent = ((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])))
        keys = np.concatenate([scan[2] for scan in scans])
        xy = np.concatenate([scan[3] for scan in scans])[np.argsort(keys, kind="stable")[:n]]
        if len(xy) < 3:
            raise InvalidScatterplot("the file holds fewer than 3 points with finite coordinates")
        return Scatterplot(xy, name=f"{self.name} (sample)", meta={
            "sample_of": str(self.path), "sample_seed": seed, "total_points": len(self)})

    @property
    def sizes(self) -> np.ndarray:
        """Rows per partition: row i of the plot is row i of the partitions in order."""
        if self._sizes is None:
            self.subsample  # the same pass
        return self._sizes

    def __len__(self) -> int:
        return int(self.sizes.sum())

    @property
    def extent(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(x_range, y_range) of the finite points."""
        if self._extent is None:
            self.subsample
        return self._extent

    @property
    def subsample(self) -> Scatterplot:
        """The seeded subsample (SAMPLE points, seed 0) that methods and CLAMS run on; made once,
        in the pass that also counts the rows and finds the extent."""
        if self._subsample is None:
            self._subsample = self._scan(SAMPLE, 0)
        return self._subsample

    def sample(self, n: int = SAMPLE, seed: int = 0) -> Scatterplot:
        """A seeded uniform sample of n points (all finite ones when there are fewer), as a Scatterplot."""
        return self._scan(int(n), seed)

    def propagate(self, sample_xy: np.ndarray, labels: np.ndarray, out) -> Path:
        """Write every point with the label of its nearest sample point (-1 for non-finite points).

        ``out``: a folder for the labelled Parquet (x, y, label), one partition per input
        partition; it is written once, so re-renders read labels instead of searching again.
        """
        import dask

        labels = np.asarray(labels, np.int32)
        if labels.shape != (len(sample_xy),):
            raise ValueError(f"{len(sample_xy)} sample points but {labels.shape} labels")
        meta = self.frame._meta.assign(label=np.zeros(0, np.int32))
        labelled = self.frame.map_partitions(_nearest_labels, np.asarray(sample_xy, np.float64), labels, meta=meta)
        out = Path(out)
        dask.compute(labelled.to_parquet(str(out), write_index=False, compute=False))
        return out

    def select_polygon(self, xs, ys) -> tuple[np.ndarray, np.ndarray]:
        """(row indices, coordinates) of the points inside the polygon, exactly, partition by partition."""
        from .render import polygon_selection

        xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
        offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])

        def inside(part, partition_info=None):
            rows = polygon_selection(part[["x", "y"]].to_numpy(np.float64), xs, ys)
            start = offsets[partition_info["number"]] if partition_info else 0
            return part.iloc[rows].assign(row=rows + start)

        meta = self.frame._meta.assign(row=np.zeros(0, np.int64))
        found = self.frame.map_partitions(inside, meta=meta).compute()
        return found["row"].to_numpy(np.int64), found[["x", "y"]].to_numpy(np.float64)

    def __repr__(self) -> str:
        return f"LazyPlot({str(self.path)!r}, {self.frame.npartitions} partitions)"


def _scan_partition(part, n: int, seed: int, number: int):
    """(rows, (xmin, ymin, xmax, ymax) of the finite points, keys and points of its n lowest-keyed)."""
    xy = part[["x", "y"]].to_numpy(np.float64)
    finite = np.flatnonzero(np.isfinite(xy).all(axis=1))
    keys = np.random.default_rng([seed, number]).random(len(finite))
    if len(finite) == 0:
        return len(xy), (np.nan,) * 4, keys, np.empty((0, 2))
    low = np.argpartition(keys, n)[:n] if len(keys) > n else np.arange(len(keys))
    kept = xy if len(finite) == len(xy) else xy[finite]  # no copy of a partition without NaNs
    return len(xy), (*kept.min(axis=0), *kept.max(axis=0)), keys[low], kept[low]


def _nearest_labels(part, sample_xy: np.ndarray, labels: np.ndarray):
    """One partition with a label column: each finite point takes its nearest sample point's label."""
    from scipy.spatial import cKDTree

    xy = part[["x", "y"]].to_numpy(np.float64)
    finite = np.isfinite(xy).all(axis=1)
    out = np.full(len(xy), -1, np.int32)
    if finite.any():
        out[finite] = labels[cKDTree(sample_xy).query(xy[finite], workers=1)[1]]
    return part.assign(label=out)
