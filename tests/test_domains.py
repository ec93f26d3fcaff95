"""Gradient reversal, domain branch and domain strategies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from audioqual.domains.branch import BranchSpec, DomainAdversary, DomainClassifier
from audioqual.domains.grl import GradientReversal, reverse_gradient
from audioqual.domains.strategies import (
    DomainAssignment,
    DomainStrategyError,
    StrategySpec,
    assign_domains,
    kmeans_labels,
    nearest_centroid,
    random_labels,
)


@pytest.mark.parametrize("scale", [0.0, 0.1, 0.5, 1.0, 2.5])
def test_grl_forward_is_identity_and_backward_matches_autograd_of_minus_lambda_identity(scale):
    torch.manual_seed(0)
    x = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(5, 7, dtype=torch.float64)

    y = reverse_gradient(x, scale)
    assert torch.equal(y, x)
    (grad_grl,) = torch.autograd.grad((torch.sin(y) * weights).sum(), x)

    x2 = x.detach().clone().requires_grad_(True)
    # autograd through f(x) = -lambda * x, with the forward value of x kept (the GRL's identity)
    y2 = x2.detach() + (-scale * x2 - (-scale * x2).detach())
    (grad_ref,) = torch.autograd.grad((torch.sin(y2) * weights).sum(), x2)
    torch.testing.assert_close(grad_grl, grad_ref)
    torch.testing.assert_close(grad_grl, -scale * torch.cos(x.detach()) * weights)


def test_grl_reverses_encoder_gradient_but_not_classifier_gradient():
    torch.manual_seed(1)
    encoder, classifier = nn.Linear(6, 4), nn.Linear(4, 3)
    x, y = torch.randn(10, 6), torch.randint(0, 3, (10,))

    def grads(module_between):
        encoder.zero_grad()
        classifier.zero_grad()
        nn.functional.cross_entropy(classifier(module_between(encoder(x))), y).backward()
        return encoder.weight.grad.clone(), classifier.weight.grad.clone()

    enc_plain, cls_plain = grads(nn.Identity())
    enc_rev, cls_rev = grads(GradientReversal(0.3))
    torch.testing.assert_close(enc_rev, -0.3 * enc_plain)
    torch.testing.assert_close(cls_rev, cls_plain)
    with pytest.raises(ValueError):
        GradientReversal(-1.0)


def test_domain_classifier_layers_and_adversary_loss_is_weighted_cross_entropy():
    torch.manual_seed(2)
    classifier = DomainClassifier(32, 6, hidden=(64, 32))
    sizes = [(m.in_features, m.out_features) for m in classifier.layers if isinstance(m, nn.Linear)]
    assert sizes == [(32, 64), (64, 32), (32, 6)]

    adversary = DomainAdversary(
        32, [BranchSpec("source", 6, weight=0.5, grl_scale=0.5), BranchSpec("kmeans8", 8, weight=0.1, grl_scale=0.1)]
    )
    h = torch.randn(12, 32)
    labels = {"source": torch.randint(0, 6, (12,)), "kmeans8": torch.randint(0, 8, (12,))}
    labels["source"][:3] = -1  # unknown domain: ignored
    logits = adversary(h)
    result = adversary.loss(logits, labels)

    def cross_entropy(lg, lb):  # textbook: mean of -log softmax at the true class
        rows = [(-torch.log_softmax(lg[i], -1)[lb[i]]) for i in range(len(lb)) if lb[i] >= 0]
        return torch.stack(rows).mean()

    expected = 0.5 * cross_entropy(logits["source"], labels["source"]) + 0.1 * cross_entropy(
        logits["kmeans8"], labels["kmeans8"]
    )
    torch.testing.assert_close(result.total, expected)
    assert set(result.accuracy) == {"source", "kmeans8"}
    with pytest.raises(ValueError):
        BranchSpec("x", 1, 0.1, 0.1)
    with pytest.raises(KeyError):
        adversary.loss(logits, {"source": labels["source"]})


def test_strategy_parsing_and_paper_defaults():
    assert StrategySpec.parse("source") == StrategySpec("source")
    assert StrategySpec.parse("kmeans") == StrategySpec("kmeans", 8)
    assert StrategySpec.parse("KMeans:4").name == "kmeans4"
    assert StrategySpec.parse("random:8").paper_weight == 0.1
    assert StrategySpec.parse("source").paper_weight == 0.5
    assert str(StrategySpec.parse("kmeans:3")) == "kmeans:3"
    for bad in ("cluster:3", "kmeans:x", "kmeans:1", "source:2"):
        with pytest.raises(DomainStrategyError):
            StrategySpec.parse(bad)


def _blobs(seed=0, n=120, k=4, d=16):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, size=(k, d))
    truth = rng.integers(0, k, size=n)
    return centres[truth] + rng.normal(size=(n, d)), truth


def test_kmeans_labels_are_deterministic_recover_clusters_and_round_trip(tmp_path):
    x, truth = _blobs()
    ids = [f"clip{i}" for i in range(len(x))]
    a = assign_domains("kmeans:4", ids, embeddings=x, seed=11)
    b = assign_domains("kmeans:4", ids, embeddings=x, seed=11)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.centroids, b.centroids)
    assert a.labels[0] == 0  # renumbered by first appearance
    # well separated blobs: each cluster is exactly one true group
    pairs = {(int(p), int(t)) for p, t in zip(a.labels, truth)}
    assert len(pairs) == 4
    # centroids are the means of their members, labels the nearest centroid (Lloyd fixed point)
    for c in range(4):
        np.testing.assert_allclose(a.centroids[c], x[a.labels == c].mean(0), atol=1e-8)
    np.testing.assert_array_equal(nearest_centroid(x, a.centroids), a.labels)

    path = a.save(tmp_path / "domains" / "kmeans4.json")
    restored = DomainAssignment.load(path)
    np.testing.assert_array_equal(restored.labels, a.labels)
    np.testing.assert_allclose(restored.centroids, a.centroids)
    assert restored.strategy == "kmeans:4" and restored.num_domains == 4 and restored.seed == 11
    np.testing.assert_array_equal(restored.labels_for(["clip5", "clip0"]), a.labels[[5, 0]])
    np.testing.assert_array_equal(restored.assign(x[:10]), a.labels[:10])
    with pytest.raises(DomainStrategyError, match="no kmeans:4 domain label"):
        restored.labels_for(["unknown"])


def test_random_and_source_strategies():
    labels = random_labels(50, 8, seed=3)
    np.testing.assert_array_equal(labels, random_labels(50, 8, seed=3))
    assert not np.array_equal(labels, random_labels(50, 8, seed=4))
    counts = np.bincount(labels, minlength=8)
    assert counts.max() - counts.min() <= 1

    ids = ["a", "b", "c", "d"]
    source = assign_domains("source", ids, sources=["musdb", "libritts", "musdb", "ears"])
    assert source.names == ["ears", "libritts", "musdb"]
    np.testing.assert_array_equal(source.labels, [2, 1, 2, 0])
    assert assign_domains("none", ids) is None
    with pytest.raises(DomainStrategyError, match="no source value"):
        assign_domains("source", ids, sources=["x", None, "y", "x"])
    with pytest.raises(DomainStrategyError, match="at least 2"):
        assign_domains("source", ids, sources=["x"] * 4)
    with pytest.raises(DomainStrategyError, match="needs one embedding"):
        assign_domains("kmeans:2", ids)
    with pytest.raises(DomainStrategyError, match="unique"):
        assign_domains("random:2", ["a", "a"])
    with pytest.raises(DomainStrategyError, match="centroids"):
        source.assign(np.zeros((1, 3)))
    with pytest.raises(DomainStrategyError):
        kmeans_labels(np.zeros((3, 2)), 4, 0)
