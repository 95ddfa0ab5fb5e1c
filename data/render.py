"""Render settings of a study plot, and a deterministic PNG of what an annotator saw.

How a scatterplot is drawn (canvas size, aspect, point size, opacity, colour, axis ranges,
draw order) changes which clusters people see, so a study stores these settings with each
plot and each annotation instead of leaving them to the browser. :func:`render_png` redraws
a plot from them with numpy and Pillow only: the same inputs give the same bytes, so a
stored annotation can be replayed and compared byte for byte.
"""
from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from numba import njit
from PIL import Image, ImageDraw

__all__ = ["RenderSettings", "PALETTE", "render_png", "points_in_polygon", "polygon_selection", "label_colors"]

# Bokeh's Category10: cluster k gets PALETTE[k % 10] on the page and in replays.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
BACKGROUND = "#ffffff"
MARGIN = 0.55  # half the displayed span around the data's centre: a margin keeps edge points lassoable


@dataclass(frozen=True)
class RenderSettings:
    """How one plot is drawn. None fields are filled by :meth:`resolve` from the points.

    ``aspect``: "equal" keeps one data unit equally long on both axes (the ranges grow to fit
    the canvas), "free" stretches each axis to its range. ``point_size`` is the diameter in
    pixels; ``color`` the colour of points no lasso has claimed; ``draw_seed`` shuffles the
    draw order (which point covers which); ``zoom`` lets the annotator zoom with the wheel.
    """

    width: int = 560
    height: int = 560
    aspect: str = "equal"
    point_size: float = 5.0
    opacity: float = 0.85
    color: str = "#b3b3b3"
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    draw_seed: int | None = None
    zoom: bool = False
    name: str = ""

    def __post_init__(self):
        if not (50 <= int(self.width) <= 2000 and 50 <= int(self.height) <= 2000):
            raise ValueError("the canvas must be 50 to 2000 pixels wide and high")
        if self.aspect not in ("equal", "free"):
            raise ValueError("aspect must be 'equal' or 'free'")
        if not 0.5 <= float(self.point_size) <= 100:
            raise ValueError("point_size must be 0.5 to 100 pixels")
        if not 0 < float(self.opacity) <= 1:
            raise ValueError("opacity must be in (0, 1]")
        _rgb(self.color)
        for r in (self.x_range, self.y_range):
            if r is not None and not (len(r) == 2 and np.all(np.isfinite(r)) and r[0] < r[1]):
                raise ValueError("an axis range must be two finite numbers, low < high")

    def resolve(self, xy: np.ndarray, seed: int = 0) -> RenderSettings:
        """Every field explicit: axis ranges from the points' bounding box, ``seed`` as draw seed."""
        xy = np.asarray(xy, dtype=np.float64)
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        centre = lo / 2 + hi / 2
        if self.aspect == "equal":
            span = max(float(np.max(hi - lo)), 1e-12)
            scale = np.array([self.width, self.height], float) / min(self.width, self.height)
            half = MARGIN * span * scale
        else:
            half = MARGIN * np.maximum(hi - lo, 1e-12)
        x_range = self.x_range or (float(centre[0] - half[0]), float(centre[0] + half[0]))
        y_range = self.y_range or (float(centre[1] - half[1]), float(centre[1] + half[1]))
        return replace(self, x_range=tuple(x_range), y_range=tuple(y_range),
                       draw_seed=int(seed if self.draw_seed is None else self.draw_seed))

    def order(self, n: int) -> np.ndarray:
        """Draw order of n points: a permutation seeded by ``draw_seed`` (last drawn is on top)."""
        return np.random.default_rng(self.draw_seed or 0).permutation(n)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> RenderSettings:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:  # a typo in a study's settings must not be ignored silently
            raise ValueError(f"unknown render settings {sorted(unknown)}")
        return cls(**{k: (tuple(v) if k in ("x_range", "y_range") and v is not None else v) for k, v in d.items()})

    @classmethod
    def from_json(cls, text: str) -> RenderSettings:
        return cls.from_dict(json.loads(text))


def _rgb(color: str) -> tuple[int, int, int]:
    text = str(color).lstrip("#")
    if len(text) != 6:
        raise ValueError(f"colours are '#rrggbb', got {color!r}")
    try:
        return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        raise ValueError(f"colours are '#rrggbb', got {color!r}") from None


def label_colors(labels: np.ndarray, settings: RenderSettings) -> list[str]:
    """Colour of each point: the palette for clusters, ``settings.color`` for -1."""
    return [settings.color if c < 0 else PALETTE[c % len(PALETTE)] for c in np.asarray(labels)]


