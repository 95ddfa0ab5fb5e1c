"""The one data type every part of visclust passes around."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class InvalidScatterplot(ValueError):
    """Input that cannot be shown as a scatterplot; the message is meant for a person."""


@dataclass
class Scatterplot:
    """Points of a 2-D scatterplot, with optional reference labelings.

    ``labels`` is either one labeling of shape (n,) or m labelings of shape (m, n);
    -1 marks noise (a point nobody put in a cluster).
    """

    xy: np.ndarray
    labels: np.ndarray | None = None
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.xy = np.ascontiguousarray(self.xy, dtype=np.float64)
        if self.xy.ndim != 2 or self.xy.shape[1] != 2:
            raise InvalidScatterplot(f"points must have shape (n, 2), got {self.xy.shape}")
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if not np.issubdtype(labels.dtype, np.integer):
                if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
                    raise InvalidScatterplot("labels must be whole numbers (-1 = noise)")
            labels = labels.astype(np.int64)
            if labels.ndim not in (1, 2) or labels.shape[-1] != len(self.xy):
                raise InvalidScatterplot(
                    f"labels must have shape (n,) or (m, n) with n = {len(self.xy)}, got {labels.shape}"
                )
            self.labels = labels

    def __len__(self) -> int:
        return len(self.xy)

    @property
    def labelings(self) -> np.ndarray | None:
        """Reference labelings as a 2-D array (m, n), whatever shape ``labels`` has."""
        if self.labels is None:
            return None
        return np.atleast_2d(self.labels)

    @property
    def reference_labels(self) -> np.ndarray | None:
        """The first reference labeling, or None."""
        labelings = self.labelings
        return None if labelings is None else labelings[0]
