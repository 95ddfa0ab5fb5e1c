"""PointNet++ layers: shapes, coverage of farthest point sampling, grouping, permutation equivariance."""
import pytest
import torch

from models.pointnet2 import (FeaturePropagation, SetAbstractionMSG, ball_query, farthest_point_sample,
                              gather, knn)

torch.set_num_threads(1)


@pytest.fixture
def points():
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 200, 2, generator=g) - 0.5


def test_gather_picks_rows(points):
    idx = torch.tensor([[0, 5], [7, 7]])
    out = gather(points, idx)
    assert out.shape == (2, 2, 2)
    assert torch.equal(out[1, 1], points[1, 7]) and torch.equal(out[0, 1], points[0, 5])


def test_fps_covers_the_set(points):
    idx = farthest_point_sample(points, 32)
    assert idx.shape == (2, 32)
    assert all(len(set(row.tolist())) == 32 for row in idx)  # no repeats while points remain
    chosen = gather(points, idx)
    cover = torch.cdist(points, chosen).min(dim=-1).values.max()  # covering radius
    rand = gather(points, torch.randperm(200, generator=torch.Generator().manual_seed(1))[:32].expand(2, -1))
    assert cover < torch.cdist(points, rand).min(dim=-1).values.max()
    # each FPS step picks the point farthest from those already chosen
    for i in range(1, 32):
        d = torch.cdist(points[0], chosen[0, :i]).min(dim=-1).values
        assert torch.isclose(d[idx[0, i]], d.max())


def test_fps_is_permutation_equivariant(points):
    perm = torch.randperm(200, generator=torch.Generator().manual_seed(2))
    a = gather(points, farthest_point_sample(points, 16))
    b = gather(points[:, perm], farthest_point_sample(points[:, perm], 16))
    assert torch.equal(a, b)


def test_fps_with_more_samples_than_points():
    xyz = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    idx = farthest_point_sample(xyz, 5)
    assert set(idx[0].tolist()) == {0, 1, 2}


def test_knn_and_ball_query(points):
    q = points[:, :10]
    dist, idx = knn(q, points, 8)
    assert idx.shape == (2, 10, 8) and torch.all(idx[..., 0] == torch.arange(10))  # itself first
    assert torch.all(dist[..., 1:] >= dist[..., :-1])
    ball = ball_query(q, points, 0.05, 8)
    inside = (gather(points, ball) - q.unsqueeze(2)).norm(dim=-1) <= 0.05 + 1e-6
    assert inside.all()  # out-of-radius slots repeat the (in-radius) nearest point
    assert knn(q, points[:, :3], 8)[1].shape[-1] == 3  # k capped at the number of points


@pytest.mark.parametrize("npoint", [32, None])
def test_set_abstraction_shapes_and_equivariance(points, npoint):
    torch.manual_seed(0)
    sa = SetAbstractionMSG(npoint, [0.1, 0.2], [8, 16], 3, [[16, 32], [16, 24]]).eval()
    feats = torch.randn(2, 200, 3)
    new_xyz, out = sa(points, feats)
    m = npoint or 1
    assert new_xyz.shape == (2, m, 2) and out.shape == (2, m, 56) and sa.out_channels == 56
    perm = torch.randperm(200, generator=torch.Generator().manual_seed(3))
    new_xyz2, out2 = sa(points[:, perm], feats[:, perm])
    assert torch.allclose(new_xyz, new_xyz2, atol=1e-6) and torch.allclose(out, out2, atol=1e-5)


def test_feature_propagation_interpolates(points):
    fp = FeaturePropagation(4 + 3, [8]).eval()
    sparse = points[:, :20]
    sparse_feats = torch.randn(2, 20, 4)
    dense_feats = torch.randn(2, 200, 3)
    out = fp(points, sparse, dense_feats, sparse_feats)
    assert out.shape == (2, 200, 8)
    perm = torch.randperm(200, generator=torch.Generator().manual_seed(4))
    out2 = fp(points[:, perm], sparse, dense_feats[:, perm], sparse_feats)
    assert torch.allclose(out[:, perm], out2, atol=1e-5)
    # a dense point on top of a sparse one takes (almost exactly) that point's features
    fp_id = FeaturePropagation(4, [4])
    up = fp_id.mlp  # check the interpolation itself by bypassing the MLP
    fp_id.mlp = torch.nn.Identity()
    grid = torch.stack(torch.meshgrid(torch.linspace(-0.5, 0.5, 5), torch.linspace(-0.5, 0.5, 4), indexing="ij"),
                       dim=-1).reshape(1, 20, 2).expand(2, -1, -1)
    got = fp_id(grid, grid, None, sparse_feats)
    assert torch.allclose(got, sparse_feats, atol=1e-4)
    fp_id.mlp = up
