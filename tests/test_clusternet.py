"""ClusterNet: targets, loss, training, annotation formats and the shipped model's behaviour."""
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import adjusted_mutual_info_score as ami

from data import InvalidScatterplot, Scatterplot, display_normalize
from data.generate import blobs, shapes, two_gaussians
from models.annotated import ABSENT, load_annotations
from models import ClusterNet
from models.clusternet_features import PLOT_SIZES, prepare
from models.clusternet_grouping import GROUPINGS, cluster_embeddings
from models.clusternet_loss import clusternet_loss
from models.clusternet_network import ClusterNetModel
from models.clusternet_views import SYMMETRIES, run_views
from models.clusternet_estimator import WEIGHTS
from perception.agreement import consensus

torch.set_num_threads(1)
TINY = {"width": 0.25, "sample_size": 256}
needs_weights = pytest.mark.skipif(not ClusterNet.available(), reason="assets/clusternet.pt is missing")


def test_consensus_aligns_ids_and_counts_agreement():
    labs = np.array([[0, 0, 1, 1, -1],
                     [1, 1, 0, 0, -1],  # same partition, other ids
                     [0, 0, 1, 0, 0]])
    majority, agreement = consensus(labs)
    assert ami(majority[:4], [0, 0, 1, 1]) == 1.0 and majority[4] == -1
    np.testing.assert_allclose(agreement, [1, 1, 1, 2 / 3, 2 / 3])
    unseen = np.array([[0, 0, 1], [0, ABSENT, 1]])  # absent observers do not vote
    np.testing.assert_allclose(consensus(unseen)[1], [1, 1, 1])


def _batch(n_plots=4, size=256, seed=0):
    rng = np.random.default_rng(seed)
    xy, feat, labels = [], [], []
    for i in range(n_plots):
        plot = blobs(400, k=int(rng.integers(2, 5)), separation=6, seed=seed + i)
        idx, pts, f = prepare(plot.xy - plot.xy.mean(0), size, i)
        xy.append(pts)
        feat.append(f)
        labels.append(np.stack([plot.labels[idx], plot.labels[idx]]))
    labels = torch.tensor(np.array(labels))
    return torch.tensor(np.array(xy)), torch.tensor(np.array(feat)), labels, torch.ones(labels.shape[0], size)


def test_loss_ignores_cluster_ids():
    torch.manual_seed(0)
    emb, noise, agree = torch.randn(2, 50, 8), torch.randn(2, 50), torch.randn(2, 50)
    labels = torch.randint(-1, 3, (2, 3, 50))
    renamed = torch.where(labels >= 0, 2 - labels, labels)
    a = clusternet_loss(emb, noise, agree, labels, torch.rand(2, 50), generator=torch.Generator().manual_seed(1))
    b = clusternet_loss(emb, noise, agree, renamed, torch.rand(2, 50), generator=torch.Generator().manual_seed(1))
    assert torch.isclose(a["affinity"], b["affinity"]) and torch.isclose(a["noise"], b["noise"])


def test_local_loss_term_covers_spatial_neighbours():
    torch.manual_seed(0)
    xy = torch.cat([torch.rand(1, 30, 2) * 0.1, torch.rand(1, 30, 2) * 0.1 + 0.5], dim=1)
    labels = torch.tensor([[0] * 30 + [1] * 30])[:, None]
    agreement = torch.ones(1, 60)
    noise, agree = torch.zeros(1, 60), torch.zeros(1, 60)
    apart = torch.cat([torch.zeros(1, 30, 4), torch.full((1, 30, 4), 5.0)], dim=1)
    # neighbours within each group: an embedding that joins them scores better than one that
    # splits them, and the global term alone has no local part
    jittered = apart + torch.randn(1, 60, 4)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    good = clusternet_loss(apart, noise, agree, labels, agreement, generator=gen(), xy=xy, n_local=5)
    bad = clusternet_loss(jittered, noise, agree, labels, agreement, generator=gen(), xy=xy, n_local=5)
    assert good["local"] < 0.01 < bad["local"]
    assert clusternet_loss(apart, noise, agree, labels, agreement, generator=gen())["local"] == 0


