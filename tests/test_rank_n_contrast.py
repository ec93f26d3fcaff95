"""Rank-N-Contrast: the vectorised losses against a brute-force triple loop."""

from __future__ import annotations

import math

import pytest
import torch

from audioqual.losses.rank_n_contrast import (
    CLEAN_CODEC,
    NO_CODEC,
    RankNContrastLoss,
    deepaq_rnc_loss,
    pairwise_distances,
    rank_n_contrast,
)


def _distance(a: list[float], b: list[float]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def _label_gap(a: float, b: float) -> float:
    """|a - b| where a is a finite anchor label and b may be +inf."""
    return math.inf if math.isinf(b) else abs(a - b)


def _anchor_loss(f, labels, i, admissible, temperature):
    """-1/|P| sum_j log(exp(s_ij) / sum_{k in S_ij} exp(s_ik)), written out with loops."""
    positives = [j for j in admissible if j != i]
    if not positives:
        return 0.0
    total = 0.0
    for j in positives:
        s_ij = -_distance(f[i], f[j]) / temperature
        gap_j = _label_gap(labels[i], labels[j])
        denominator = 0.0
        for k in admissible:
            if k != i and _label_gap(labels[i], labels[k]) >= gap_j:
                denominator += math.exp(-_distance(f[i], f[k]) / temperature)
        total += -math.log(math.exp(s_ij) / denominator)
    return total / len(positives)


def brute_force_rnc(f, labels, temperature=2.0):
    n = len(f)
    return sum(_anchor_loss(f, labels, i, range(n), temperature) for i in range(n)) / n


def brute_force_deepaq(f, mos, bitrate, codec, temperature=2.0, bitrate_weight=1.0):
    """Seed 003 eq. (2): ViSQOL term for every anchor + bitrate term for coded anchors."""
    n = len(f)
    total = 0.0
    for i in range(n):
        total += _anchor_loss(f, mos, i, range(n), temperature)
        if codec[i] >= 0:
            admissible = [k for k in range(n) if codec[k] == codec[i] or codec[k] == CLEAN_CODEC]
            rates = [math.inf if codec[k] == CLEAN_CODEC else bitrate[k] for k in range(n)]
            total += bitrate_weight * _anchor_loss(f, rates, i, admissible, temperature)
    return total / n


def _batch(seed: int, n: int = 12, dim: int = 5, codecs: tuple[int, ...] = (0, 1, 2), clean: int = 3):
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(n, dim, generator=g, dtype=torch.float64)
    mos = torch.randint(1, 6, (n,), generator=g).double()  # few distinct values: many ties
    rates = torch.tensor([16.0, 32.0, 64.0, 128.0], dtype=torch.float64)
    bitrate = rates[torch.randint(0, len(rates), (n,), generator=g)]
    codec = torch.tensor(codecs, dtype=torch.long)[torch.randint(0, len(codecs), (n,), generator=g)]
    codec[:clean] = CLEAN_CODEC
    bitrate[:clean] = math.inf
    return f, mos, bitrate, codec


@pytest.mark.parametrize("seed", range(5))
def test_plain_rnc_matches_brute_force_with_ties(seed):
    f, mos, _, _ = _batch(seed)
    assert len(set(mos.tolist())) < len(mos)  # ties present
    expected = brute_force_rnc(f.tolist(), mos.tolist(), temperature=2.0)
    assert rank_n_contrast(f, mos, temperature=2.0).item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_plain_rnc_continuous_labels(temperature):
    g = torch.Generator().manual_seed(7)
    f = torch.randn(9, 3, generator=g, dtype=torch.float64)
    y = torch.rand(9, generator=g, dtype=torch.float64) * 4 + 1
    expected = brute_force_rnc(f.tolist(), y.tolist(), temperature)
    assert rank_n_contrast(f, y, temperature).item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("seed", range(6))
def test_deepaq_loss_matches_brute_force_with_clean_clips(seed):
    f, mos, bitrate, codec = _batch(seed, n=14)
    expected = brute_force_deepaq(f.tolist(), mos.tolist(), bitrate.tolist(), codec.tolist())
    got = deepaq_rnc_loss(f, mos, bitrate, codec, temperature=2.0)
    assert torch.isfinite(got)
    assert got.item() == pytest.approx(expected, rel=1e-10)


def test_deepaq_loss_single_codec_batch():
    f, mos, bitrate, codec = _batch(11, n=10, codecs=(1,), clean=2)
    expected = brute_force_deepaq(f.tolist(), mos.tolist(), bitrate.tolist(), codec.tolist())
    assert deepaq_rnc_loss(f, mos, bitrate, codec).item() == pytest.approx(expected, rel=1e-10)


def test_deepaq_loss_single_codec_without_clean_and_lone_anchor():
    """One codec, no clean clip; a codec with a single clip has no bitrate pairs (term 0)."""
    f, mos, bitrate, codec = _batch(12, n=8, codecs=(0,), clean=0)
    codec[0] = 2  # alone in its codec
    expected = brute_force_deepaq(f.tolist(), mos.tolist(), bitrate.tolist(), codec.tolist())
    assert deepaq_rnc_loss(f, mos, bitrate, codec).item() == pytest.approx(expected, rel=1e-10)


def test_deepaq_loss_all_clean_is_visqol_only():
    f, mos, _, _ = _batch(13, n=6)
    codec = torch.full((6,), CLEAN_CODEC)
    bitrate = torch.full((6,), math.inf, dtype=torch.float64)
    got = deepaq_rnc_loss(f, mos, bitrate, codec)
    assert torch.isfinite(got)
    assert got.item() == pytest.approx(rank_n_contrast(f, mos).item(), rel=1e-12)


def test_no_codec_clips_enter_visqol_term_only():
    f, mos, bitrate, codec = _batch(14, n=10)
    codec[-2:] = NO_CODEC
    bitrate[-2:] = math.nan
    got = deepaq_rnc_loss(f, mos, bitrate, codec)
    expected = brute_force_deepaq(f.tolist(), mos.tolist(), bitrate.tolist(), codec.tolist())
    assert got.item() == pytest.approx(expected, rel=1e-10)


def test_bitrate_weight_zero_and_module_form():
    f, mos, bitrate, codec = _batch(15)
    assert deepaq_rnc_loss(f, mos, bitrate, codec, bitrate_weight=0.0).item() == pytest.approx(
        rank_n_contrast(f, mos).item(), rel=1e-12
    )
    module = RankNContrastLoss(temperature=2.0, bitrate_weight=0.5)
    expected = brute_force_deepaq(f.tolist(), mos.tolist(), bitrate.tolist(), codec.tolist(), bitrate_weight=0.5)
    assert module(f, mos, bitrate, codec).item() == pytest.approx(expected, rel=1e-10)
    assert module(f, mos).item() == pytest.approx(rank_n_contrast(f, mos).item(), rel=1e-12)


def test_gradcheck_and_finite_gradients_with_duplicates():
    f, mos, bitrate, codec = _batch(16, n=7, dim=3)
    f = f.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: deepaq_rnc_loss(x, mos, bitrate, codec), (f,))
    dup = torch.cat([f.detach()[:4], f.detach()[:1]]).requires_grad_(True)  # two identical embeddings
    loss = deepaq_rnc_loss(dup, mos[:5], bitrate[:5], codec[:5])
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(dup.grad).all()


def test_loss_is_lower_when_embedding_distance_follows_labels():
    """Sanity: embeddings placed on a line by label beat the same embeddings shuffled."""
    y = torch.linspace(1, 5, 16, dtype=torch.float64)
    ordered = torch.stack([y * 3, torch.zeros_like(y)], dim=1)
    shuffled = ordered[torch.randperm(16, generator=torch.Generator().manual_seed(0))]
    assert rank_n_contrast(ordered, y) < rank_n_contrast(shuffled, y)


def test_pairwise_distances_match_cdist():
    f = torch.randn(6, 4, dtype=torch.float64)
    assert torch.allclose(pairwise_distances(f), torch.cdist(f, f), atol=1e-12)
    assert (pairwise_distances(f).diagonal() == 0).all()


def test_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2"):
        rank_n_contrast(torch.zeros(1, 3), torch.zeros(1))
