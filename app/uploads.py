"""Uploaded plots in a cache folder, keyed by content hash, so every server process finds them.

`visclust serve --num-procs N` runs N processes that share nothing in memory; an ``upload:<id>``
URL shared or reloaded may land on any of them, so an upload is written to a folder they all
see: ``$VISCLUST_UPLOAD_DIR``, else ``$VISCLUST_DATA_DIR/uploads``, else the user's cache
folder. The oldest files go once the folder passes ``MAX_BYTES``.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from data import Scatterplot

MAX_BYTES = 4 * 2**30
RECENT = 8  # plots also kept in memory, so a session's reruns do not reread them
_recent: OrderedDict[str, Scatterplot] = OrderedDict()
_lock = threading.Lock()


def folder() -> Path:
    if os.environ.get("VISCLUST_UPLOAD_DIR"):
        return Path(os.environ["VISCLUST_UPLOAD_DIR"])
    if os.environ.get("VISCLUST_DATA_DIR"):
        return Path(os.environ["VISCLUST_DATA_DIR"]) / "uploads"
    import platformdirs

    return Path(platformdirs.user_cache_dir("visclust")) / "uploads"


def _path(key: str) -> Path:
    digest = key.removeprefix("upload:")
    if not digest.isalnum():  # the key comes from a URL: no path tricks
        raise KeyError(key)
    return folder() / f"{digest}.npz"


def save(plot: Scatterplot, raw: bytes) -> str:
    """Write the plot under the hash of ``raw`` (the bytes that identify it); returns its key."""
    key = "upload:" + hashlib.sha1(raw).hexdigest()[:16]
    path = _path(key)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        info = json.dumps({"name": plot.name, "meta": plot.meta}, default=str)
        arrays = {"xy": plot.xy, "info": np.array(info)}
        if plot.labels is not None:
            arrays["labels"] = plot.labels
        # Written beside and renamed: another process never reads half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as fh:
            np.savez(fh, **arrays)
        os.replace(fh.name, path)
        _prune(path.parent)
    else:
        path.touch()  # recently used: pruned last
    _remember(key, plot)
    return key


def load(key: str) -> Scatterplot | None:
    """The plot stored under ``key``, or None when no process has it (any more)."""
    with _lock:
        if key in _recent:
            _recent.move_to_end(key)
            return _recent[key]
    try:
        with np.load(_path(key), allow_pickle=False) as arrays:
            info = json.loads(str(arrays["info"]))
            plot = Scatterplot(arrays["xy"], labels=arrays["labels"] if "labels" in arrays else None,
                               name=info["name"], meta=info["meta"])
    except (KeyError, OSError, ValueError):
        return None
    _remember(key, plot)
    return plot


def _remember(key: str, plot: Scatterplot):
    with _lock:
        _recent[key] = plot
        _recent.move_to_end(key)
        while len(_recent) > RECENT:
            _recent.popitem(last=False)


def _prune(where: Path):
    stats = []
    for path in where.glob("*.npz"):
        try:
            stats.append((path.stat(), path))
        except FileNotFoundError:  # pruned by another process meanwhile
            pass
    total = 0
    newest_first = sorted(stats, key=lambda item: item[0].st_mtime, reverse=True)
    for i, (stat, path) in enumerate(newest_first):
        total += stat.st_size
        if total > MAX_BYTES and i > 0:  # the file just written stays, however large
            path.unlink(missing_ok=True)


LABELLED_KEPT = 4  # labelled copies of Dask-backed plots; each is about the size of its source


def labelled_folder(source: Path, method: str) -> Path:
    """Where a Dask-backed plot's labels by one method are written: beside the uploads, named by the
    source's path, modification time and the method, so a changed file is labelled afresh."""
    stamp = Path(source).stat().st_mtime_ns
    return folder() / "labelled" / hashlib.sha1(f"{source}:{stamp}:{method}".encode()).hexdigest()[:16]


def prune_labelled(keep: Path):
    """Remove all but the LABELLED_KEPT most recently used labelled copies (never ``keep``)."""
    import shutil

    others = [p for p in keep.parent.iterdir() if p.is_dir() and p != keep]
    for path in sorted(others, key=lambda p: p.stat().st_mtime, reverse=True)[LABELLED_KEPT - 1:]:
        shutil.rmtree(path, ignore_errors=True)
