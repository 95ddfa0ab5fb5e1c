"""The development benchmark: seeded groups, cached crowd references and per-group scores."""
import numpy as np
import pytest

from perception import devbench


class Truthful:
    """A clusterer that returns the generator's components: scores 1 where they are the truth."""

    def __init__(self, plots):
        self.plots = {p.xy.tobytes(): p.labels for _, p, _ in plots}

    def fit(self, xy):
        self.labels_ = self.plots[np.asarray(xy).tobytes()]
        return self


def test_plots_are_seeded_capped_and_carry_truth_where_unambiguous():
    first = list(devbench.plots(seed=3, per_group=2, max_points=2000))
    again = list(devbench.plots(seed=3, per_group=2, max_points=2000))
    assert [g for g, _, _ in first] == [g for g in devbench.GROUPS for _ in range(2)]
    for (g, p, t), (_, q, u) in zip(first, again):
        np.testing.assert_array_equal(p.xy, q.xy)
        assert p.name.startswith(g) and len(p) <= (3000 if g == "blobs-k100" else 2000)
        assert (t is not None) == (g.startswith("blobs-") or g == "single") or g.endswith("imbalance")
    k100 = [p for g, p, _ in first if g == "blobs-k100"][0]
    assert len(np.unique(k100.labels)) == 100
    other = list(devbench.plots(seed=4, per_group=1, groups=["moons"]))[0][1]
    assert not np.array_equal(other.xy, [p for g, p, _ in first if g == "moons"][0].xy)
    with pytest.raises(ValueError, match="unknown devbench group"):
        list(devbench.plots(groups=["blobz"]))


def test_references_are_cached_on_disk(tmp_path):
    _, plot, _ = next(devbench.plots(per_group=1, max_points=1500, groups=["blobs-k5"]))
    majority = devbench.references(plot, tmp_path, n_observers=5)
    files = list(tmp_path.glob("*.npy"))
    assert len(files) == 1 and devbench.n_clusters(majority) == 5
    np.save(files[0], np.zeros(len(plot), np.int64))  # a second call reads the file, not a new crowd
    assert devbench.n_clusters(devbench.references(plot, tmp_path, n_observers=5)) == 1


def test_score_and_summary_per_group(tmp_path):
    groups = ["blobs-k5", "moons", "uniform"]
    plots = list(devbench.plots(per_group=2, max_points=1500, groups=groups))
    df = devbench.score(lambda: Truthful(plots), per_group=2, max_points=1500, groups=groups, cache_dir=tmp_path,
                        n_observers=5)
    assert list(df.columns[:9]) == ["group", "plot", "n", "k_true", "k_majority", "majority_vs_components",
                                    "k_found", "ami_majority", "ami_components"]
    blobs = df[df.group == "blobs-k5"]
    assert (blobs.ami_components == 1).all() and (blobs.k_found == 5).all()
    assert df[df.group == "moons"].ami_components.isna().all()
    table = devbench.summary(df).set_index("group")
    assert list(table.index) == groups and (table.plots == 2).all()
    assert table.loc["blobs-k5", "k_within_10pct"] == 1 and table.loc["blobs-k5", "ami_majority"] > 0.9

    def broken():
        raise RuntimeError("no")
    failed = devbench.score(lambda: type("B", (), {"fit": lambda self, xy: broken()})(), per_group=1,
                            max_points=1500, groups=["single"], cache_dir=tmp_path, n_observers=5)
    assert failed.error[0] == "RuntimeError: no" and np.isnan(failed.ami_majority[0])


def test_one_cluster_reference_scores_the_share_in_the_largest_cluster():
    one = np.zeros(10, np.int64)
    assert devbench.ami_noise_excluded(one, one) == 1
    assert devbench.ami_noise_excluded(np.r_[np.zeros(9, np.int64), 1], one) == 0.9
    assert devbench.ami_noise_excluded(np.full(10, -1), one) == 0
    two = np.r_[np.zeros(5, np.int64), np.ones(5, np.int64)]
    assert devbench.ami_noise_excluded(two, two) == 1 and devbench.ami_noise_excluded(one, two) == 0
