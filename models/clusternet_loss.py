"""ClusterNet's training loss (training only; inference never imports this module).

Cluster ids are arbitrary and observers disagree, so the embedding is trained on *pairwise
co-membership averaged over all observers*: for anchor point i and point j, the target is the
share of observers who put i and j in the same cluster among those who labelled both, the
prediction is exp(-|e_i - e_j|^2), the loss a binary cross-entropy weighted by the share of
observers who labelled both. This is invariant to cluster ids, uses every observer (a soft
target where they disagree), and gives inference a calibrated merge rule. The pairs are each
anchor with every point (global) plus its 16 nearest points (local), where boundaries are.
(A discriminative pull/push loss needs one hard labeling per plot; with many disagreeing
observers it would have to be averaged over observers and has two margins to tune.)

Noise head target: share of observers leaving the point unlabelled. Agreement head target: the
per-point agreement of ``perception.agreement.consensus`` (computed by the training code in
``perception.clusternet_train``).
"""
from __future__ import annotations

import torch
from torch import nn


def clusternet_loss(emb, noise_logit, agree_logit, labels, agreement, n_anchors: int = 256,
                    generator: torch.Generator | None = None, xy: torch.Tensor | None = None,
                    n_local: int = 16) -> dict:
    """Loss terms for a batch. ``labels`` (B, m, N): observer labelings, -1 = unlabelled by that
    observer, -2 = padding (observer absent for that plot); ``agreement`` (B, N) targets.
    With ``xy`` (B, N, 2), a second affinity term covers each anchor's ``n_local`` nearest
    points: graph grouping joins and cuts along those edges, and among random pairs they are
    too rare to learn sharp boundaries from."""
    b, m, n = labels.shape
    anchors = torch.randperm(n, generator=generator)[: min(n_anchors, n)]
    seen = (labels >= -1).sum(dim=1).clamp(min=1).float()  # (B, N)
    # co-membership counts as matrix products of one-hot codes (observer, cluster) per point
    k = int(labels.max().clamp(min=0)) + 1
    onehot = nn.functional.one_hot((labels + 1).clamp(min=0), k + 1)[..., 1:].float()  # (B, m, N, k)
    onehot = onehot.permute(0, 2, 1, 3).reshape(b, n, m * k)
    inside = (labels >= 0).float()  # (B, m, N)
    same = onehot[:, anchors] @ onehot.transpose(1, 2)  # (B, A, N)
    both = inside[:, :, anchors].transpose(1, 2) @ inside
    target = same / both.clamp(min=1)
    weight = both / seen[:, anchors].unsqueeze(-1)
    d2 = ((emb[:, anchors].unsqueeze(2) - emb.unsqueeze(1)) ** 2).sum(-1)  # (B, A, N)
    log_p = -d2
    log_not_p = torch.log(-torch.expm1(-d2.clamp(min=1e-6)))
    bce = -(target * log_p + (1 - target) * log_not_p)
    affinity = (weight * bce).sum() / weight.sum().clamp(min=1e-6)
    local = torch.zeros(())
    if xy is not None:
        near = ((xy[:, anchors].unsqueeze(2) - xy.unsqueeze(1)) ** 2).sum(-1)
        nb = near.topk(min(n_local + 1, n), dim=-1, largest=False).indices[..., 1:]
        w_nb = weight.gather(-1, nb)
        local = (w_nb * bce.gather(-1, nb)).sum() / w_nb.sum().clamp(min=1e-6)
    noise_target = (labels == -1).sum(dim=1).float() / seen
    noise = nn.functional.binary_cross_entropy_with_logits(noise_logit, noise_target)
    agree = nn.functional.binary_cross_entropy_with_logits(agree_logit, agreement.float())
    total = affinity + local + 0.5 * noise + 0.5 * agree
    return {"loss": total, "affinity": affinity, "local": local, "noise": noise, "agreement": agree}
