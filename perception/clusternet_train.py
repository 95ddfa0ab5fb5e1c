"""Train ClusterNet on generated plots labelled by simulated observers (and on human labels).

Data: ``data.generate.random_plot`` plots and, for a share ``scene_share`` of them, composite
``data.generate.random_scene`` plots (rings, frames, stripes, trajectories), a share
``size_share`` of them with 100 to 30,000 points (``generated_plots``), each labelled by
``n_observers`` simulated people (``perception.observers.simulate_crowd``), who with
``continuity`` (the default) see each thin curve and ring or frame of a scene whole
(``perception.observers.see_curves_whole``); a plot is reduced to the network's fixed sample
(``models.clusternet_features.prepare``) with every observer's labels and the agreement of
``perception.agreement.consensus``, and
the whole set is cached under ``<out>/data/`` so later runs and resumes skip generation.
Plot i of a split draws from ``np.random.SeedSequence([seed, split, i])`` (split 0 = train,
1 = validation; evaluation uses split 2), so splits never share a random stream.

With ``annotations`` (a folder or export read by ``models.annotated``), training starts from
the shipped weights and fine-tunes on the human-labelled plots mixed with as many generated
ones (so the model does not forget the generated factors), at a fifth of the learning rate;
20 % of the human plots are held
out for validation when there are at least 5, else validation stays on generated plots. The
grouping is recalibrated on the held-out human plots when there are at least
``min_calibration_plots`` (20) of them; with fewer, the start weights' settings are kept.

Checkpoints (``<out>/checkpoint.pt``) hold model, optimiser, scheduler, epoch and history, and
are written after every epoch; ``resume=True`` continues from one. The best epoch by
validation loss is exported to ``<out>/clusternet.pt`` in the shipped format, with the inference
thresholds chosen on the validation plots (``calibrate``) stored in its config.
"""
from __future__ import annotations

import itertools
import json
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from sklearn.metrics import adjusted_mutual_info_score
from sklearn.neighbors import KDTree
from tqdm import tqdm

from data import InvalidScatterplot, display_normalize
from data import Scatterplot
from data.generate import blobs, random_plot, random_scene

from models.annotated import load_annotations
from models.clusternet_features import PLOT_SIZES, prepare
from models.clusternet_grouping import group_pooled, group_views, pool_views
from models.clusternet_loss import clusternet_loss
from models.clusternet_network import ClusterNetModel
from models.clusternet_views import View, run_views
from models.clusternet_estimator import WEIGHTS
from models.clusternet_weights import load_weights

from .agreement import consensus
from .observers import see_curves_whole, simulate_crowd

TRAIN, VALIDATION, EVALUATION = 0, 1, 2


def crowd_labels(xy: np.ndarray, seed: int, n_observers: int = 20) -> np.ndarray:
    """Simulated observers' labelings (m, n) of a plot; the default label source."""
    return simulate_crowd(xy, n_observers=n_observers, seed=seed)


def plot_labels(plot, seed: int, label_source: Callable[[np.ndarray, int], np.ndarray] = crowd_labels,
                continuity: bool = False) -> np.ndarray:
    """Labellers' labelings (m, n) of a generated plot; with ``continuity``, a scene's thin
    curves and outlines are seen whole (``perception.observers.see_curves_whole``)."""
    labelings = label_source(plot.xy, seed)
    return see_curves_whole(labelings, plot) if continuity else labelings


def split_rng(seed: int, split: int, i: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, split, i]))


def labelling_seed(seed: int, split: int, i: int) -> int:
    """The seed of the labellers (and the sample) of a split's i-th plot."""
    return int(split_rng(seed, split, i).integers(2**31))


def many_blobs(rng: np.random.Generator) -> Scatterplot:
    """A plot of 10 to 100 compact blobs (log-uniform k), 4 to 10 sigma apart, with at least 30
    points per blob and at most PLOT_SIZES[1] points: the many-cluster plots random_plot lacks."""
    k = int(np.exp(rng.uniform(np.log(10), np.log(100))))
    lo = max(1000, 30 * k)
    n = int(np.exp(rng.uniform(np.log(lo), np.log(max(lo, PLOT_SIZES[1])))))
    return blobs(n, k=k, separation=float(rng.uniform(4, 10)), density_range=float(rng.uniform(1, 2)),
                 elongation=float(rng.uniform(1, 2)), seed=int(rng.integers(2**31)))