def test_smoke_training_lowers_the_loss():
    torch.manual_seed(0)
    model = ClusterNetModel(TINY)
    xy, feat, labels, agreement = _batch()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        out = model(xy, feat)
        loss = clusternet_loss(*out, labels, agreement, generator=torch.Generator().manual_seed(0))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.8 * losses[0]


def test_train_checkpoints_and_resumes(tmp_path):
    from perception.clusternet_train import N_VIEWS, train

    def truth(xy, seed):  # ground-truth labels as a single observer: fast and numba-free
        return np.zeros((1, len(xy)), dtype=np.int64)

    kw = dict(n_plots=4, n_val=2, batch_size=2, max_batches=1, config=TINY, label_source=truth, progress=False,
              log=lambda s: None)
    first = train(tmp_path, epochs=1, **kw)
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "clusternet.pt").exists()
    again = train(tmp_path, epochs=2, resume=True, **kw)
    assert [h["epoch"] for h in again["history"]] == [1, 2]
    assert again["history"][0]["val_loss"] == first["history"][0]["val_loss"]
    blob = torch.load(tmp_path / "clusternet.pt", weights_only=True)
    assert set(blob) == {"state_dict", "config", "meta"}
    # calibration stores the chosen grouping and the best thresholds of each grouping
    config = blob["config"]
    assert config["grouping"] in GROUPINGS and set(config["thresholds"]) == set(GROUPINGS)
    assert config["merge_threshold"] == config["thresholds"][config["grouping"]]["merge_threshold"]
    assert config["n_views"] == N_VIEWS
    assert blob["meta"]["continuity"] is True and blob["meta"]["scene_share"] == 0.35


