"""The interface every reference/test metric follows (torchmetrics style).

A metric scores one (reference, test) pair of float32 (channels, frames)
arrays at `sample_rate`; `update` accumulates pair scores and `compute`
returns them as arrays. A no-reference metric (`info.needs_reference` False)
ignores the reference, which batch runs pass as None. `score_pair` returns a dict whose key `name` is the
headline value; further keys are auxiliary outputs (e.g. PEAQ's MOVs).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MetricInfo:
    """What a metric needs and what its headline value means."""

    name: str
    higher_is_better: bool
    sample_rate: int | None  # the rate inputs are resampled to; None: any rate
    channels: str = "downmix"  # ChannelPolicy value for loading inputs
    valid_range: str = ""  # human-readable valid input range, shown in docs and --help
    min_seconds: float = 0.01  # shorter inputs are refused with a "too short" AudioInputError naming the file
    max_seconds: float | None = None  # longer inputs are refused (memory bound), naming the file and the option
    needs_reference: bool = True  # False: a no-reference metric (scores the test alone; rows without a reference)


class PairMetric(ABC):
    """A full-reference metric: score(test | reference)."""

    info: MetricInfo

    def __init__(self) -> None:
        self._scores: list[dict[str, float]] = []

    @abstractmethod
    def score_pair(self, reference: np.ndarray | None, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        """Scores of one pair; `info.name` holds the headline value."""

    def ensure_ready(self) -> None:
        """Load what scoring needs (runtime, weights) now, so that a missing one fails before any work."""

    def update(self, reference: np.ndarray, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        """Score one pair and keep the result for `compute`."""
        scores = self.score_pair(reference, test, sample_rate)
        self._scores.append(scores)
        return scores

    def compute(self) -> dict[str, np.ndarray]:
        """Every accumulated score, one array per output key."""
        keys = dict.fromkeys(k for s in self._scores for k in s)
        return {k: np.array([s.get(k, np.nan) for s in self._scores], dtype=np.float64) for k in keys}

    def reset(self) -> None:
        """Forget accumulated scores."""
        self._scores.clear()