def generated_plots(n_plots: int, seed: int, split: int, scene_share: float = 0.0, size_share: float = 0.0,
                    many_share: float = 0.0):
    """The i-th generated plot of a split, for i < n_plots (a generator of Scatterplots): a
    ``random_scene`` with probability ``scene_share``, else a ``random_plot``. With probability
    ``size_share`` its point count is drawn log-uniformly from PLOT_SIZES instead of the
    generator's own range, so the network also learns how people see sparse and dense plots.
    With probability ``many_share`` (drawn after those, so the other plots stay as they were)
    the plot is replaced by ``many_blobs``."""
    for i in range(n_plots):
        rng = split_rng(seed, split, i)
        n = int(np.exp(rng.uniform(*np.log(PLOT_SIZES)))) if size_share and rng.random() < size_share else None
        plot = random_scene(rng, n) if scene_share and rng.random() < scene_share else random_plot(rng, n)
        yield many_blobs(rng) if many_share and rng.random() < many_share else plot


def encode_plot(xy: np.ndarray, labelings: np.ndarray, size: int, seed: int) -> dict:
    """One plot as training arrays: sampled points, density feature, observers' labels of the
    sampled points (m, size) and the per-point consensus agreement."""
    norm = display_normalize(xy)
    idx, pts, feat = prepare(norm, size, seed)
    lab = np.atleast_2d(labelings)[:, idx]
    majority, agreement = consensus(lab)
    return {"xy": pts, "feat": feat, "labels": lab, "agreement": agreement.astype(np.float32),
            "majority": majority}


def stack(encoded: list[dict]) -> dict:
    """Stack encoded plots; observers are padded to the largest group with -2 (absent)."""
    m = max(e["labels"].shape[0] for e in encoded)
    n = encoded[0]["xy"].shape[0]
    labels = np.full((len(encoded), m, n), -2, dtype=np.int16)
    for i, e in enumerate(encoded):
        labels[i, : len(e["labels"])] = e["labels"]
    return {"xy": np.stack([e["xy"] for e in encoded]), "feat": np.stack([e["feat"] for e in encoded]),
            "labels": labels, "agreement": np.stack([e["agreement"] for e in encoded]),
            "majority": np.stack([e["majority"] for e in encoded]).astype(np.int16)}


def build_generated(n_plots: int, seed: int, split: int, size: int, cache_dir: Path,
                    label_source: Callable[[np.ndarray, int], np.ndarray] = crowd_labels,
                    progress: bool = True, scene_share: float = 0.0, size_share: float = 0.0,
                    continuity: bool = False, many_share: float = 0.0) -> dict:
    """Generated plots of a split, labelled by ``plot_labels``, cached as .npz."""
    mix = (f"-scenes{scene_share:g}" if scene_share else "") + (f"-sizes{size_share:g}" if size_share else "")
    mix += ("-curves" if continuity and scene_share else "") + (f"-many{many_share:g}" if many_share else "")
    # "generated3": caches of earlier versions lack the encoding's plot-size feature (1) or
    # scenes with thick rings and crossing placement (2)
    path = Path(cache_dir) / f"generated3-s{seed}-split{split}-n{n_plots}-size{size}{mix}.npz"
    # plot i is the same in every cache of this seed, split and mix, so a larger cache serves too
    larger = sorted(Path(cache_dir).glob(f"generated3-s{seed}-split{split}-n*-size{size}{mix}.npz"),
                    key=lambda p: int(p.stem.split("-n")[1].split("-")[0]))
    for cached in [path] + larger:
        if cached.exists() and int(cached.stem.split("-n")[1].split("-")[0]) >= n_plots:
            with np.load(cached) as f:
                return {k: f[k][:n_plots] for k in f.files}
    encoded = []
    plots = generated_plots(n_plots, seed, split, scene_share, size_share, many_share)
    for i, plot in enumerate(tqdm(plots, total=n_plots, disable=not progress,
                                  desc=f"generating split {split}")):
        plot_seed = labelling_seed(seed, split, i)
        encoded.append(encode_plot(plot.xy, plot_labels(plot, plot_seed, label_source, continuity), size, plot_seed))
    arrays = stack(encoded)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.rename(path)
    return arrays


def encode_annotations(plots: list, size: int, seed: int = 0) -> dict:
    """Human-labelled plots (``models.annotated.load_annotations``) as stacked training arrays."""
    return stack([encode_plot(p.xy, p.labelings, size, seed + i) for i, p in enumerate(plots)])