def test_annotation_formats(tmp_path):
    xy = np.random.default_rng(0).normal(size=(6, 2))
    folder = tmp_path / "plots"
    folder.mkdir()
    np.savez(folder / "a.npz", xy=xy, labels=np.array([[0, 0, 0, 1, 1, -1], [0, 0, 1, 1, 1, 1]]))
    pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "ann1": [0, 0, 0, 1, 1, None], "ann2": [1] * 6}).to_csv(
        folder / "b.csv", index=False)
    plots = {p.name: p for p in load_annotations(folder)}
    assert plots["a"].labelings.shape == (2, 6) and plots["b"].labelings[0, 5] == -1
    rows = [{"study": "s", "plot_id": 7, "point": i, "x": xy[i, 0], "y": xy[i, 1], "annotator": ann,
             "label": (i // 3 if ann == "p" else 0), "shown": i != 5}
            for ann in ["p", "q"] for i in range(6)]
    for suffix in [".csv", ".json", ".parquet"]:
        path = tmp_path / f"export{suffix}"
        frame = pd.DataFrame(rows)
        if suffix == ".json":
            frame.to_json(path, orient="records", double_precision=15)
        else:
            getattr(frame, "to_csv" if suffix == ".csv" else "to_parquet")(path, index=False)
        (plot,) = load_annotations(path)
        np.testing.assert_allclose(plot.xy, xy, rtol=1e-9)
        np.testing.assert_array_equal(plot.labelings, [[0, 0, 0, 1, 1, ABSENT], [0, 0, 0, 0, 0, ABSENT]])


@needs_weights
def test_fine_tuning_on_human_labels_calibrates_on_held_out_human_plots(tmp_path):
    from perception.clusternet_train import train

    folder = tmp_path / "crowd"
    folder.mkdir()
    for i in range(5):
        plot = blobs(300, k=2, separation=8, seed=i)
        np.savez(folder / f"p{i}.npz", xy=plot.xy, labels=np.stack([plot.labels, plot.labels]))
    kw = dict(epochs=1, n_plots=2, n_val=2, batch_size=2, max_batches=1, annotations=str(folder), progress=False,
              label_source=lambda xy, seed: np.zeros((1, len(xy)), dtype=np.int64), log=lambda s: None)
    train(tmp_path / "run", min_calibration_plots=1, **kw)
    calibration = torch.load(tmp_path / "run" / "clusternet.pt", weights_only=True)["meta"]["calibration"]
    assert calibration["val_plots"] == 1 and calibration["val_ami"] > 0.9  # one of five human plots held out
    # by default one held-out plot is too few to choose among the grid's settings: the shipped ones stay
    train(tmp_path / "kept", **kw)
    kept = torch.load(tmp_path / "kept" / "clusternet.pt", weights_only=True)
    shipped = torch.load(WEIGHTS, weights_only=True)["config"]
    assert kept["meta"]["calibration"]["kept_from_start_weights"]
    for key in ("grouping", "thresholds"):
        assert kept["config"][key] == shipped[key]


@needs_weights
def test_crossval_scores_each_plot_with_weights_that_never_saw_it(tmp_path):
    from perception.clusternet_crossval import FINETUNED, SHIPPED, crossval_finetune

    plots = [Scatterplot(b.xy, labels=np.stack([b.labels, b.labels]), name=f"p{i}")
             for i, b in enumerate(blobs(200, k=2, separation=8, seed=i) for i in range(4))]
    kw = dict(folds=2, epochs=1, n_plots=2, n_val=2, baselines=("kmeans",), max_batches=1, log=lambda s: None)
    table = crossval_finetune(plots, tmp_path, **kw)
    assert sorted(table["plot"]) == [p.name for p in plots]
    for k in range(2):
        trained_on = torch.load(tmp_path / f"fold{k}" / "clusternet.pt", weights_only=True)["meta"]["annotations"]
        scored = set(table.loc[table["fold"] == k, "plot"])
        assert len(scored) == 2 and len(trained_on) == 2 and not scored & set(trained_on)
    # well-separated blobs, two annotators agreeing
    assert (table[[SHIPPED, FINETUNED, "kmeans"]] > 0.9).all().all()
    stamp = (tmp_path / "fold0" / "clusternet.pt").stat().st_mtime_ns
    pd.testing.assert_frame_equal(crossval_finetune(plots, tmp_path, **kw), table)  # finished folds are reused
    assert (tmp_path / "fold0" / "clusternet.pt").stat().st_mtime_ns == stamp
    other = crossval_finetune(plots, tmp_path, **{**kw, "seed": 5})  # another deal retrains its folds
    assert (tmp_path / "fold0" / "clusternet.pt").stat().st_mtime_ns != stamp
    for k in range(2):
        trained_on = torch.load(tmp_path / f"fold{k}" / "clusternet.pt", weights_only=True)["meta"]["annotations"]
        assert not set(other.loc[other["fold"] == k, "plot"]) & set(trained_on)


def test_crossval_folds_are_seeded_and_balanced():
    from perception.clusternet_crossval import fold_ids

    ids = fold_ids(19, 5, seed=0)
    assert sorted(np.bincount(ids)) == [3, 4, 4, 4, 4]
    np.testing.assert_array_equal(ids, fold_ids(19, 5, seed=0))
    assert not np.array_equal(ids, fold_ids(19, 5, seed=1))
    with pytest.raises(InvalidScatterplot, match="folds"):
        from perception.clusternet_crossval import crossval_finetune

        crossval_finetune([Scatterplot(np.zeros((3, 2)), labels=np.zeros(3), name="a")] * 3, "unused", folds=4)


def test_annotations_read_the_benchmark_layout(wut_dir):
    plots = load_annotations(wut_dir)
    assert len(plots) == 19 and all(p.labelings.shape[1] == len(p) for p in plots)


def test_cluster_embeddings_cuts_at_half_coaffinity():
    emb = np.r_[np.zeros((10, 2)), np.full((10, 2), 3.0), [[0.1, 0.0]]]
    noise = np.r_[np.zeros(20), 0.9]
    labels = cluster_embeddings(emb, noise)
    assert labels[20] == -1 and len(set(labels[:10])) == 1 and labels[0] != labels[10]


def test_graph_grouping_follows_a_ring_that_average_linkage_splits():
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    ring = np.c_[np.cos(t), np.sin(t)]
    emb = ring * 3.0  # embedding drifts along the ring: far ends look apart
    noise = np.zeros(200)
    assert len(set(cluster_embeddings(emb, noise))) > 1
    assert set(cluster_embeddings(emb, noise, xy=ring)) == {0}
    blobs = np.r_[ring * 0.1, ring * 0.1 + 2]
    apart = np.r_[np.zeros((200, 2)), np.full((200, 2), 4.0)]
    labels = cluster_embeddings(apart, np.zeros(400), xy=blobs)
    assert len(set(labels[:200])) == 1 and labels[0] != labels[200]


def test_graph_components_are_cut_where_average_linkage_parts_whole_groups():
    gx, gy = np.meshgrid(np.linspace(0, 2, 41), np.linspace(0, 1, 21))
    xy = np.c_[gx.ravel(), gy.ravel()]
    # two touching blocks whose embeddings ramp from 0 to 3 across x = 0.7..1.3: every local link
    # is confident (p = 0.94), yet the blocks as wholes are far apart in the embedding
    emb = np.c_[3 * np.clip((xy[:, 0] - 0.7) / 0.6, 0, 1), np.zeros(len(xy))]
    chained = cluster_embeddings(emb, np.zeros(len(xy)), merge_threshold=0.9, xy=xy)
    cut = cluster_embeddings(emb, np.zeros(len(xy)), merge_threshold=0.9, xy=xy, split_threshold=0.3)
    assert set(chained) == {0}
    left, right = cut[xy[:, 0] < 0.5], cut[xy[:, 0] > 1.5]
    assert len(set(left)) == 1 and len(set(right)) == 1 and left[0] != right[0]


def test_graph_grouping_averages_co_membership_over_views():
    xy = np.r_[np.c_[np.linspace(0, 1, 40), np.zeros(40)], np.c_[np.linspace(1.05, 2, 40), np.zeros(40)]]
    joined, split = np.zeros((80, 2)), np.r_[np.zeros((40, 2)), np.full((40, 2), 5.0)]
    views = np.stack([joined, split])  # one view joins the halves, the other splits them: p = 0.5
    assert len(set(cluster_embeddings(views, np.zeros(80), merge_threshold=0.4, xy=xy))) == 1
    assert len(set(cluster_embeddings(views, np.zeros(80), merge_threshold=0.6, xy=xy))) == 2
    # a view where both ends of an edge stand for one sampled point has no say on it
    silent_join = np.stack([np.zeros(80, int), np.arange(80)])
    assert len(set(cluster_embeddings(views, np.zeros(80), merge_threshold=0.4, xy=xy, owner=silent_join))) == 2
    silent_split = np.stack([np.arange(80), np.zeros(80, int)])
    assert len(set(cluster_embeddings(views, np.zeros(80), merge_threshold=0.6, xy=xy, owner=silent_split))) == 1


def test_views_are_seeded_samples_in_every_orientation():
    model = ClusterNetModel(TINY).eval()
    norm = display_normalize(blobs(3000, k=3, seed=2).xy)
    views = run_views(model, norm, n_views=3, seed=5)
    first = run_views(model, norm, n_views=1, seed=5)[0]
    np.testing.assert_array_equal(views[0].idx, first.idx)
    np.testing.assert_allclose(views[0].emb, first.emb, atol=1e-5)
    assert len({tuple(v.idx[:20]) for v in views}) == 3 and all(len(v.idx) == TINY["sample_size"] for v in views)
    again = run_views(model, norm, n_views=3, seed=5)
    assert all(np.array_equal(a.emb, b.emb) for a, b in zip(views, again))
    assert len(SYMMETRIES) == 8 and len({m.tobytes() for m in SYMMETRIES}) == 8
    np.testing.assert_array_equal(SYMMETRIES[0], np.eye(2))


def test_plot_size_input_tells_a_sample_of_a_dense_plot_from_a_sparse_plot():
    dense, sparse = (display_normalize(blobs(n, k=3, seed=2).xy) for n in (8000, 256))
    feats = [prepare(xy, 256, seed=0)[2] for xy in (dense, sparse)]
    assert all(f.shape == (256, 2) and np.ptp(f[:, 1]) == 0 for f in feats)
    assert feats[0][0, 1] == pytest.approx(np.log(8000 / 256)) and feats[1][0, 1] == 0
    assert prepare(display_normalize(blobs(50, seed=1).xy), 256)[2][0, 1] == pytest.approx(np.log(PLOT_SIZES[0] / 256))


def test_training_mix_spans_plot_sizes_and_leaves_the_evaluation_split_alone():
    from data.generate import random_plot
    from perception.clusternet_train import EVALUATION, TRAIN, generated_plots, split_rng

    sizes = [len(p) for p in generated_plots(40, 0, TRAIN, size_share=1.0)]
    assert min(sizes) >= PLOT_SIZES[0] and max(sizes) <= PLOT_SIZES[1] and max(sizes) > 5000 and min(sizes) < 300
    # without the mix, plot i of a split is random_plot of its stream, as the held-out suite has always been
    held_out = [p.xy for p in generated_plots(5, 1, EVALUATION)]
    assert all(np.array_equal(a, random_plot(split_rng(1, EVALUATION, i)).xy) for i, a in enumerate(held_out))


# --- the shipped model -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def net():
    return ClusterNet.pretrained()


@needs_weights
def test_shipped_weights_load_safely():

    blob = torch.load(WEIGHTS, weights_only=True)
    model = ClusterNetModel(blob["config"])
    model.load_state_dict(blob["state_dict"])
    assert WEIGHTS.stat().st_size < 10e6 and 3e5 < sum(p.numel() for p in model.parameters()) < 2e6


@needs_weights
def test_reproducible_on_a_fixed_plot(net):
    plot = blobs(1500, k=4, separation=5, noise=0.05, seed=3)
    first = net.fit_predict(plot)  # a Scatterplot works as well as an array
    second = ClusterNet.pretrained().fit_predict(plot.xy)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(net.predict_agreement(plot), net.agreement_)
    assert 0 <= net.agreement_.min() and net.agreement_.max() <= 1 and net.n_clusters_ == first.max() + 1
    keep = plot.labels >= 0
    assert ami(plot.labels[keep], first[keep]) > 0.8


@needs_weights
def test_separated_blobs_are_separate_clusters(net):
    plot = blobs(800, k=3, separation=10, seed=1)
    assert ami(plot.labels, net.fit_predict(plot.xy)) > 0.9


@needs_weights
@pytest.mark.parametrize("k", [2, 20, 60])
def test_well_separated_blobs_come_out_as_k_clusters(net, k):
    plot = blobs(150 * k, k=k, separation=9, seed=k)
    labels = net.fit_predict(plot.xy)
    assert net.n_clusters_ == k and ami(plot.labels, labels) > 0.9


@needs_weights
def test_single_gaussian_is_one_cluster(net):
    xy = np.random.default_rng(0).normal(size=(800, 2))
    labels = net.fit_predict(xy)
    assert net.n_clusters_ == 1 and (labels == 0).mean() > 0.8


@needs_weights
def test_graph_grouping_follows_concentric_rings_that_average_linkage_splits():
    plot = shapes("rings", 1500, noise=0.02, seed=1)
    # without the average-linkage cut: the calibrated grouping copies the observers, who split thin rings
    graph = ClusterNet.pretrained(grouping="graph", merge_threshold=0.95, split_threshold=0).fit_predict(plot.xy)
    average = ClusterNet.pretrained(grouping="average", merge_threshold=0.95).fit_predict(plot.xy)
    assert ami(plot.labels, graph) > 0.9 > ami(plot.labels, average)


@needs_weights
def test_registry_names_the_groupings():
    from models import METHODS, PERCEPTUAL, make_clusterer

    assert make_clusterer("clusternet-average").grouping == "average" and make_clusterer("clusternet").grouping is None
    assert set(PERCEPTUAL) == {"clusternet", "clusternet-average"}
    assert all(METHODS[name].display_name.startswith("ClusterNet") for name in PERCEPTUAL)


@needs_weights
def test_cli_clusters_with_clusternet_and_rejects_bad_parameters(tmp_path, capsys):
    from app.cli import main

    out = tmp_path / "labels.csv"
    assert main(["cluster", "moons", "--method", "clusternet", "-o", str(out)]) == 0
    assert "clusternet: 2 clusters" in capsys.readouterr().out and out.exists()
    assert main(["cluster", "moons", "--method", "clusternet", "--param", "grouping=rings"]) == 2
    assert "grouping must be one of 'average', 'graph'" in capsys.readouterr().err
    assert main(["cluster", "moons", "--method", "clusternet", "--param", "k=3"]) == 2
    assert "ClusterNet has no parameter(s) ['k']" in capsys.readouterr().err
    assert main(["cluster", "moons", "--method", "clusternet", "--param", "n_views=0"]) == 2
    assert "ClusterNet parameter n_views must be an integer from 1 to 64" in capsys.readouterr().err
    for bad in ("x", "1.5", "[0.5]"):
        assert main(["cluster", "moons", "--method", "clusternet", "--param", f"split_threshold={bad}"]) == 2
        assert "split_threshold must be a number from 0 to 1" in capsys.readouterr().err


@needs_weights
def test_invariant_to_order_translation_and_scale(net):
    plot = two_gaussians(600, distance=5, seed=2)  # below the sample size: every point is seen
    base = net.fit_predict(plot.xy)
    perm = np.random.default_rng(0).permutation(len(plot))
    assert ami(base[perm], net.fit_predict(plot.xy[perm])) == 1.0
    assert ami(base, net.fit_predict(plot.xy * 1000.0 + 5e4)) == 1.0


@needs_weights
def test_large_plot_is_subsampled_and_propagated(net):
    plot = blobs(20000, k=3, separation=8, seed=4)
    labels = net.fit_predict(plot.xy)
    # the grouped points are the union of the views' samples of 1024
    assert 1024 <= net.subsample_size_ <= 1024 * net._model().config["n_views"] and len(labels) == 20000
    assert ami(plot.labels, labels) > 0.9


@needs_weights
def test_200k_point_plot_runs_in_seconds(net):
    import time

    plot = blobs(200_000, k=6, separation=6, seed=5)
    start = time.perf_counter()
    labels = net.fit_predict(plot.xy)
    assert time.perf_counter() - start < 60 and net.n_clusters_ == 6 and ami(plot.labels, labels) > 0.9


@needs_weights
@pytest.mark.parametrize("xy", [np.zeros((50, 2)), np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]]),
                                np.random.default_rng(1).normal(size=(30, 2)) * 1e-9 + 7])
