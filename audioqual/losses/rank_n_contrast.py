"""Rank-N-Contrast (Zha et al., NeurIPS 2023) and DeePAQ's multi-label variant.

RnC ranks the samples of a batch by label distance to an anchor: for anchor i
and "positive" j, the contrast set holds every k != i whose label is at least
as far from y_i as y_j is (j itself included). With similarity
s_ij = -||f_i - f_j||_2 / temperature,

    l_ij = -log( exp(s_ij) / sum_{k in S_ij} exp(s_ik) ),

and the loss is the mean of l_ij over the ordered pairs (i, j), i != j.

DeePAQ (seed 003, eqs. 1-2) adds, for every coded anchor, a term with the
coding bitrate as label whose pairs and contrast sets hold only clips of the
anchor's codec and clean clips (bitrate = +inf):

    L = ( sum_i L^ViSQOL(x_i) + sum_{i coded} L^{codec(i)}(x_i) ) / N,

each per-anchor term being the mean of l_ij over its admissible positives j.
See docs/deepaq.md for the interpretation of the paper's typos.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

CLEAN_CODEC = -1
"""Codec id of clean clips (their bitrate is +inf)."""
NO_CODEC = -2
"""Codec id of clips without a bitrate ladder (e.g. added noise): ViSQOL term only."""


def pairwise_distances(embeddings: Tensor) -> Tensor:
    """Euclidean distance matrix [N, N] whose gradient is 0 (not NaN) at zero distance."""
    diff = embeddings[:, None, :] - embeddings[None, :, :]
    squared = diff.pow(2).sum(-1)
    positive = squared > 0
    return torch.where(positive, torch.where(positive, squared, torch.ones_like(squared)).sqrt(), 0.0)


def label_distances(labels: Tensor, anchors: Tensor | None = None) -> Tensor:
    """|y_i - y_k| as [N, N]; rows of non-anchors are 0, so inf - inf never makes NaN.

    Labels may be +inf (clean clips' bitrate); an anchor row must be finite.
    """
    labels = labels.detach().to(torch.float64)
    finite_anchor = torch.isfinite(labels) if anchors is None else anchors & torch.isfinite(labels)
    anchor_labels = torch.where(finite_anchor, labels, torch.zeros_like(labels))
    diff = (anchor_labels[:, None] - labels[None, :]).abs()
    return torch.where(finite_anchor[:, None], diff, torch.zeros_like(diff))


def rnc_anchor_losses(logits: Tensor, label_dist: Tensor, members: Tensor) -> tuple[Tensor, Tensor]:
    """Per-anchor RnC losses: mean over admissible positives j of l_ij.

    logits [N, N]: s_ik. label_dist [N, N]: |y_i - y_k|. members [N, N] bool:
    k may be a positive or a contrast sample for anchor i (diagonal must be False).
    Returns (loss [N], has_pairs [N] bool); anchors without any member get 0.
    """
    # contrast[i, j, k]: k is in S_ij, i.e. admissible and at least as far in label as j.
    contrast = members[:, None, :] & (label_dist[:, None, :] >= label_dist[:, :, None])
    # Pairs that are not admissible get a full (finite) set; their loss is discarded below,
    # and no all -inf row can put NaN into the gradient.
    contrast = contrast | ~members[:, :, None]
    masked = logits[:, None, :].expand_as(contrast).masked_fill(~contrast, float("-inf"))
    log_denominator = torch.logsumexp(masked, dim=-1)  # [N, N]; finite wherever members[i, j]
    pair_loss = torch.where(members, log_denominator - logits, torch.zeros_like(logits))
    counts = members.sum(-1)
    per_anchor = pair_loss.sum(-1) / counts.clamp(min=1).to(logits.dtype)
    return per_anchor, counts > 0


def rank_n_contrast(embeddings: Tensor, labels: Tensor, temperature: float = 2.0) -> Tensor:
    """Plain RnC loss of a batch: mean over ordered pairs (i != j) of l_ij.

    embeddings [N, D], labels [N] (finite). Needs N >= 2.
    """
    n = embeddings.shape[0]
    if n < 2:
        raise ValueError(f"Rank-N-Contrast needs at least 2 samples, got {n}")
    logits = -pairwise_distances(embeddings) / temperature
    members = ~torch.eye(n, dtype=torch.bool, device=embeddings.device)
    per_anchor, _ = rnc_anchor_losses(logits, label_distances(labels).to(logits.device), members)
    return per_anchor.mean()


def deepaq_rnc_loss(
    embeddings: Tensor,
    mos: Tensor,
    bitrate: Tensor,
    codec: Tensor,
    temperature: float = 2.0,
    bitrate_weight: float = 1.0,
) -> Tensor:
    """DeePAQ's loss (seed eq. 2): ViSQOL RnC over all clips + per-codec bitrate RnC.

    mos [N]: ViSQOL label of every clip. bitrate [N]: coding bitrate, +inf for
    clean clips (NaN/any value for NO_CODEC clips). codec [N] long: codec id >= 0
    for coded clips, CLEAN_CODEC for clean, NO_CODEC for clips outside any ladder.
    bitrate_weight scales the bitrate term (1 = the paper; 0 = ViSQOL only).
    """
    n = embeddings.shape[0]
    if n < 2:
        raise ValueError(f"Rank-N-Contrast needs at least 2 samples, got {n}")
    device = embeddings.device
    mos, bitrate, codec = mos.to(device), bitrate.to(device), codec.to(device)
    logits = -pairwise_distances(embeddings) / temperature
    not_self = ~torch.eye(n, dtype=torch.bool, device=device)

    visqol, _ = rnc_anchor_losses(logits, label_distances(mos), not_self)
    total = visqol.sum()
    if bitrate_weight:
        coded = codec >= 0
        clean = codec == CLEAN_CODEC
        same_codec = codec[:, None] == codec[None, :]
        members = coded[:, None] & (same_codec | clean[None, :]) & not_self
        bitrate_dist = label_distances(torch.where(clean, torch.inf, bitrate), anchors=coded)
        per_codec, _ = rnc_anchor_losses(logits, bitrate_dist, members)
        total = total + bitrate_weight * per_codec[coded].sum()
    return total / n


class RankNContrastLoss(nn.Module):
    """nn.Module form of `deepaq_rnc_loss` (plain RnC when bitrate/codec are omitted)."""

    def __init__(self, temperature: float = 2.0, bitrate_weight: float = 1.0):
        super().__init__()
        self.temperature = temperature
        self.bitrate_weight = bitrate_weight

    def forward(
        self, embeddings: Tensor, mos: Tensor, bitrate: Tensor | None = None, codec: Tensor | None = None
    ) -> Tensor:
        if bitrate is None or codec is None:
            return rank_n_contrast(embeddings, mos, self.temperature)
        return deepaq_rnc_loss(embeddings, mos, bitrate, codec, self.temperature, self.bitrate_weight)
