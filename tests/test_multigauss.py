"""MultiGauss head and Gaussian NLL, checked against scipy and textbook formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from audioqual.heads.multigauss import MultiGaussHead
from audioqual.losses.gaussian_nll import gaussian_nll, gaussian_nll_from_covariance


def _random_spd(rng: np.random.Generator, k: int) -> np.ndarray:
    a = rng.normal(size=(k, k))
    return a @ a.T + 0.3 * np.eye(k)


@pytest.mark.parametrize("k", [1, 2, 4, 5])
def test_gnll_matches_scipy_logpdf(k):
    rng = np.random.default_rng(k)
    n = 7
    means = rng.normal(5, 2, size=(n, k))
    targets = rng.normal(5, 2, size=(n, k))
    covs = np.stack([_random_spd(rng, k) for _ in range(n)])
    reference = np.array([-multivariate_normal(means[i], covs[i]).logpdf(targets[i]) for i in range(n)])

    got = gaussian_nll_from_covariance(
        torch.tensor(means), torch.tensor(targets), torch.tensor(covs), reduction="none"
    ).numpy()
    np.testing.assert_allclose(got, reference, rtol=1e-10, atol=1e-10)

    # lower (Cholesky) and upper (U U^T) factors of the same covariances give the same loss
    lower = torch.linalg.cholesky(torch.tensor(covs))
    got_lower = gaussian_nll(torch.tensor(means), torch.tensor(targets), lower, reduction="none").numpy()
    np.testing.assert_allclose(got_lower, reference, rtol=1e-10)
    flip = torch.flip(torch.eye(k, dtype=torch.float64), dims=[0])
    upper = flip @ torch.linalg.cholesky(flip @ torch.tensor(covs) @ flip) @ flip  # S = U U^T, U upper
    assert torch.allclose(upper, torch.triu(upper))
    got_upper = gaussian_nll(torch.tensor(means), torch.tensor(targets), upper, upper=True, reduction="none").numpy()
    np.testing.assert_allclose(got_upper, reference, rtol=1e-9)

    mean_loss = gaussian_nll_from_covariance(torch.tensor(means), torch.tensor(targets), torch.tensor(covs))
    assert mean_loss.item() == pytest.approx(reference.mean(), rel=1e-10)


def test_gnll_without_constant_and_with_floor_match_reference_formula():
    """MultiGauss' code: mean(d^T S^-1 d / 2 + max(logdet S, eps) / 2), no 2*pi constant."""
    rng = np.random.default_rng(3)
    k, n = 4, 9
    covs = np.stack([_random_spd(rng, k) * s for s in np.geomspace(0.05, 5, n)])  # some logdet < 0
    means, targets = rng.normal(size=(n, k)), rng.normal(size=(n, k))
    cov_t = torch.tensor(covs)
    diff = torch.tensor(targets - means).unsqueeze(-1)
    maha = (diff.transpose(1, 2) @ torch.inverse(cov_t) @ diff).squeeze()
    floored = torch.maximum(torch.logdet(cov_t), torch.tensor(1e-6, dtype=torch.float64))
    reference = torch.mean(maha / 2 + floored / 2)
    assert (torch.logdet(cov_t) < 0).any() and (torch.logdet(cov_t) > 0).any()
    got = gaussian_nll_from_covariance(
        torch.tensor(means), torch.tensor(targets), cov_t, include_constant=False, logdet_floor=1e-6
    )
    assert got.item() == pytest.approx(reference.item(), rel=1e-10)


def test_gnll_rejects_bad_shapes_and_non_pd():
    with pytest.raises(ValueError, match="differ in shape"):
        gaussian_nll(torch.zeros(2, 3), torch.zeros(2, 4), torch.eye(3).expand(2, 3, 3))
    with pytest.raises(ValueError, match="does not fit"):
        gaussian_nll(torch.zeros(2, 3), torch.zeros(2, 3), torch.eye(4).expand(2, 4, 4))
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_nll_from_covariance(torch.zeros(1, 2), torch.zeros(1, 2), -torch.eye(2)[None])


def _head(**kwargs) -> MultiGaussHead:
    torch.manual_seed(0)
    return MultiGaussHead(in_channels=16, in_frames=60, **kwargs)


def test_head_shapes_and_bottleneck_size():
    head = _head(num_aspects=4)
    out = head(torch.randn(3, 16, 60))
    # 60 -> conv5 56 -> pool5 11 -> conv5 7 -> pool5 1: 32 channels x 1 frame
    assert head.bottleneck_dim == 32 and out.h.shape == (3, 32)
    assert out.prediction.mean.shape == (3, 4) and out.prediction.cov_factor.shape == (3, 4, 4)
    assert head.num_outputs == 14  # 4 means + 4 diagonal + 6 off-diagonal (the AES reference layout)
    with pytest.raises(ValueError, match="expects features"):
        head(torch.randn(3, 16, 59))
    with pytest.raises(ValueError, match="too few"):
        MultiGaussHead(in_channels=16, in_frames=12)


def test_head_covariance_is_positive_definite_and_matches_reference_construction():
    head = _head(num_aspects=4)
    raw = torch.randn(50, head.num_outputs, dtype=torch.float64) * 4  # extreme raw outputs
    pred = head.gaussian(raw)
    cov = pred.covariance()
    assert torch.linalg.eigvalsh(cov).min() > 0
    # reference construction: U upper, softplus diagonal, (i, j>i) row-major off-diagonals, S = a^2 U U^T
    k, a = 4, head.output_scale
    for b in range(raw.shape[0]):
        u = torch.zeros(k, k, dtype=torch.float64)
        for i in range(k):
            u[i, i] = math.log1p(math.exp(raw[b, k + i].item()))
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        for n, (i, j) in enumerate(pairs):
            u[i, j] = raw[b, 2 * k + n]
        expected = a * a * (u @ u.T)
        torch.testing.assert_close(cov[b], expected)
        torch.testing.assert_close(pred.mean[b], a * raw[b, :k] + head.output_bias)
        torch.testing.assert_close(pred.std()[b], torch.sqrt(torch.diagonal(expected)))


def test_head_loss_is_gnll_of_its_prediction_and_trains():
    head = _head(num_aspects=3, logdet_floor=None)
    x = torch.randn(32, 16, 60)
    targets = 5.5 + 2 * torch.tanh(x.mean(dim=(1, 2), keepdim=False))[:, None].repeat(1, 3)
    out = head(x)
    loss = head.task_loss(out, targets)
    expected = np.mean(
        [
            -multivariate_normal(
                out.prediction.mean[i].detach().numpy(), out.prediction.covariance()[i].detach().numpy()
            ).logpdf(targets[i].numpy())
            for i in range(32)
        ]
    )
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3)
    first = loss.item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = head.task_loss(head(x), targets)
        loss.backward()
        optimizer.step()
    assert loss.item() < first - 1.0
