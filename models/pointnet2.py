"""PointNet++ building blocks in plain PyTorch for 2-D point sets (Qi et al. 2017).

Batched, CPU-friendly and without CUDA extensions: distances are dense ``cdist`` matrices,
which is cheap at the point counts ClusterNet runs on (about 1,000 per plot).

Shapes follow one convention: coordinates ``(B, N, 2)``, features ``(B, N, C)`` (channels
last, so shared MLPs are plain ``Linear`` layers on a flattened view, no permute copies),
neighbour indices ``(B, M, K)``.

Every step is permutation equivariant (up to exact distance ties), so the network's
per-point output does not depend on the order of the input points:
- farthest point sampling starts at the point farthest from the centroid, not at index 0;
- ball query is done as "k nearest, then clamped to the radius": out-of-radius slots repeat
  the nearest neighbour instead of "the first k in index order" as in the reference code.
"""
from __future__ import annotations

import torch
from torch import nn


def gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Pick points along dim 1: x (B, N, C) with idx (B, ...) -> (B, ..., C)."""
    b = x.shape[0]
    flat = idx.reshape(b, -1)
    out = torch.gather(x, 1, flat.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    return out.reshape(*idx.shape, x.shape[-1])


def farthest_point_sample(xyz: torch.Tensor, m: int) -> torch.Tensor:
    """Indices (B, m) of m points that cover the set: each next point is the one farthest
    from those already chosen. With m > N the extra slots repeat chosen points."""
    b, n, _ = xyz.shape
    centroid = xyz.mean(dim=1, keepdim=True)
    current = ((xyz - centroid) ** 2).sum(-1).argmax(dim=1)
    dist = torch.full((b, n), float("inf"), dtype=xyz.dtype, device=xyz.device)
    out = torch.empty((b, m), dtype=torch.long, device=xyz.device)
    rows = torch.arange(b, device=xyz.device)
    for i in range(m):
        out[:, i] = current
        dist = torch.minimum(dist, ((xyz - xyz[rows, current].unsqueeze(1)) ** 2).sum(-1))
        current = dist.argmax(dim=1)
    return out


def knn(query: torch.Tensor, points: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """k nearest points (squared distances, indices), each (B, M, k), nearest first."""
    k = min(k, points.shape[1])
    d2 = torch.cdist(query, points, compute_mode="donot_use_mm_for_euclid_dist").pow(2)  # exact self-distance 0
    dist, idx = torch.topk(d2, k, dim=-1, largest=False, sorted=True)
    return dist, idx


def ball_query(query: torch.Tensor, points: torch.Tensor, radius: float, k: int) -> torch.Tensor:
    """Up to k neighbours within ``radius`` (B, M, k); slots beyond the radius repeat the
    nearest neighbour, which max pooling ignores."""
    dist, idx = knn(query, points, k)
    return torch.where(dist > radius**2, idx[..., :1].expand_as(idx), idx)


class SharedMLP(nn.Module):
    """The same MLP applied to every point (or grouped point): Linear, BatchNorm, ReLU on the
    last dimension of a tensor of any leading shape."""

    def __init__(self, channels: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [nn.Linear(cin, cout, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)


class SetAbstractionMSG(nn.Module):
    """Set abstraction with multi-scale grouping: FPS centroids, one neighbourhood per radius,
    a shared MLP on (offset / radius, features) and max pooling; scales are concatenated.

    ``npoint=None`` groups everything around the centroid (the global feature)."""

    def __init__(self, npoint: int | None, radii: list[float], nsamples: list[int], in_channels: int,
                 mlps: list[list[int]], knn_grouping: bool = False):
        super().__init__()
        self.npoint, self.radii, self.nsamples, self.knn_grouping = npoint, radii, nsamples, knn_grouping
        self.mlps = nn.ModuleList(SharedMLP([in_channels + 2] + list(m)) for m in mlps)
        self.out_channels = sum(m[-1] for m in mlps)

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None):
        b, n, _ = xyz.shape
        if self.npoint is None:
            new_xyz = xyz.mean(dim=1, keepdim=True)
            groups = [torch.arange(n, device=xyz.device).expand(b, 1, n)] * len(self.mlps)
            scales = [1.0] * len(self.mlps)
        else:
            new_xyz = gather(xyz, farthest_point_sample(xyz, self.npoint))
            groups, scales = [], []
            for r, k in zip(self.radii, self.nsamples):
                groups.append(knn(new_xyz, xyz, k)[1] if self.knn_grouping else ball_query(new_xyz, xyz, r, k))
                scales.append(r)
        outs = []
        for idx, r, mlp in zip(groups, scales, self.mlps):
            local = (gather(xyz, idx) - new_xyz.unsqueeze(2)) / r  # (B, M, K, 2)
            if features is not None:
                local = torch.cat([local, gather(features, idx)], dim=-1)
            outs.append(mlp(local).max(dim=2).values)  # (B, M, C)
        return new_xyz, torch.cat(outs, dim=-1)


class FeaturePropagation(nn.Module):
    """Upsample features from a sparse to a dense point set by inverse-distance weighting of
    the 3 nearest sparse points, concatenate the dense level's skip features, apply an MLP."""

    def __init__(self, in_channels: int, mlp: list[int]):
        super().__init__()
        self.mlp = SharedMLP([in_channels] + list(mlp))
        self.out_channels = mlp[-1]

    def forward(self, xyz_dense, xyz_sparse, feats_dense, feats_sparse):
        if xyz_sparse.shape[1] == 1:
            up = feats_sparse.expand(-1, xyz_dense.shape[1], -1)
        else:
            dist, idx = knn(xyz_dense, xyz_sparse, 3)
            w = 1.0 / (dist + 1e-8)
            w = w / w.sum(dim=-1, keepdim=True)
            up = (gather(feats_sparse, idx) * w.unsqueeze(-1)).sum(dim=2)
        if feats_dense is not None:
            up = torch.cat([up, feats_dense], dim=-1)
        return self.mlp(up)
