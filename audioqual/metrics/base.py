"""The interface every reference/test metric follows (torchmetrics style).

A metric scores one (reference, test) pair of float32 (channels, frames)
arrays at `sample_rate`; `update` accumulates pair scores and `compute`
returns them as arrays. Its `MetricCategory` says what it compares (VERSA's
classification): an independent metric (`info.requires_reference` False)
ignores the reference, which batch runs pass as None; a distributional one
compares sets and is not a PairMetric. `score_pair` returns a dict whose key
`name` is the headline value; further keys are auxiliary outputs (e.g. PEAQ's MOVs).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum

import numpy as np


class MetricCategory(Enum):
    """What a metric compares: the test alone, with its reference, with other clean audio, or sets."""

    INDEPENDENT = "independent"  # the test signal alone (no-reference), e.g. DNSMOS
    REFERENCE = "reference"  # the test against its matching reference (full-reference), e.g. ViSQOL, PEAQ
    NON_MATCHING_REFERENCE = "non-matching reference"  # the test against clean audio of other content
    DISTRIBUTIONAL = "distributional"  # a set of test files against a set of references, e.g. FAD

    @property
    def requires_reference(self) -> bool:
        """False only for independent metrics."""
        return self is not MetricCategory.INDEPENDENT

    @property
    def description(self) -> str:
        """One line for listings."""
        return {
            MetricCategory.INDEPENDENT: "independent: scores the test signal alone, no reference",
            MetricCategory.REFERENCE: "needs a reference: the test against its matching reference",
            MetricCategory.NON_MATCHING_REFERENCE: "non-matching reference: the test against clean audio of other content",
            MetricCategory.DISTRIBUTIONAL: "distributional: a set of test files against a set of references",
        }[self]


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
    category: MetricCategory = MetricCategory.REFERENCE

    @property
    def requires_reference(self) -> bool:
        """False for an independent (no-reference) metric: it scores the test alone, rows need no reference."""
        return self.category.requires_reference


class PairMetric(ABC):
    """A metric of one test signal, given its reference unless it is independent: score(test | reference)."""

    info: MetricInfo
    runtime_attributes: tuple[str, ...] = ()  # handles made on first use (native, unpicklable): copies make their own

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

    def __getstate__(self) -> dict:
        """Picklable for worker processes and Ray actors: runtime handles are left for the copy to recreate."""
        state = dict(self.__dict__)
        for name in self.runtime_attributes:
            state[name] = None
        return state