def test_degenerate_plots(net, xy):
    labels = net.fit_predict(Scatterplot(xy))
    assert labels.shape == (len(xy),) and np.isfinite(net.agreement_).all()
    assert net.n_clusters_ <= 1 or len(xy) > 3


def test_unavailable_weights_are_reported(tmp_path):
    missing = tmp_path / "none.pt"
    assert not ClusterNet.available(missing)
    with pytest.raises(FileNotFoundError):
        ClusterNet.pretrained(missing)


def test_weights_of_another_network_layout_are_reported(tmp_path):
    from perception.clusternet_train import export

    blob = ClusterNetModel(TINY).state_dict()
    blob["sa1.mlps.0.net.0.weight"] = blob["sa1.mlps.0.net.0.weight"][:, :3]  # one input feature, as before
    path = tmp_path / "old.pt"
    torch.save({"state_dict": blob, "config": {**ClusterNetModel(TINY).config}, "meta": {}}, path)
    with pytest.raises(InvalidScatterplot, match="another ClusterNet version"):
        ClusterNet.pretrained(path)
    export(ClusterNetModel(TINY), path, {})
    assert ClusterNet.pretrained(path).fit_predict(blobs(300, k=2, seed=0).xy).shape == (300,)


def test_cli_registers_the_commands():
    from app.cli import build_parser, main

    args = build_parser().parse_args(["train", "clusternet", "--epochs", "2", "--plots", "10", "--resume"])
    assert (args.epochs, args.plots, args.resume, args.out) == (2, 10, True, "runs/clusternet")
    assert build_parser().parse_args(["evaluate", "clusternet", "--plots", "5"]).plots == 5
    args = build_parser().parse_args(["evaluate", "crossval", "--annotations", "plots"])
    assert (args.folds, args.epochs, args.baselines) == (5, 20, ["spectral", "hdbscan"])
    assert main(["evaluate", "crossval", "--annotations", "plots", "--baselines", "kmeanz"]) == 2


