"""Seeded generators of synthetic scatterplots, each with its ground-truth component labels.

Parameters follow the factors that shape cluster perception: separation, density
difference, size imbalance, elongation/rotation, non-convex shape and background noise.
"""
from __future__ import annotations

import numpy as np

from .scatterplot import InvalidScatterplot, Scatterplot


def _rotation(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def _gaussian(rng, n, mean, sx, sy, angle_deg):
    pts = rng.standard_normal((n, 2)) * (sx, sy)
    return pts @ _rotation(np.deg2rad(angle_deg)).T + mean


def _check_n(n, minimum=3):
    if int(n) < minimum:
        raise InvalidScatterplot(f"need at least {minimum} points, got {n}")
    return int(n)


def _check_parts(n, k, noise, what):
    """(n, k, noise points) for a plot of k parts plus a share ``noise`` of background."""
    n = _check_n(n)
    k = int(k)
    if k < 1:
        raise InvalidScatterplot("k must be at least 1")
    n_noise = int(round(n * noise))
    if n - n_noise < k:
        raise InvalidScatterplot(f"{n} points are too few for {k} {what}")
    return n, k, n_noise


def two_gaussians(n: int = 500, distance: float = 3.0, sigma_ratio: float = 1.0, rotation: float = 0.0,
                  size_ratio: float = 1.0, elongation: float = 1.0, seed: int = 0, *,
                  sigmas=None, rotations=None) -> Scatterplot:
    """Two bivariate Gaussians with the parameters of the ClustMe study.

    ``distance``: distance between the means in units of the first component's major sigma (1).
    ``sigma_ratio``: scale of the second component relative to the first.
    ``rotation``: angle (degrees) of the second component's major axis to the line of means.
    ``size_ratio``: points in the second component over points in the first (mixing ratio).
    ``elongation``: major over minor sigma of both components (1 = round).
    ``sigmas``/``rotations``: explicit per-component ((sx, sy), (sx, sy)) and (deg, deg),
    overriding the shorthand above; this is how ClustMe parametrised each plot.
    """
    n = _check_n(n)
    rng = np.random.default_rng(seed)
    if sigmas is None:
        sigmas = ((1.0, 1.0 / elongation), (sigma_ratio, sigma_ratio / elongation))
    if rotations is None:
        rotations = (0.0, rotation)
    n2 = int(round(n * size_ratio / (1.0 + size_ratio)))
    n2 = min(max(n2, 1), n - 1)
    n1 = n - n2
    a = _gaussian(rng, n1, (0.0, 0.0), *sigmas[0], rotations[0])
    b = _gaussian(rng, n2, (distance, 0.0), *sigmas[1], rotations[1])
    xy = np.vstack([a, b])
    labels = np.repeat([0, 1], [n1, n2])
    params = dict(n=n, distance=distance, sigmas=[list(map(float, s)) for s in sigmas],
                  rotations=list(map(float, rotations)), size_ratio=size_ratio, seed=seed)
    return _shuffled(rng, xy, labels, "two_gaussians", params)


def blobs(n: int = 1000, k: int = 4, separation: float = 4.0, density_range: float = 1.0,
          size_imbalance: float = 0.0, elongation: float = 1.0, noise: float = 0.0,
          seed: int = 0) -> Scatterplot:
    """k Gaussian clusters.

    ``separation``: minimum distance between centres in units of the mean sigma.
    ``density_range``: largest over smallest cluster sigma (1 = equal densities).
    ``size_imbalance``: 0 gives equal sizes; larger values draw sizes from a skewed Dirichlet.
    ``elongation``: largest major/minor sigma ratio; each cluster draws one in [1, elongation]
    and a random orientation.  ``noise``: share of uniform background points (label -1).
    """
    n, k, n_noise = _check_parts(n, k, noise, "clusters")
    rng = np.random.default_rng(seed)
    n_clusters = n - n_noise
    scales = np.exp(rng.uniform(0, np.log(max(density_range, 1.0)), k))
    scales /= scales.mean()
    centres = _spread_centres(rng, k, separation)
    alpha = 1.0 / (1.0 + 4.0 * size_imbalance)
    shares = rng.dirichlet(np.full(k, alpha)) if size_imbalance > 0 else np.full(k, 1.0 / k)
    sizes = _apportion(n_clusters, shares)
    parts, labels = [], []
    for i in range(k):
        ratio = rng.uniform(1.0, max(elongation, 1.0))
        s = scales[i]
        parts.append(_gaussian(rng, sizes[i], centres[i], s * np.sqrt(ratio), s / np.sqrt(ratio),
                               rng.uniform(0, 180)))
        labels.append(np.full(sizes[i], i))
    xy, lab = np.vstack(parts), np.concatenate(labels)
    xy, lab = _with_noise(rng, xy, lab, n_noise)
    params = dict(n=n, k=k, separation=separation, density_range=density_range,
                  size_imbalance=size_imbalance, elongation=elongation, noise=noise, seed=seed)
    return _shuffled(rng, xy, lab, "blobs", params)


def _spread_centres(rng, k, separation):
    """Centres at least ``separation`` apart, in a box that grows with k (rejection sampling)."""
    side = separation * max(1.0, np.sqrt(k)) * 1.5
    centres: list[np.ndarray] = []
    for _ in range(k):
        for attempt in range(2000):
            c = rng.uniform(0, side, 2)
            if all(np.linalg.norm(c - o) >= separation for o in centres):
                break
            if attempt % 200 == 199:
                side *= 1.1
        centres.append(c)
    return np.array(centres)


def _apportion(total, shares):
    sizes = np.maximum(1, np.floor(shares * total).astype(int))
    while sizes.sum() > total:
        sizes[np.argmax(sizes)] -= 1
    sizes[np.argmax(shares)] += total - sizes.sum()
    return sizes


def _with_noise(rng, xy, labels, n_noise):
    if n_noise <= 0:
        return xy, labels
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = 0.1 * (hi - lo)
    bg = rng.uniform(lo - pad, hi + pad, (n_noise, 2))
    return np.vstack([xy, bg]), np.concatenate([labels, np.full(n_noise, -1)])


def _shuffled(rng, xy, labels, name, params) -> Scatterplot:
    order = rng.permutation(len(xy))
    return Scatterplot(xy[order], labels=labels[order], name=name, meta={"generator": name, "params": params})


def shapes(kind: str = "moons", n: int = 1000, noise: float = 0.05, background: float = 0.0,
           seed: int = 0) -> Scatterplot:
    """Non-convex shapes: ``moons``, ``rings`` (two concentric circles), ``spirals`` (two arms),
    or ``line`` (one elongated stripe). ``noise``: jitter relative to the shape's size;
    ``background``: share of uniform noise points (label -1)."""
    n = _check_n(n)
    rng = np.random.default_rng(seed)
    n_bg = int(round(n * background))
    m = n - n_bg
    half = m // 2
    if kind == "moons":
        t = rng.uniform(0, np.pi, m)
        lab = (np.arange(m) >= half).astype(int)
        xy = np.where(lab[:, None] == 0, np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    elif kind == "rings":
        t = rng.uniform(0, 2 * np.pi, m)
        lab = (np.arange(m) >= half).astype(int)
        r = np.where(lab == 0, 1.0, 0.4)
        xy = np.c_[r * np.cos(t), r * np.sin(t)]
    elif kind == "spirals":
        t = np.sqrt(rng.uniform(0.05, 1, m)) * 3 * np.pi
        lab = (np.arange(m) >= half).astype(int)
        phase = np.where(lab == 0, 0.0, np.pi)
        xy = np.c_[t * np.cos(t + phase), t * np.sin(t + phase)] / (3 * np.pi)
    elif kind == "line":
        lab = np.zeros(m, dtype=int)
        xy = np.c_[rng.uniform(-1, 1, m), 0.05 * rng.standard_normal(m)]
    else:
        raise InvalidScatterplot(f"unknown shape '{kind}'; choose moons, rings, spirals or line")
    xy = xy + rng.standard_normal(xy.shape) * noise
    xy, lab = _with_noise(rng, xy, lab, n_bg)
    params = dict(kind=kind, n=n, noise=noise, background=background, seed=seed)
    return _shuffled(rng, xy, lab, kind, params)


# Primitives of composite scenes, each ~unit size around the origin: (points, relative mass).
# Filled regions, outlines and paths of uniform density are what hand-drawn benchmark plots
# (rings around blobs, frames around squares, stripes, trajectories) are made of.
def _prim_blob(rng, m):
    return rng.standard_normal((m, 2)) * (0.25, 0.25 / rng.uniform(1, 4))


def _prim_rect(rng, m):
    aspect = rng.uniform(1, 8)
    return rng.uniform(-0.5, 0.5, (m, 2)) * (1.0, 1.0 / aspect)


def _annulus(rng, m, inner):
    r = np.sqrt(rng.uniform(inner**2, 1.0, m)) * 0.5
    t = rng.uniform(0, 2 * np.pi, m)
    return np.c_[r * np.cos(t), r * np.sin(t)]


def _prim_disc(rng, m):
    return _annulus(rng, m, 0.0)


def _prim_ring(rng, m):
    """A thick ring (filled annulus), as in olympic-style plots of overlapping rings."""
    return _annulus(rng, m, rng.uniform(0.4, 0.85))


def _prim_arc(rng, m):
    span = rng.choice([2 * np.pi, rng.uniform(0.5, 1.7) * np.pi])
    t = rng.uniform(0, span, m)
    return 0.5 * np.c_[np.cos(t), np.sin(t)] + rng.standard_normal((m, 2)) * 0.01


def _prim_segment(rng, m):
    return np.c_[rng.uniform(-0.5, 0.5, m), rng.standard_normal(m) * rng.uniform(0.005, 0.04)]


def _prim_wave(rng, m):
    x = rng.uniform(-0.5, 0.5, m)
    y = rng.uniform(0.05, 0.25) * np.sin(2 * np.pi * rng.uniform(0.5, 2) * x + rng.uniform(0, 2 * np.pi))
    return np.c_[x, y] + rng.standard_normal((m, 2)) * 0.01


def _prim_walk(rng, m):
    path = np.cumsum(rng.standard_normal((m, 2)), axis=0)
    path -= path.mean(axis=0)
    return path / max(np.abs(path).max() * 2, 1e-9) + rng.standard_normal((m, 2)) * 0.01


def _prim_frame(rng, m):
    """A filled rectangular frame (the region between two nested rectangles)."""
    width = rng.uniform(0.06, 0.2)
    pts = rng.uniform(-0.5, 0.5, (m * 4, 2))
    pts = pts[(np.abs(pts) > 0.5 - width).any(axis=1)]
    return pts[:m] if len(pts) >= m else np.vstack([pts, pts[: m - len(pts)]])


SCENE_PRIMITIVES = {"blob": _prim_blob, "rectangle": _prim_rect, "disc": _prim_disc, "ring": _prim_ring,
                    "arc": _prim_arc, "segment": _prim_segment, "wave": _prim_wave, "walk": _prim_walk,
                    "frame": _prim_frame}


def scene(n: int = 2000, k: int = 4, gap: float = 0.03, overlap: float = 0.0, noise: float = 0.0,
          seed: int = 0) -> Scatterplot:
    """k random primitives (blobs, filled rectangles, discs, thick rings, arcs, segments, waves,
    random-walk trajectories, frames) of random size and rotation on a unit canvas.

    ``gap``: smallest distance between the points of two primitives (canvas units); a primitive
    that lands closer is placed again (up to 200 tries, then it is dropped), so shapes nest
    inside frames and rings without touching. ``overlap``: probability that a primitive is
    centred on a point of an earlier one, ignoring the gap (crossing lines, overlapping
    rings). ``noise``: share of uniform background points (label -1). Labels are the
    primitives; ``meta["primitives"]`` names the kind of each label (a primitive that found no
    place keeps its entry and has no points)."""
    from sklearn.neighbors import KDTree

    n, k, n_noise = _check_parts(n, k, noise, "primitives")
    rng = np.random.default_rng(seed)
    kinds = rng.choice(sorted(SCENE_PRIMITIVES), k)
    sizes = _apportion(n - n_noise, rng.dirichlet(np.full(k, 3.0)))
    parts, labels = [], []
    for i, (kind, m) in enumerate(zip(kinds, sizes)):
        local = SCENE_PRIMITIVES[kind](rng, int(m))
        free = rng.random() < overlap
        placed = KDTree(np.vstack(parts)) if parts and not free else None  # fixed while this one is placed
        for _ in range(200):
            scale = rng.uniform(0.15, 0.6) / max(1.0, np.sqrt(k) / 2)
            # a free primitive is centred on a point of an earlier one, so that it crosses it
            if free and parts:
                earlier = parts[int(rng.integers(len(parts)))]
                centre = earlier[int(rng.integers(len(earlier)))]
            else:
                centre = rng.uniform(0.1, 0.9, 2)
            pts = local @ _rotation(rng.uniform(0, np.pi)).T * scale + centre
            if placed is None or placed.query(pts, k=1)[0].min() >= gap:
                parts.append(pts)
                labels.append(np.full(len(pts), i))
                break
    xy, lab = np.vstack(parts), np.concatenate(labels)
    xy, lab = _with_noise(rng, xy, lab, n_noise)
    params = dict(n=n, k=k, gap=gap, overlap=overlap, noise=noise, seed=seed)
    plot = _shuffled(rng, xy, lab, "scene", params)
    plot.meta["primitives"] = [str(kind) for kind in kinds]
    return plot


def uniform_noise(n: int = 1000, seed: int = 0) -> Scatterplot:
    """Points spread uniformly over the unit square: no cluster at all (labels -1)."""
    n = _check_n(n)
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1, (n, 2))
    return Scatterplot(xy, labels=np.full(n, -1), name="noise",
                       meta={"generator": "noise", "params": dict(n=n, seed=seed)})


GENERATORS = {
    "two_gaussians": two_gaussians,
    "blobs": blobs,
    "shapes": shapes,
    "scene": scene,
    "noise": uniform_noise,
}


def generate(generator: str, **params) -> Scatterplot:
    """Call a generator by name (``two_gaussians``, ``blobs``, ``shapes``, ``scene``, ``noise``)."""
    if generator not in GENERATORS:
        raise InvalidScatterplot(f"unknown generator '{generator}'; choose one of {sorted(GENERATORS)}")
    return GENERATORS[generator](**params)


def random_plot(rng: np.random.Generator, n: int | None = None) -> Scatterplot:
    """A plot drawn across all perceptual factors, for training and held-out evaluation suites."""
    seed = int(rng.integers(2**31))
    n = int(n or rng.integers(300, 2500))
    family = rng.choice(["blobs", "blobs", "blobs", "two_gaussians", "shapes", "noise"],
                        p=[0.25, 0.2, 0.15, 0.2, 0.15, 0.05])
    if family == "blobs":
        return blobs(n, k=int(rng.integers(1, 9)), separation=float(rng.uniform(1.5, 8)),
                     density_range=float(rng.uniform(1, 4)), size_imbalance=float(rng.uniform(0, 1.5)),
                     elongation=float(rng.uniform(1, 6)), noise=float(rng.choice([0, 0, 0.05, 0.15])), seed=seed)
    if family == "two_gaussians":
        return two_gaussians(n, distance=float(rng.uniform(0, 7)), sigma_ratio=float(rng.uniform(0.3, 2)),
                             rotation=float(rng.uniform(0, 180)), size_ratio=float(rng.uniform(0.2, 1)),
                             elongation=float(rng.uniform(1, 4)), seed=seed)
    if family == "shapes":
        return shapes(str(rng.choice(["moons", "rings", "spirals", "line"])), n,
                      noise=float(rng.uniform(0.02, 0.12)), background=float(rng.choice([0, 0.05])), seed=seed)
    return uniform_noise(n, seed=seed)


def random_scene(rng: np.random.Generator, n: int | None = None) -> Scatterplot:
    """A composite ``scene`` drawn at random, for training on the shapes of hand-made plots."""
    seed = int(rng.integers(2**31))
    n = int(n or rng.integers(500, 5000))
    return scene(n, k=int(rng.integers(1, 8)), gap=float(rng.uniform(0.01, 0.06)),
                 overlap=float(rng.choice([0, 0.2, 0.5])), noise=float(rng.choice([0, 0, 0.05])), seed=seed)