def concat(a: dict, b: dict) -> dict:
    m = max(a["labels"].shape[1], b["labels"].shape[1])

    def pad(x):
        out = np.full((x.shape[0], m, x.shape[2]), -2, dtype=np.int16)
        out[:, : x.shape[1]] = x
        return out

    out = {k: np.concatenate([a[k], b[k]]) for k in a if k != "labels"}
    out["labels"] = np.concatenate([pad(a["labels"]), pad(b["labels"])])
    return out


def subset(arrays: dict, idx) -> dict:
    return {k: v[idx] for k, v in arrays.items()}


_DIHEDRAL = torch.tensor([[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[-1, 0], [0, 1]], [[1, 0], [0, -1]],
                          [[-1, 0], [0, -1]], [[0, -1], [1, 0]], [[0, 1], [-1, 0]], [[0, -1], [-1, 0]]],
                         dtype=torch.float32)


def augment(xy: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random flip/rotation by multiples of 90 degrees: keeps the display normalisation."""
    which = torch.randint(0, 8, (xy.shape[0],), generator=generator)
    return xy @ _DIHEDRAL[which]


def batches(arrays: dict, batch_size: int, order: np.ndarray):
    for start in range(0, len(order), batch_size):
        idx = order[start: start + batch_size]
        yield (torch.from_numpy(arrays["xy"][idx]), torch.from_numpy(arrays["feat"][idx]),
               torch.from_numpy(arrays["labels"][idx].astype(np.int64)), torch.from_numpy(arrays["agreement"][idx]))


def evaluate(model: ClusterNetModel, arrays: dict, batch_size: int = 16) -> dict:
    """Validation loss and mean AMI of the predicted clustering vs. the observers' majority
    (points the majority leaves unlabelled excluded)."""
    model.eval()
    gen = torch.Generator().manual_seed(0)
    losses, amis, corrs = [], [], []
    with torch.no_grad():
        order = np.arange(len(arrays["xy"]))
        for b, (xy, feat, labels, agreement) in enumerate(batches(arrays, batch_size, order)):
            emb, noise, agree = model(xy, feat)
            losses.append(float(clusternet_loss(emb, noise, agree, labels, agreement, generator=gen, xy=xy)["loss"])
                          * len(xy))
            for j in range(len(xy)):
                i = order[b * batch_size + j]
                view = View(np.arange(xy.shape[1]), emb[j].numpy().astype(np.float64),
                            torch.sigmoid(noise[j]).numpy(), torch.sigmoid(agree[j]).numpy())
                pred = group_views(model.config, [view], xy[j].numpy())[1]  # one view: a quick proxy
                major = arrays["majority"][i]
                keep = major >= 0
                if keep.sum() > 1:
                    amis.append(adjusted_mutual_info_score(major[keep], pred[keep]))
                a_pred, a_obs = torch.sigmoid(agree[j]).numpy(), arrays["agreement"][i]
                if a_obs.std() > 0 and a_pred.std() > 0:
                    corrs.append(float(np.corrcoef(a_pred, a_obs)[0, 1]))
    return {"val_loss": float(np.sum(losses) / len(arrays["xy"])), "val_ami": float(np.mean(amis)) if amis else float("nan"),
            "val_agreement_corr": float(np.mean(corrs)) if corrs else float("nan")}


# Inference settings searched on the validation plots, per grouping (noise threshold for all).
GROUPING_GRID = {"average": {"merge_threshold": (0.4, 0.5, 0.6, 0.7)},
                 "graph": {"merge_threshold": (0.9, 0.95, 0.97), "min_shared": (2, 4),
                           "split_threshold": (0.0, 0.3, 0.5, 0.7)}}
NOISE_GRID = (0.5, 0.6, 0.7, 0.8)
MIN_CALIBRATION_PLOTS = 20  # held-out human plots needed to recalibrate the grouping when fine-tuning
N_VIEWS = 8  # views averaged at inference (models.clusternet_views.run_views); 16 scored no better


def validation_plots(n_plots: int, seed: int, label_source: Callable[[np.ndarray, int], np.ndarray] = crowd_labels,
                     scene_share: float = 0.0, size_share: float = 0.0, continuity: bool = False,
                     many_share: float = 0.0):
    """The validation split's plots whole, as (points, majority label of the labellers)."""
    for i, plot in enumerate(generated_plots(n_plots, seed, VALIDATION, scene_share, size_share, many_share)):
        plot_seed = labelling_seed(seed, VALIDATION, i)
        yield plot.xy, consensus(plot_labels(plot, plot_seed, label_source, continuity))[0]


def calibrate(model: ClusterNetModel, plots, grid: dict = GROUPING_GRID, noise=NOISE_GRID,
              n_views: int = N_VIEWS) -> dict:
    """The inference settings with the best mean AMI vs. the labellers' majority on validation
    ``plots`` ((points, majority) pairs), inferring as ``models.ClusterNet``
    does with ``n_views`` views: every grouping's settings in ``grid`` times the noise
    thresholds ``noise``. ``thresholds`` holds the best settings of each grouping, for users who
    choose the other one; ``scores`` every setting's AMI."""
    model.eval()
    plots, scored = list(plots), []
    for xy, major in plots:
        if (major >= 0).sum() > 1:  # a plot the majority leaves unlabelled has nothing to score
            norm = display_normalize(xy)
            scored.append((norm, major, run_views(model, norm, n_views)))
    scores = {}
    for grouping, options in grid.items():
        config = {**model.config, "grouping": grouping}
        # what no threshold changes, once per plot: the pooled views and each point's nearest grouped point
        pooled = [pool_views(views, norm, grouping) for norm, _, views in scored]
        nearest = [KDTree(norm[p.points]).query(norm, k=1, return_distance=False)[:, 0]
                   for (norm, _, _), p in zip(scored, pooled)]
        memos = [{} for _ in scored]  # per plot: what one noise threshold fixes (graph edges, linkage trees)
        for values in itertools.product(*options.values(), noise):
            setting = {**dict(zip(options, values)), "noise_threshold": values[-1]}
            config["thresholds"] = {grouping: setting}
            amis = []
            for (norm, major, views), p, near, memo in zip(scored, pooled, nearest, memos):
                keep = major >= 0
                pred = group_pooled(config, views, p, norm, memo=memo)[near]
                amis.append(adjusted_mutual_info_score(major[keep], pred[keep]))
            scores[(grouping, tuple(sorted(setting.items())))] = float(np.mean(amis))
    thresholds = {g: dict(max(((k, v) for k, v in scores.items() if k[0] == g), key=lambda kv: kv[1])[0][1])
                  for g in grid}
    (grouping, _), best = max(scores.items(), key=lambda kv: kv[1])
    return {"grouping": grouping, **thresholds[grouping], "n_views": n_views, "val_ami": best,
            "val_plots": len(plots), "thresholds": thresholds,
            "scores": {"/".join([g] + [f"{k}={v}" for k, v in setting]): v for (g, setting), v in scores.items()}}


def export(model: ClusterNetModel, path: Path, meta: dict) -> Path:
    """Write weights in the shipped format: state_dict, config and metadata (weights_only-safe)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "config": dict(model.config), "meta": meta}, path)
    return path


def train(out: str | Path = "runs/clusternet", epochs: int = 8, n_plots: int = 3000, n_val: int = 150,
          seed: int = 0, batch_size: int = 8, lr: float = 2e-3, annotations: str | list | None = None,
          resume: bool = False, label_source: Callable[[np.ndarray, int], np.ndarray] = crowd_labels,
          config: dict | None = None, max_batches: int | None = None, threads: int | None = None,
          scene_share: float = 0.35, size_share: float = 0.5, continuity: bool = True, many_share: float = 0.0,
          min_calibration_plots: int = MIN_CALIBRATION_PLOTS, progress: bool = True,
          log: Callable[[str], None] = print) -> dict:
    """Train (or fine-tune on ``annotations``) and return the history; see the module docstring.
    ``annotations``: a source ``models.annotated.load_annotations`` reads, or plots it returned.
    ``max_batches`` caps batches per epoch (smoke tests)."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    # weights_only: the checkpoint holds tensors and plain containers, nothing to unpickle.
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True) if resume and ckpt_path.exists() else None
    # A resumed run rebuilds the network it saved, whatever config or start weights it began from.
    model = ClusterNetModel(ckpt["config"] if ckpt else config)
    start_weights = None
    if annotations and ckpt is None and WEIGHTS.exists():
        start_weights = WEIGHTS
        model = load_weights(start_weights)
    size = int(model.config["sample_size"])
    cache = out / "data"
    recipe = dict(scene_share=scene_share, size_share=size_share, continuity=continuity, many_share=many_share)
    train_set = build_generated(n_plots, seed, TRAIN, size, cache, label_source, progress, **recipe)
    val_set = build_generated(n_val, seed, VALIDATION, size, cache, label_source, progress, **recipe)
    if annotations:
        human_plots = annotations if isinstance(annotations, list) else load_annotations(annotations)
        if not human_plots:
            raise InvalidScatterplot(f"no labelled plots found in {annotations}")
        human = encode_annotations(human_plots, size, seed)
        rng = np.random.default_rng(seed)
        human_order = rng.permutation(len(human_plots))
        n_hold = len(human_order) // 5 if len(human_order) >= 5 else 0
        if n_hold:
            val_set = subset(human, human_order[:n_hold])
        human_train = subset(human, human_order[n_hold:])
        mix = rng.choice(len(train_set["xy"]), min(len(human_train["xy"]), len(train_set["xy"])), replace=False)
        train_set = concat(human_train, subset(train_set, np.sort(mix)))
    steps_per_epoch = -(-len(train_set["xy"]) // batch_size)
    if max_batches:
        steps_per_epoch = min(steps_per_epoch, max_batches)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr if not annotations else lr / 5, weight_decay=1e-4)
    total = max(1, epochs * steps_per_epoch)

    def warmup_cosine(step):  # stateless in the step, so resuming with more epochs stretches it
        warm = max(1, total // 20)
        return (step + 1) / warm if step < warm else 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, warmup_cosine)
    generator = torch.Generator().manual_seed(seed)
    history: list[dict] = []
    first_epoch, best = 0, float("inf")
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimiser.load_state_dict(ckpt["optimiser"])
        scheduler.load_state_dict(ckpt["scheduler"])
        generator.set_state(ckpt["generator"])
        history, first_epoch, best = json.loads(ckpt["history"]), ckpt["epoch"] + 1, ckpt["best"]
        log(f"resumed from {ckpt_path} after epoch {ckpt['epoch'] + 1}")
    command_meta = {"epochs": epochs, "plots": n_plots, "val_plots": n_val, "seed": seed, "batch_size": batch_size,
                    "lr": lr, **recipe,
                    "annotations": [p.name for p in human_plots] if isinstance(annotations, list) else annotations,
                    "start_weights": str(start_weights) if start_weights else None}
    for epoch in range(first_epoch, epochs):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(train_set["xy"]), generator=generator).numpy()[: steps_per_epoch * batch_size]
        bar = tqdm(batches(train_set, batch_size, order), total=steps_per_epoch, disable=not progress,
                   desc=f"epoch {epoch + 1}/{epochs}")
        running = []
        for xy, feat, labels, agreement in bar:
            xy = augment(xy, generator)
            emb, noise, agree = model(xy, feat)
            loss = clusternet_loss(emb, noise, agree, labels, agreement, generator=generator, xy=xy)["loss"]
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            scheduler.step()
            running.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(running[-20:]):.4f}")
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(running)), **evaluate(model, val_set),
               "seconds": time.perf_counter() - t0}
        history.append(row)
        log(json.dumps(row))
        if not row["val_loss"] >= best:  # also true for NaN, so every run exports some weights
            best = row["val_loss"]
            export(model, out / "clusternet.pt", {**command_meta, "epoch": epoch + 1, "history": history})
        torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                    "history": json.dumps(history), "epoch": epoch, "best": float(best),
                    "config": dict(model.config)},
                   ckpt_path.with_suffix(".tmp"))
        ckpt_path.with_suffix(".tmp").rename(ckpt_path)
    (out / "history.json").write_text(json.dumps(history, indent=1))
    best_model = load_weights(out / "clusternet.pt")
    meta = torch.load(out / "clusternet.pt", weights_only=True)["meta"]
    settings = ("grouping", "merge_threshold", "noise_threshold", "n_views", "thresholds")
    if annotations and n_hold >= max(1, min_calibration_plots):  # the held-out human plots whole
        chosen = calibrate(best_model, [(human_plots[i].xy, consensus(human_plots[i].labelings)[0])
                                        for i in human_order[:n_hold]])
    elif annotations and "thresholds" in best_model.config:
        # Too few held-out human plots to choose among the grid's settings (a handful of plots
        # overfits them): keep those calibrated with the start weights.
        chosen = {**{k: best_model.config[k] for k in settings}, "kept_from_start_weights": True, "val_plots": 0}
    else:
        chosen = calibrate(best_model, validation_plots(n_val, seed, label_source, **recipe))
    best_model.config.update({k: chosen[k] for k in settings})
    export(best_model, out / "clusternet.pt", {**meta, "calibration": chosen})
    log(json.dumps({"calibration": {k: v for k, v in chosen.items() if k != "scores"}}))
    return {"history": history, "weights": str(out / "clusternet.pt"), "checkpoint": str(ckpt_path)}
