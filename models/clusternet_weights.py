"""ClusterNet weights on disk: loading a network, and keeping the last one loaded.

Apart from the estimator so that importing ``models`` does not import torch; the estimator
imports this on its first fit.
"""
from __future__ import annotations

from pathlib import Path

import torch

from data import InvalidScatterplot

from .clusternet_network import ClusterNetModel

_CACHE: dict = {}


def load_weights(path: Path) -> ClusterNetModel:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = ClusterNetModel(blob["config"])
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError:  # e.g. weights from before the plot-size input, whose first layers are narrower
        raise InvalidScatterplot(f"{path} holds weights of another ClusterNet version that this one cannot "
                                 "load; retrain them with `visclust train clusternet`") from None
    return model.eval()


def load_cached(path: Path):
    """The network at ``path``, kept while its file is unchanged (one at a time)."""
    path = Path(path)
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = load_weights(path)
    return _CACHE[key]
