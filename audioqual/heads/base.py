"""What a quality head is: how it is built (`HeadFactory`, told about its input by `InputInfo`) and what it returns.

A head maps its input (cached SSL features or waveforms) to an
`AspectPrediction` (a mean per aspect and, for probabilistic heads, a
covariance through a triangular factor) and the bottleneck h that the
domain-adversarial branch reads. Training, DAT, scoring and analyses only
rely on these types, so heads depend on nothing of `audioqual.nr`.

A `HeadFactory` holds a head's options dataclass, a builder, the kind of
input it consumes ("features": cached frozen-backbone features; "waveform":
audio, for heads that contain and fine-tune their own encoder) and,
optionally, how to open `features.backbone` when that is not a transformers
model (e.g. Meta's Audiobox-Aesthetics checkpoint).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from audioqual.backbones import Backbone

INPUT_KINDS = ("features", "waveform")


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


@dataclass(frozen=True)
class InputInfo:
    """What a head needs to know about its input to be built."""

    num_aspects: int
    channels: int | None = None  # feature width D (features heads)
    frames: int | None = None  # fixed number of frames T (features heads)
    sample_rate: int | None = None  # waveform heads
    backbone: str | None = None  # backbone id or directory (waveform heads load it)
    aspects: tuple[str, ...] = ()  # the aspect names, in output order (len == num_aspects)

    def __post_init__(self) -> None:
        if self.aspects and len(self.aspects) != self.num_aspects:
            raise ValueError(f"{len(self.aspects)} aspect names for {self.num_aspects} aspects")


@dataclass(frozen=True)
class HeadFactory:
    """How to build one kind of head from its options."""

    config_cls: type
    build: Callable[[Any, InputInfo], nn.Module]
    input_kind: str
    load_backbone: Callable[[str], Backbone] | None = None  # None: Backbone.from_pretrained

    def __post_init__(self) -> None:
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {self.input_kind!r}")

    def open_backbone(self, name_or_path: str) -> Backbone:
        """The backbone `name_or_path` (hub id, directory, or what this head's loader accepts)."""
        if self.load_backbone is not None:
            return self.load_backbone(name_or_path)
        from audioqual.backbones import Backbone

        return Backbone.from_pretrained(name_or_path)
