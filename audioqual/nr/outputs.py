"""What every no-reference quality head returns, whatever its architecture.

A head maps its input (cached SSL features or waveforms) to an
`AspectPrediction` (a mean per aspect and, for probabilistic heads, a
covariance through a triangular factor) and the bottleneck h that the
domain-adversarial branch reads. Training, DAT, scoring and analyses only
rely on these two types.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class AspectPrediction:
    """Per-aspect means [B, k]; optional covariance S = F F^T from `cov_factor` [B, k, k]."""

    mean: torch.Tensor
    cov_factor: torch.Tensor | None = None
    factor_upper: bool = False

    def covariance(self) -> torch.Tensor | None:
        """Full covariance [B, k, k] (None for point-estimate heads)."""
        if self.cov_factor is None:
            return None
        factor = self._triangle()
        return factor @ factor.transpose(-1, -2)

    def std(self) -> torch.Tensor | None:
        """Per-aspect standard deviation sqrt(S_ii) [B, k] (None for point-estimate heads)."""
        if self.cov_factor is None:
            return None
        return self._triangle().pow(2).sum(-1).sqrt()

    def _triangle(self) -> torch.Tensor:
        assert self.cov_factor is not None
        return torch.triu(self.cov_factor) if self.factor_upper else torch.tril(self.cov_factor)


@dataclass
class HeadOutput:
    """A head's prediction and its bottleneck representation h [B, H]."""

    prediction: AspectPrediction
    h: torch.Tensor
