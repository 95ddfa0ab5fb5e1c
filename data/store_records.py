"""What the annotation store hands out and takes in: records, errors, limits and input checks.

The checks raise :class:`StoreError` subclasses (ValueErrors) whose messages are meant for a
person; they run before any write, so bad input changes nothing. The underscored helpers are
shared by the store's modules (data/store*.py) and are no API of their own.
"""
from __future__ import annotations

import hashlib
import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from .render import RenderSettings
from .store_models import StudyPlot

MAX_POINTS = 200_000   # per plot: a 3.2 MB blob, still quick to send to a browser
DISPLAY_MAX = 10_000   # larger plots are shown (and lassoed) as a seeded subsample of this size
MAX_PLOTS = 1_000      # per study
MAX_NAME = 200
MAX_KEY = 100
MAX_TOKEN = 200        # longer "tokens" are rejected before hashing
POLICIES = ("balanced", "ambiguity")
MAX_ATTENTION_RATE = 0.5
CHECK_POINTS = 150      # points of an attention-check plot
CHECK_MIN_AMI = 0.8     # an annotator whose labelling of a check scores below this is flagged
MAX_VARIANTS = 20
MAX_LASSO_VERTICES = 50_000  # per submission, all lassos together: a long, careful lasso has ~1,000


class StoreError(ValueError):
    """Input the store refuses; the message is meant for a person."""


class UnknownStudy(StoreError):
    pass


class UnknownPlot(StoreError):
    pass


class UnknownAnnotator(StoreError):
    pass


class InvalidLabels(StoreError):
    pass


class InvalidStudy(StoreError):
    pass


class AlreadyAnnotated(StoreError):
    """The annotator already labelled this plot (under another idempotency key)."""


class IdempotencyConflict(StoreError):
    """An idempotency key reused for a different submission."""


@dataclass(frozen=True)
class StudyInfo:
    id: int
    name: str
    n_plots: int
    per_annotator: int | None
    seed: int
    admin_token: str | None = None  # only known right after creation or import
    attention_rate: float = 0.0
    policy: str = "balanced"
    target_width: float = 0.1
    render_variants: tuple[RenderSettings, ...] = ()


@dataclass(frozen=True)
class AnnotatorInfo:
    id: int
    study_id: int
    name: str


@dataclass(frozen=True)
class PlotTask:
    """A plot to show: all its points, and the indices shown (None = all)."""

    plot_id: int
    name: str
    position: int
    xy: np.ndarray
    shown: np.ndarray | None
    started_at: datetime | None = None
    render: RenderSettings | None = None  # resolved settings of the assigned variant
    variant: int = 0
    kind: str = "plot"  # "check" = attention check; never shown as such to the annotator

    @property
    def shown_xy(self) -> np.ndarray:
        return self.xy if self.shown is None else self.xy[self.shown]


@dataclass(frozen=True)
class PlotSummary:
    plot_id: int
    name: str
    n_points: int
    n_annotations: int


@dataclass(frozen=True)
class AnnotationRecord:
    id: int
    study_id: int
    plot_id: int
    annotator_id: int
    annotator: str
    key: str
    labels: np.ndarray
    seconds: float | None
    started_at: datetime | None
    created_at: datetime
    app_version: str
    variant: int = 0
    render: RenderSettings | None = None
    viewport: dict | None = None
    lassos: list | None = None


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def finished(self) -> bool:
        return self.done >= self.total


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; every stored one is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def _id(obj) -> int:
    """Accept an id or an info object (StudyInfo, AnnotatorInfo) wherever an id is wanted."""
    value = getattr(obj, "id", obj)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise StoreError(f"expected an id (integer), got {type(value).__name__}")
    return int(value)


def _name(name, what: str) -> str:
    name = str(name).strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidStudy(f"{what} must have 1 to {MAX_NAME} characters")
    return name


def _points(xy) -> np.ndarray:
    xy = np.ascontiguousarray(xy, dtype="<f8")
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0:
        raise InvalidStudy(f"a plot needs points of shape (n, 2) with n >= 1, got {xy.shape}")
    if len(xy) > MAX_POINTS:
        raise InvalidStudy(f"a plot may have at most {MAX_POINTS:,} points, this one has {len(xy):,}")
    if not np.isfinite(xy).all():
        raise InvalidStudy("plot coordinates must be finite numbers")
    return xy


