"""Score many plots in parallel through one Dask client (local cluster or a scheduler)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from .large import dask_client
from .loaders import FORMATS
from .scatterplot import InvalidScatterplot


def plot_files(folder) -> list[Path]:
    """Every readable plot file in a folder (sorted); benchmark label files are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidScatterplot(f"{folder} is not a folder of plot files")
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in FORMATS and not p.name.endswith(".labels.csv"))
    if not files:
        raise InvalidScatterplot(f"no plot files ({', '.join(sorted(FORMATS))}) in {folder}")
    return files


def map_plots(func: Callable[[Path], dict], paths: list[Path], scheduler: str | None = None,
              n_workers: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Run ``func(path) -> dict`` on every path on a Dask client; one row per plot, in input order.

    A plot that fails with InvalidScatterplot gets its message in the ``error`` column
    instead of stopping the batch.
    """
    from distributed import as_completed
    from tqdm import tqdm

    with dask_client(scheduler, n_workers) as client:
        futures = client.map(_guarded, [func] * len(paths), paths, pure=False)
        order = {f.key: i for i, f in enumerate(futures)}
        rows: list[dict | None] = [None] * len(paths)
        with tqdm(total=len(paths), unit="plot", disable=not progress) as bar:
            for future in as_completed(futures):
                rows[order[future.key]] = future.result()
                bar.update(1)
    return pd.DataFrame(rows).convert_dtypes()


def _guarded(func, path) -> dict:
    try:
        return {"file": Path(path).name, **func(path), "error": ""}
    except InvalidScatterplot as exc:
        return {"file": Path(path).name, "error": str(exc)}
