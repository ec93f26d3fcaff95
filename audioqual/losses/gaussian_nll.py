"""Multivariate Gaussian negative log-likelihood: the MultiGauss training loss.

For a prediction N(m, S) and a target y of k aspects,

    NLL = 1/2 (y - m)^T S^-1 (y - m) + 1/2 log det S + k/2 log(2 pi).

The covariance arrives as a triangular factor F with S = F F^T (the head
builds F with a positive diagonal, so S is positive definite by construction),
which gives the Mahalanobis term by one triangular solve and log det S as
2 sum log diag F: no explicit inverse or determinant, stable for small S.
`logdet_floor` reproduces the MultiGauss reference code, which clamps
log det S from below (there at 1e-6); `None` gives the exact likelihood.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2.0 * math.pi)
REDUCTIONS = ("mean", "sum", "none")


def gaussian_nll(
    mean: torch.Tensor,
    target: torch.Tensor,
    cov_factor: torch.Tensor,
    *,
    upper: bool = False,
    include_constant: bool = True,
    logdet_floor: float | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """NLL of `target` [..., k] under N(mean, F F^T), F = `cov_factor` [..., k, k] triangular.

    `upper` says whether F is upper (MultiGauss) or lower (Cholesky) triangular;
    only its triangle is read. The diagonal of F must be non-zero.
    """
    _check(mean, target, cov_factor, reduction)
    diff = (target - mean).unsqueeze(-1)
    whitened = torch.linalg.solve_triangular(cov_factor, diff, upper=upper).squeeze(-1)
    mahalanobis = whitened.pow(2).sum(-1)
    logdet = 2.0 * torch.log(torch.diagonal(cov_factor, dim1=-2, dim2=-1).abs()).sum(-1)
    if logdet_floor is not None:
        logdet = torch.clamp(logdet, min=logdet_floor)
    nll = 0.5 * (mahalanobis + logdet)
    if include_constant:
        nll = nll + 0.5 * mean.shape[-1] * LOG_2PI
    return _reduce(nll, reduction)


def gaussian_nll_from_covariance(
    mean: torch.Tensor,
    target: torch.Tensor,
    covariance: torch.Tensor,
    *,
    include_constant: bool = True,
    logdet_floor: float | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Same loss for a full covariance [..., k, k] (factorised by Cholesky; must be positive definite)."""
    factor, info = torch.linalg.cholesky_ex(covariance)
    if bool((info != 0).any()):
        raise ValueError("covariance is not positive definite")
    return gaussian_nll(
        mean,
        target,
        factor,
        upper=False,
        include_constant=include_constant,
        logdet_floor=logdet_floor,
        reduction=reduction,
    )


def _check(mean: torch.Tensor, target: torch.Tensor, factor: torch.Tensor, reduction: str) -> None:
    if mean.shape != target.shape:
        raise ValueError(f"mean {tuple(mean.shape)} and target {tuple(target.shape)} differ in shape")
    k = mean.shape[-1]
    if factor.shape[-2:] != (k, k) or factor.shape[:-2] != mean.shape[:-1]:
        raise ValueError(f"covariance factor {tuple(factor.shape)} does not fit mean {tuple(mean.shape)}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction {reduction!r} is not one of {REDUCTIONS}")


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values