def _labels(labels, n: int | None = None) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise InvalidLabels(f"labels must be one value per point, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all() \
                or np.any(arr != np.round(arr)):
            raise InvalidLabels("labels must be whole numbers (-1 = not in a cluster)")
    if n is not None and len(arr) != n:
        raise InvalidLabels(f"the plot has {n} points but {len(arr)} labels were sent")
    if arr.size and (arr.min() < -1 or arr.max() >= 2**31 - 1):
        raise InvalidLabels("labels must be -1 (not in a cluster) or a cluster number >= 0")
    return arr.astype("<i4")


def _seconds(seconds) -> float | None:
    if seconds is None:
        return None
    seconds = float(seconds)
    if not math.isfinite(seconds) or seconds < 0:
        raise StoreError("seconds must be a finite number >= 0")
    return seconds


def _key(key) -> str:
    if key is None:
        return uuid.uuid4().hex
    key = str(key)
    if not key or len(key) > MAX_KEY:
        raise StoreError(f"the idempotency key must have 1 to {MAX_KEY} characters")
    return key


def _subsample(n: int, rng: np.random.Generator) -> bytes | None:
    if n <= DISPLAY_MAX:
        return None
    return np.sort(rng.choice(n, DISPLAY_MAX, replace=False)).astype("<i4").tobytes()


def _variants(render_variants) -> list[RenderSettings]:
    variants = list(render_variants or [RenderSettings()])
    if not 1 <= len(variants) <= MAX_VARIANTS:
        raise InvalidStudy(f"a study has 1 to {MAX_VARIANTS} render variants")
    try:
        variants = [v if isinstance(v, RenderSettings) else RenderSettings.from_dict(dict(v)) for v in variants]
    except (TypeError, ValueError) as exc:
        raise InvalidStudy(f"invalid render settings: {exc}") from None
    names = [v.name or f"variant {i + 1}" for i, v in enumerate(variants)]
    if len(set(names)) < len(names):
        raise InvalidStudy("render variants need distinct names")
    return [v if v.name else RenderSettings.from_dict({**v.to_dict(), "name": n}) for v, n in zip(variants, names)]


def _design(attention_rate, policy, target_width) -> tuple[float, str, float]:
    attention_rate, target_width = float(attention_rate), float(target_width)
    if not 0 <= attention_rate <= MAX_ATTENTION_RATE:
        raise InvalidStudy(f"attention_rate must be between 0 and {MAX_ATTENTION_RATE}")
    if policy not in POLICIES:
        raise InvalidStudy(f"policy must be one of {', '.join(POLICIES)}")
    if not 0 < target_width <= 1:
        raise InvalidStudy("target_width must be in (0, 1]")
    return attention_rate, policy, target_width


def n_checks(attention_rate: float, n_plots: int) -> int:
    """Attention checks per annotator so that they make ``attention_rate`` of all their items."""
    if attention_rate <= 0:
        return 0
    return max(1, math.ceil(attention_rate * n_plots / (1 - attention_rate) - 1e-9))


def _attention_checks(count: int, seed: int) -> list[dict]:
    """Well-separated blobs whose clusters nobody attentive can miss; the blob labels are the truth."""
    from .generate import blobs

    checks = []
    for i in range(count):
        plot = blobs(CHECK_POINTS, k=2 + i % 3, separation=12, seed=int(seed) * 1000 + i)
        checks.append(dict(name=f"check {i + 1}", xy=_points(plot.xy), kind="check",
                           truth=plot.reference_labels))
    return checks


def _plot_renders(sp: StudyPlot, xy: np.ndarray) -> list[RenderSettings]:
    if sp.render is None:  # studies created before render settings were stored
        return [RenderSettings().resolve(xy, seed=sp.position)]
    return [RenderSettings.from_dict(d) for d in json.loads(sp.render)]


def flagged_annotators(attention_scores: dict[int, list[float]]) -> set[int]:
    """Annotators whose worst attention-check AMI (see AnnotationStore.attention_scores) is below CHECK_MIN_AMI."""
    return {who for who, scores in attention_scores.items() if min(scores) < CHECK_MIN_AMI}


def _loads(text: str | None):
    return None if text is None else json.loads(text)


def _viewport(viewport) -> str | None:
    if viewport is None:
        return None
    try:
        x, y = [float(v) for v in viewport["x"]], [float(v) for v in viewport["y"]]
    except (KeyError, TypeError, ValueError):
        raise StoreError('a viewport is {"x": [lo, hi], "y": [lo, hi]}') from None
    if len(x) != 2 or len(y) != 2 or not all(map(math.isfinite, x + y)) or x[0] >= x[1] or y[0] >= y[1]:
        raise StoreError("a viewport needs finite ranges with low < high")
    return json.dumps({"x": x, "y": y})


def _lassos(lassos) -> str | None:
    if lassos is None:
        return None
    out, vertices = [], 0
    try:
        for lasso in lassos:
            x, y = [float(v) for v in lasso["x"]], [float(v) for v in lasso["y"]]
            if len(x) != len(y) or not all(map(math.isfinite, x + y)):
                raise ValueError
            out.append({"cluster": int(lasso.get("cluster", -1)), "x": x, "y": y})
            vertices += len(x)
    except (KeyError, TypeError, ValueError):
        raise StoreError('lassos are [{"cluster": k, "x": [...], "y": [...]}] with finite coordinates') from None
    if vertices > MAX_LASSO_VERTICES:
        raise StoreError(f"the lassos have {vertices:,} vertices; at most {MAX_LASSO_VERTICES:,} are stored")
    return json.dumps(out)
