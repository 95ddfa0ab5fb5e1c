"""ClusterNet's network: a PointNet++ segmentation network for the clusters people perceive in a plot.

After Hartwig et al.'s ClusterNet, whose exact head and loss are not public. The input is one
plot as people see it (``data.display_normalize``), reduced to a fixed sample with two features
per point (``models.clusternet_features``). The output per point is an embedding
(``embed_dim``), a noise logit and an agreement logit. The embedding is spatial (Neven et al.
2019): the point's coordinates times a learned scale plus a predicted offset, so distant groups
start apart and the network learns to pull each perceived cluster together (and to join or
split groups where people would). Training: ``models.clusternet_loss``; from embeddings to
clusters: ``models.clusternet_grouping``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .pointnet2 import FeaturePropagation, SetAbstractionMSG, SharedMLP

DEFAULT_CONFIG = {"sample_size": 1024, "embed_dim": 8, "density_k": 8, "width": 1.0, "spatial_scale": 4.0,
                  "merge_threshold": 0.5, "noise_threshold": 0.5, "grouping": "average"}


class ClusterNetModel(nn.Module):
    """PointNet++ MSG encoder-decoder with three per-point heads (embedding, noise, agreement)."""

    def __init__(self, config: dict | None = None):
        super().__init__()
        self.config = {**DEFAULT_CONFIG, **(config or {})}
        w = float(self.config["width"])

        def c(x):
            return max(8, int(round(x * w)))

        self.sa1 = SetAbstractionMSG(256, [0.03, 0.08], [16, 32], 2, [[c(32), c(32), c(64)], [c(32), c(48), c(64)]])
        self.sa2 = SetAbstractionMSG(64, [0.12, 0.25], [16, 32], self.sa1.out_channels,
                                     [[c(128), c(128)], [c(128), c(128)]])
        self.sa3 = SetAbstractionMSG(16, [0.35, 0.7], [16, 16], self.sa2.out_channels, [[c(256)], [c(256)]])
        self.sa_global = SetAbstractionMSG(None, [], [], self.sa3.out_channels, [[c(256)]])
        self.fp3 = FeaturePropagation(self.sa_global.out_channels + self.sa3.out_channels, [c(256)])
        self.fp2 = FeaturePropagation(c(256) + self.sa2.out_channels, [c(256), c(128)])
        self.fp1 = FeaturePropagation(c(128) + self.sa1.out_channels, [c(128)])
        self.fp0 = FeaturePropagation(c(128) + 2 + 2, [c(128), c(128)])
        self.trunk = SharedMLP([c(128), c(64)])
        self.head = nn.Linear(c(64), int(self.config["embed_dim"]) + 2)
        # spatial embedding: e = s * (x, y, 0, ...) + learned offset, so far-apart groups start
        # apart and the network only learns to pull a cluster together (s is learned)
        self.log_spatial = nn.Parameter(torch.tensor(float(np.log(max(self.config["spatial_scale"], 1e-6)))),
                                        requires_grad=self.config["spatial_scale"] > 0)

    def forward(self, xyz: torch.Tensor, feats: torch.Tensor):
        """xyz (B, N, 2), feats (B, N, 2) -> embedding (B, N, D), noise and agreement logits (B, N)."""
        l1_xyz, l1 = self.sa1(xyz, feats)
        l2_xyz, l2 = self.sa2(l1_xyz, l1)
        l3_xyz, l3 = self.sa3(l2_xyz, l2)
        g_xyz, g = self.sa_global(l3_xyz, l3)
        h = self.fp3(l3_xyz, g_xyz, l3, g)
        h = self.fp2(l2_xyz, l3_xyz, l2, h)
        h = self.fp1(l1_xyz, l2_xyz, l1, h)
        h = self.fp0(xyz, l1_xyz, torch.cat([feats, xyz], dim=-1), h)
        out = self.head(self.trunk(h))
        d = int(self.config["embed_dim"])
        emb = out[..., :d]
        if self.config["spatial_scale"] > 0:
            emb = emb + nn.functional.pad(xyz, (0, d - 2)) * self.log_spatial.exp()
        return emb, out[..., d], out[..., d + 1]
