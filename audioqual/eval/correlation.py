"""Agreement statistics between predictions and subjective scores: PCC, SRCC, Kendall tau, MSE.

Functional forms take two equal-length 1-D arrays (prediction, subjective);
the classes follow the torchmetrics pattern (`update` batches, `compute` the
statistic over everything seen, `reset`). Conventions match scipy.stats:
Spearman uses average ranks for ties, Kendall is tau-b.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats as scipy_stats

from audioqual.errors import AudioqualError


def _pair(prediction: np.ndarray, target: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(prediction, dtype=np.float64).ravel()
    y = np.asarray(target, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise AudioqualError(f"predictions ({x.size}) and subjective scores ({y.size}) differ in length")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise AudioqualError("predictions and subjective scores must be finite numbers")
    if x.size < minimum:
        raise AudioqualError(f"need at least {minimum} pairs, got {x.size}")
    return x, y


def pearson(prediction: np.ndarray, target: np.ndarray) -> float:
    """Pearson linear correlation; NaN when either side is constant."""
    x, y = _pair(prediction, target, 2)
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
    if denominator == 0.0:
        return float("nan")
    return float(np.clip(np.dot(dx, dy) / denominator, -1.0, 1.0))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given the mean of the ranks they span."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(counts)  # a tie group of size c ending at rank e spans e-c+1 .. e
    return (last_rank - (counts - 1) / 2.0)[inverse]


def spearman(prediction: np.ndarray, target: np.ndarray) -> float:
    """Spearman rank correlation: Pearson correlation of average ranks."""
    x, y = _pair(prediction, target, 2)
    return pearson(average_ranks(x), average_ranks(y))


def kendall(prediction: np.ndarray, target: np.ndarray) -> float:
    """Kendall tau-b (tie-corrected), as scipy.stats.kendalltau."""
    x, y = _pair(prediction, target, 2)
    if np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        return float("nan")
    return float(scipy_stats.kendalltau(x, y).statistic)


def mse(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error between prediction and subjective score (same scale assumed)."""
    x, y = _pair(prediction, target, 1)
    return float(np.mean((x - y) ** 2))


STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "PCC": pearson,
    "SRCC": spearman,
    "KTAU": kendall,
    "MSE": mse,
}
"""Every statistic the harness reports, by the name used in tables."""

HIGHER_IS_BETTER = {"PCC": True, "SRCC": True, "KTAU": True, "MSE": False}


class AgreementStatistic:
    """Accumulate (prediction, subjective) batches and compute one statistic over all of them."""

    name: str = ""

    def __init__(self) -> None:
        self._predictions: list[np.ndarray] = []
        self._targets: list[np.ndarray] = []

    def update(self, prediction: np.ndarray, target: np.ndarray) -> None:
        """Add a batch of paired values."""
        x = np.atleast_1d(np.asarray(prediction, dtype=np.float64)).ravel()
        y = np.atleast_1d(np.asarray(target, dtype=np.float64)).ravel()
        if x.shape != y.shape:
            raise AudioqualError(f"{self.name}: batch of {x.size} predictions but {y.size} subjective scores")
        self._predictions.append(x)
        self._targets.append(y)

    def compute(self) -> float:
        """The statistic over every pair seen since the last reset."""
        if not self._predictions:
            raise AudioqualError(f"{self.name}: compute() called before update()")
        return STATISTICS[self.name](np.concatenate(self._predictions), np.concatenate(self._targets))

    def reset(self) -> None:
        """Forget every pair."""
        self._predictions.clear()
        self._targets.clear()


class PearsonCorrCoef(AgreementStatistic):
    """Pearson linear correlation coefficient (PCC)."""

    name = "PCC"


class SpearmanCorrCoef(AgreementStatistic):
    """Spearman rank correlation coefficient (SRCC)."""

    name = "SRCC"


class KendallRankCorrCoef(AgreementStatistic):
    """Kendall rank correlation, tau-b."""

    name = "KTAU"


class MeanSquaredError(AgreementStatistic):
    """Mean squared error (MSE)."""

    name = "MSE"