@needs_weights
def test_evaluate_command_scores_given_weights_per_group_and_on_wut(tmp_path, wut_dir):
    from app.cli import main

    assert main(["evaluate", "clusternet", "--plots", "1", "--max-points", "1500", "--groups", "blobs-k5", "single",
                 "--methods", "clusternet", "--weights", str(WEIGHTS), "--wut", str(wut_dir),
                 "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "clusternet_eval.csv").set_index("group")
    assert list(table.index) == ["blobs-k5", "single", "wut"] and (table["method"] == "clusternet").all()
    assert table.loc["blobs-k5", "k_true"] == 5 and table.loc["blobs-k5", "ami_components"] > 0.9
    assert 0 < table.loc["wut", "ami_human"] <= 1 and "not blind" in table.loc["wut", "wut_choice"]
    assert len(pd.read_csv(tmp_path / "devbench_plots.csv")) == 2
    assert main(["evaluate", "clusternet", "--methods", "clusternet-graph", "--out", str(tmp_path)]) == 2


def test_observers_reference_row_and_its_leave_one_out_twin(wut_dir):
    from perception.clusternet_eval import OBSERVER_SEED, ObserverMajority, loo_observers, wut_scores
    from perception.observers import DEFAULT_DISTRIBUTION, benchmark_agreement

    expected = benchmark_agreement(wut_dir, seed=OBSERVER_SEED).set_index("name")["ami"]
    scores = wut_scores(ObserverMajority, wut_dir)
    assert scores == pytest.approx(expected.to_dict())
    # with one setting to choose from, leaving a set out cannot change the choice
    one = {"bandwidth_median": (DEFAULT_DISTRIBUTION.bandwidth_median,),
           "threshold_median": (DEFAULT_DISTRIBUTION.threshold_median,),
           "min_share_median": (DEFAULT_DISTRIBUTION.min_share_median,)}
    assert loo_observers(wut_dir, one) == pytest.approx(scores)


def test_annotations_from_a_store_url_skip_checks_and_flagged(tmp_path):
    """A study's store is training data: real plots only, annotators flagged by checks left out."""
    from data.generate import blobs
    from data.store import AnnotationStore
    from models import make_clusterer

    url = f"sqlite:///{tmp_path / 'study.sqlite3'}"
    plot = blobs(60, k=2, separation=10, seed=1)
    with AnnotationStore(url) as store:
        study = store.create_study("s", [plot], attention_rate=0.3, seed=0)
        for careful in (True, False):
            who = store.annotator_for_token(study.id, store.add_annotator(study.id))
            while (task := store.next_plot(study.id, who.id)) is not None:
                if not careful:
                    labels = np.zeros(len(task.xy), dtype=int)  # one cluster, also on the check
                elif task.kind == "check":
                    labels = make_clusterer("hdbscan").fit_predict(task.xy)
                else:
                    labels = plot.labels
                store.submit(study.id, task.plot_id, who.id, labels, key=f"{who.id}-{task.plot_id}")
    (trained_on,) = load_annotations(url)
    assert trained_on.labels.shape == (1, 60)  # the careful annotator's labelling of the real plot
    assert len(np.unique(trained_on.labels)) == 2


def test_many_blob_share_replaces_plots_and_leaves_the_others_alone():
    from perception.clusternet_train import TRAIN, generated_plots

    plain = list(generated_plots(6, 0, TRAIN, scene_share=0.35))
    mixed = list(generated_plots(6, 0, TRAIN, scene_share=0.35, many_share=0.5))
    replaced = [m.meta["generator"] == "blobs" and m.meta["params"]["k"] >= 10 and not np.array_equal(m.xy, p.xy)
                for p, m in zip(plain, mixed)]
    assert any(replaced) and not all(replaced)
    for p, m, r in zip(plain, mixed, replaced):
        assert r or np.array_equal(p.xy, m.xy)
        assert len(m) <= PLOT_SIZES[1]
