"""The display copy of a plot's points: made once per plot, shared by every session showing it.

Explore re-aggregates the visible range on each pan and zoom. The copy serves that: float32
where exact enough, and stored in bands of the plot's square range, so that a view reads only
the bands it shows and nearby points, read together, update nearby pixels (a 2x-zoomed view of
10M points aggregates 3-10x faster than the points in their own order).
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import numpy as np
from numba import njit

BANDS = 256  # rows of the square range; each band is stored left to right in as many cells
CHUNK = 1_000_000
MAX_SHARED = 8


def display_dtype(xy: np.ndarray) -> type:
    """float32 when it still resolves a millionth of the data's span (a pixel at 1000x zoom)."""
    if len(xy) == 0:
        return np.float64
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    step = np.spacing(np.maximum(np.abs(lo), np.abs(hi)).astype(np.float32)).astype(np.float64)
    return np.float32 if np.all(step <= 1e-6 * np.maximum(hi - lo, 1e-300)) else np.float64


def padded_range(values) -> tuple[float, float]:
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = 0.03 * (hi - lo) or 0.5
    return lo - pad, hi + pad


def square_ranges(xy: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """Equal-length x and y ranges around the data, so a square frame keeps equal aspect."""
    return square_around(padded_range(xy[:, 0]), padded_range(xy[:, 1]))


def square_around(x_range, y_range) -> tuple[tuple[float, float], tuple[float, float]]:
    """Equal-length ranges centred on the given padded ones."""
    (x0, x1), (y0, y1) = x_range, y_range
    half = max(x1 - x0, y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - half, cx + half), (cy - half, cy + half)


@njit(cache=True, nogil=True)
def _by_cell(cells, offsets, values, out):
    """A counting sort: ``values`` in the order of their cells, stable within a cell."""
    position = offsets[:-1].copy()
    for i in range(len(cells)):
        cell = cells[i]
        out[position[cell]] = values[i]
        position[cell] += 1
    return out


class DisplayCopy:
    """One plot's points as Explore draws them (see the module docstring).

    ``x``, ``y``: the points in band order; :meth:`rows` the stored points a view needs;
    :meth:`in_order` puts a per-point column (labels, agreement) in the same order.
    """

    def __init__(self, xy: np.ndarray):
        self.ranges = square_ranges(xy)
        (x0, x1), (self.y0, y1) = self.ranges
        self.band_height = (y1 - self.y0) / BANDS
        self.cells = np.empty(len(xy), np.uint16)  # 2 bytes a point: cheaper to keep than a permutation
        for start in range(0, len(xy), CHUNK):  # by chunks: no float64 temporaries the size of the plot
            part = xy[start:start + CHUNK]
            column = np.clip((part[:, 0] - x0) / (x1 - x0) * BANDS, 0, BANDS - 1).astype(np.uint16)
            self.cells[start:start + CHUNK] = self._bands(part[:, 1]) * np.uint16(BANDS) + column
        self.offsets = np.r_[0, np.cumsum(np.bincount(self.cells, minlength=BANDS * BANDS))]
        dtype = display_dtype(xy)
        self.x, self.y = self.in_order(xy[:, 0], dtype), self.in_order(xy[:, 1], dtype)

    def _bands(self, y) -> np.ndarray:
        return np.clip((np.asarray(y, np.float64) - self.y0) / self.band_height, 0, BANDS - 1).astype(np.uint16)

    def in_order(self, values, dtype=None) -> np.ndarray:
        """A column of the plot's points in the copy's order."""
        values = np.asarray(values)
        return _by_cell(self.cells, self.offsets, values, np.empty(len(values), dtype or values.dtype))

    def rows(self, y_range) -> slice:
        """The stored points of the bands a view with this y range shows, and a band either side
        (a point's band is found from its float64 position, its pixel from the display copy)."""
        low, high = (int(b) for b in self._bands(y_range))
        return slice(int(self.offsets[max(low - 1, 0) * BANDS]), int(self.offsets[min(high + 2, BANDS) * BANDS]))


_SHARED: OrderedDict[int, tuple[weakref.ref, DisplayCopy]] = OrderedDict()
_SHARED_LOCK = threading.Lock()


def shared(xy: np.ndarray) -> DisplayCopy:
    """The display copy of ``xy`` (keyed by the array itself, which the jobs cache shares)."""
    with _SHARED_LOCK:
        hit = _SHARED.get(id(xy))
        if hit is not None and hit[0]() is xy:
            _SHARED.move_to_end(id(xy))
            return hit[1]
    made = DisplayCopy(xy)
    with _SHARED_LOCK:
        _SHARED[id(xy)] = (weakref.ref(xy, lambda _, key=id(xy): _SHARED.pop(key, None)), made)
        while len(_SHARED) > MAX_SHARED:
            _SHARED.popitem(last=False)
    return made