def points_in_polygon(xy: np.ndarray, px, py) -> np.ndarray:
    """Bool mask of points inside the polygon (even-odd rule), e.g. a lasso in data coordinates."""
    xy = np.asarray(xy, dtype=np.float64)
    px, py = np.asarray(px, np.float64), np.asarray(py, np.float64)
    inside = np.zeros(len(xy), dtype=bool)
    if len(px) < 3:
        return inside
    x, y = xy[:, 0], xy[:, 1]
    for x0, y0, x1, y1 in zip(px, py, np.roll(px, -1), np.roll(py, -1)):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside


def polygon_selection(xy: np.ndarray, xs, ys) -> np.ndarray:
    """Sorted indices of the points inside a polygon; points outside its bounding box are ruled
    out first, so a small lasso on a large plot tests few points."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    near = np.flatnonzero((xy[:, 0] >= xs.min()) & (xy[:, 0] <= xs.max())
                          & (xy[:, 1] >= ys.min()) & (xy[:, 1] <= ys.max()))
    return near[points_in_polygon(xy[near], xs, ys)].astype(np.int64)


@njit(cache=True)
def _splat(canvas, sx, sy, rgb, alpha, radius):
    """Anti-aliased discs composited 'over' in the given order (coverage = 1 px edge ramp)."""
    h, w, _ = canvas.shape
    reach = int(np.ceil(radius + 1.0))
    for i in range(len(sx)):
        cx, cy = sx[i], sy[i]
        x0, x1 = max(int(np.floor(cx)) - reach, 0), min(int(np.floor(cx)) + reach + 1, w)
        y0, y1 = max(int(np.floor(cy)) - reach, 0), min(int(np.floor(cy)) + reach + 1, h)
        for yy in range(y0, y1):
            for xx in range(x0, x1):
                d = np.sqrt((xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2)
                cover = min(max(radius + 0.5 - d, 0.0), 1.0) * alpha
                if cover > 0.0:
                    for c in range(3):
                        canvas[yy, xx, c] = canvas[yy, xx, c] * (1.0 - cover) + rgb[i, c] * cover


def render_png(xy, settings: RenderSettings, labels=None, lassos=None, viewport=None) -> bytes:
    """The plot as the annotator saw it, as PNG bytes; deterministic for equal inputs.

    ``xy``: the displayed points (n, 2); ``settings``: resolved (see :meth:`RenderSettings.resolve`);
    ``labels``: cluster per point (-1 = none), coloured with :data:`PALETTE`; ``lassos``: a
    list of {"cluster": k, "x": [...], "y": [...]} drawn as outlines; ``viewport``: the
    annotator's zoomed ranges {"x": [lo, hi], "y": [lo, hi]} (default: the settings' ranges).
    """
    if settings.x_range is None or settings.y_range is None:
        raise ValueError("render settings must be resolved (axis ranges known) before drawing")
    xy = np.asarray(xy, dtype=np.float64)
    labels = np.full(len(xy), -1, np.int64) if labels is None else np.asarray(labels, np.int64)
    if labels.shape != (len(xy),):
        raise ValueError(f"{len(xy)} points but {labels.shape} labels")
    (x0, x1), (y0, y1) = (viewport["x"], viewport["y"]) if viewport else (settings.x_range, settings.y_range)
    w, h = int(settings.width), int(settings.height)

    def to_px(x, y):
        return (np.asarray(x, np.float64) - x0) / (x1 - x0) * w, (y1 - np.asarray(y, np.float64)) / (y1 - y0) * h

    order = settings.order(len(xy))
    sx, sy = to_px(xy[order, 0], xy[order, 1])
    palette = np.array([_rgb(c) for c in PALETTE], np.float64)
    rgb = np.where(labels[order, None] < 0, np.array(_rgb(settings.color), np.float64),
                   palette[np.maximum(labels[order], 0) % len(PALETTE)])
    canvas = np.empty((h, w, 3), np.float64)
    canvas[:] = _rgb(BACKGROUND)
    _splat(canvas, sx, sy, rgb, float(settings.opacity), float(settings.point_size) / 2)
    image = Image.fromarray(np.round(canvas).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for lasso in lassos or []:
        lx, ly = to_px(lasso["x"], lasso["y"])
        k = int(lasso.get("cluster", -1))
        color = settings.color if k < 0 else PALETTE[k % len(PALETTE)]
        if len(lx) >= 2:
            points = [(float(a), float(b)) for a, b in zip(lx, ly)]
            draw.line(points + points[:1], fill=color, width=2)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
