"""Fréchet Audio Distance on any project backbone (fadtk convention).

Frame-level embeddings of one backbone layer are summarised by their mean
and covariance; FAD is the Fréchet distance between the Gaussians of a test
set and a reference set. Per-song FAD compares one file's frame statistics
with the whole reference set. Lower is better; 0 for identical statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from audioqual.backbones import Backbone
from audioqual.data.manifest import ManifestEntry
from audioqual.errors import AudioqualError
from audioqual.features import FeatureCache, FeatureSpec, extract_features
from audioqual.metrics.base import MetricCategory, MetricInfo

VALID_RANGE = "any sample rate (resampled to the backbone's); >= 2 frames per file, ideally many more than the embedding size per set"


@dataclass
class GaussianStats:
    """Mean and covariance of a set of embedding frames, mergeable across files."""

    count: int
    total: np.ndarray  # sum of frames [D]
    outer: np.ndarray  # sum of outer products [D, D]

    @classmethod
    def from_frames(cls, frames: np.ndarray) -> GaussianStats:
        frames = np.asarray(frames, dtype=np.float64)
        if frames.ndim != 2:
            raise ValueError(f"expected frames of shape [N, D], got {frames.shape}")
        return cls(count=frames.shape[0], total=frames.sum(axis=0), outer=frames.T @ frames)

    def merge(self, other: GaussianStats) -> GaussianStats:
        return GaussianStats(self.count + other.count, self.total + other.total, self.outer + other.outer)

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.count

    @property
    def covariance(self) -> np.ndarray:
        """Unbiased sample covariance (N - 1 in the denominator), as numpy.cov."""
        if self.count < 2:
            raise AudioqualError(f"covariance needs at least 2 frames, got {self.count}")
        mean = self.mean
        return (self.outer - self.count * np.outer(mean, mean)) / (self.count - 1)


def frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    A tiny diagonal offset is added when the product is singular (few frames),
    as fadtk and pytorch-fid do; the imaginary part of sqrtm from rounding is dropped.
    """
    diff = mean_a - mean_b
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():
        offset = np.eye(cov_a.shape[0]) * 1e-6
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    covmean = np.real(covmean)
    value = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))
    return max(value, 0.0)


def stats_distance(a: GaussianStats, b: GaussianStats) -> float:
    """FAD between two frame statistics."""
    return frechet_distance(a.mean, a.covariance, b.mean, b.covariance)


class FrechetAudioDistance:
    """FAD and per-song FAD with one layer of a project backbone; embeddings go through the feature cache."""

    info = MetricInfo(name="fad", higher_is_better=False, sample_rate=None, valid_range=VALID_RANGE,
                      category=MetricCategory.DISTRIBUTIONAL)  # fmt: skip

    def __init__(self, backbone: Backbone, layer: int = -1, cache: FeatureCache | None = None, batch_size: int = 8):
        self.backbone = backbone
        self.layer = layer if layer >= 0 else backbone.num_hidden_states + layer
        self.cache = cache or FeatureCache()
        self.batch_size = batch_size
        self.failures: dict[str, str] = {}

    def frame_stats(self, entries: Sequence[ManifestEntry]) -> dict[str, GaussianStats]:
        """Per-file statistics; files that fail are recorded in `failures` and left out."""
        spec = FeatureSpec(layers=(self.layer,), pooling="frames")
        result = extract_features(entries, self.backbone, self.cache, spec, batch_size=self.batch_size)
        self.failures.update(result.failures)
        return {item_id: GaussianStats.from_frames(result.get(item_id)[0]) for item_id in result.digests}

    def set_stats(self, entries: Sequence[ManifestEntry]) -> GaussianStats:
        """Pooled statistics of every frame of every file in a set."""
        per_file = list(self.frame_stats(entries).values())
        if not per_file:
            raise AudioqualError("no file of the set could be embedded")
        total = per_file[0]
        for stats in per_file[1:]:
            total = total.merge(stats)
        return total

    def compute(self, test: Sequence[ManifestEntry], reference: Sequence[ManifestEntry]) -> float:
        """FAD between a test set and a reference set."""
        return stats_distance(self.set_stats(test), self.set_stats(reference))

    def per_song(self, test: Sequence[ManifestEntry], reference: Sequence[ManifestEntry]) -> dict[str, float]:
        """Per-song FAD: each test file's frames against the whole reference set."""
        reference_stats = self.set_stats(reference)
        scores = {}
        for item_id, stats in self.frame_stats(test).items():
            if stats.count < 2:
                self.failures[item_id] = f"{item_id}: too short for per-song FAD ({stats.count} frame)"
                continue
            scores[item_id] = stats_distance(stats, reference_stats)
        return scores
