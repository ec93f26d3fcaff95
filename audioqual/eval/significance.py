"""Paired two-sided t-tests between two predictors scored on the same stimuli (or systems).

Seed 000 reports "a two-sided t-test (p <= 0.05), following Cooper et al.
(ICASSP 2022)" for gains over a baseline without spelling out the statistic.
For the correlation statistics (PCC, SRCC) the two coefficients are dependent:
both share the subjective scores and the predictors correlate with each other.
The t-test for that case is Williams' (1959) test for two dependent
correlations with one variable in common, the form Steiger (1980) recommends:

    t = (r_a - r_b) * sqrt((n-1)(1+r_ab) / (2 (n-1)/(n-3) |R| + rbar^2 (1-r_ab)^3)),  df = n - 3

with |R| = 1 - r_a^2 - r_b^2 - r_ab^2 + 2 r_a r_b r_ab and rbar = (r_a + r_b)/2.
For SRCC it is applied to the rank-transformed data (Spearman coefficients).
For MSE it is the paired t-test on per-item squared errors (df = n - 1).
Kendall tau has no t-test of this kind and is not tested.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from audioqual.errors import AudioqualError
from audioqual.eval.correlation import average_ranks, mse, pearson

TESTED_STATISTICS = ("PCC", "SRCC", "MSE")

TEST_DESCRIPTION = (
    "Two-sided paired t-tests between predictors on the stimuli (or systems) both scored, as Huang et al. 2026 "
    "report (arXiv:2603.16201; p <= 0.05): Williams' t-test for two dependent correlations sharing the subjective scores "
    "(df = n - 3) for PCC and, on ranks, SRCC; a paired t-test on per-item squared errors (df = n - 1) for MSE."
)


@dataclass(frozen=True)
class PairedTestResult:
    """Outcome of comparing predictor A with predictor B on one statistic."""

    statistic: str
    value_a: float
    value_b: float
    t: float
    df: int
    p_value: float
    test: str  # "williams" or "paired-t"


def williams_t(r_a: float, r_b: float, r_ab: float, n: int) -> tuple[float, int, float]:
    """Williams' t for H0: r_a == r_b (both correlations with a common variable); (t, df, two-sided p)."""
    if n < 4:
        raise AudioqualError(f"Williams' test needs at least 4 items, got {n}")
    for name, value in (("r_a", r_a), ("r_b", r_b), ("r_ab", r_ab)):
        if not np.isfinite(value) or abs(value) > 1.0:
            raise AudioqualError(f"Williams' test: {name}={value} is not a correlation")
    df = n - 3
    det = max(1.0 - r_a**2 - r_b**2 - r_ab**2 + 2.0 * r_a * r_b * r_ab, 0.0)
    r_bar = (r_a + r_b) / 2.0
    denominator = 2.0 * (n - 1) / (n - 3) * det + r_bar**2 * (1.0 - r_ab) ** 3
    if r_a == r_b:
        return 0.0, df, 1.0
    if denominator <= 0.0:  # perfectly collinear predictors with different correlations cannot happen
        raise AudioqualError("Williams' test: degenerate correlation matrix")
    t = (r_a - r_b) * np.sqrt((n - 1) * (1.0 + r_ab) / denominator)
    return float(t), df, float(2.0 * scipy_stats.t.sf(abs(t), df))


def paired_t(a: np.ndarray, b: np.ndarray) -> tuple[float, int, float]:
    """Paired two-sided t-test of mean(a - b) == 0; (t, df, p)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.size < 2:
        raise AudioqualError(f"paired t-test needs at least 2 items, got {d.size}")
    df = d.size - 1
    sd = d.std(ddof=1)
    if sd == 0.0:
        return (0.0, df, 1.0) if d.mean() == 0.0 else (float(np.copysign(np.inf, d.mean())), df, 0.0)
    t = d.mean() / (sd / np.sqrt(d.size))
    return float(t), df, float(2.0 * scipy_stats.t.sf(abs(t), df))


def compare_predictors(
    prediction_a: np.ndarray, prediction_b: np.ndarray, target: np.ndarray, statistic: str
) -> PairedTestResult:
    """Two-sided paired test of predictor A against predictor B on `statistic` (PCC, SRCC or MSE)."""
    a = np.asarray(prediction_a, dtype=np.float64)
    b = np.asarray(prediction_b, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if not (a.shape == b.shape == y.shape):
        raise AudioqualError("paired test: both predictors and the scores must cover the same items")
    if statistic == "MSE":
        t, df, p = paired_t((a - y) ** 2, (b - y) ** 2)
        return PairedTestResult(statistic, mse(a, y), mse(b, y), t, df, p, "paired-t")
    if statistic == "SRCC":
        a, b, y = average_ranks(a), average_ranks(b), average_ranks(y)
    elif statistic != "PCC":
        raise AudioqualError(f"no paired t-test for {statistic!r}; choose one of {', '.join(TESTED_STATISTICS)}")
    r_a, r_b, r_ab = pearson(a, y), pearson(b, y), pearson(a, b)
    t, df, p = williams_t(r_a, r_b, r_ab, y.size)
    return PairedTestResult(statistic, r_a, r_b, t, df, p, "williams")
