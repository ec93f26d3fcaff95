"""Percentile bootstrap confidence intervals, optionally resampling within strata.

Stimulus-level statistics resample stimuli with replacement. System-level
statistics resample stimuli within each system (stratified), so every system
keeps its place and the interval reflects how well each system mean is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from audioqual.errors import AudioqualError


@dataclass(frozen=True)
class ConfidenceInterval:
    """A two-sided percentile interval and how many resamples gave a finite statistic."""

    low: float
    high: float
    confidence: float
    n_resamples: int
    n_valid: int


def resample_indices(
    n_items: int, n_resamples: int, rng: np.random.Generator, strata: np.ndarray | None = None
) -> np.ndarray:
    """(n_resamples, n_items) indices drawn with replacement, within strata when given."""
    if strata is None:
        return rng.integers(0, n_items, size=(n_resamples, n_items))
    strata = np.asarray(strata)
    if strata.shape != (n_items,):
        raise AudioqualError(f"strata must have one label per item ({n_items}), got shape {strata.shape}")
    out = np.empty((n_resamples, n_items), dtype=np.int64)
    for label in np.unique(strata):
        members = np.flatnonzero(strata == label)
        out[:, members] = members[rng.integers(0, members.size, size=(n_resamples, members.size))]
    return out


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n_items: int,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    strata: np.ndarray | None = None,
) -> ConfidenceInterval:
    """Percentile interval of `statistic(indices)` over bootstrap resamples of item indices.

    Resamples on which the statistic is not finite (e.g. a constant
    resample for a correlation) are left out and counted; with fewer than
    half of them finite the interval is NaN.
    """
    if not 0.0 < confidence < 1.0:
        raise AudioqualError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise AudioqualError(f"n_resamples must be positive, got {n_resamples}")
    rng = np.random.default_rng(seed)
    indices = resample_indices(n_items, n_resamples, rng, strata)
    values = np.array([statistic(row) for row in indices], dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size < max(1, n_resamples // 2):
        return ConfidenceInterval(float("nan"), float("nan"), confidence, n_resamples, int(finite.size))
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return ConfidenceInterval(float(low), float(high), confidence, n_resamples, int(finite.size))
