"""What every audio encoder of the project shares: per-layer frame states, pooling, chunked long audio.

Two kinds implement it: `Backbone` (the SSL models of transformers) and
`PretrainedEncoder` (networks whose weights ship inside a package wheel, see
`audioqual.backbones.encoders`). Feature extraction, DeePAQ, the no-reference
models and FAD only use this interface.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch
from torch import nn

from audioqual.pretrained import Pretrained

NORMALIZE_EPS = 1e-7
METADATA_FILE = "audioqual_backbone.json"


@dataclass(frozen=True)
class BackboneInfo:
    """What a saved backbone needs besides its weights: architecture (or encoder name), rate, preprocessing."""

    arch: str
    sample_rate: int
    normalize_input: bool
    name: str


@dataclass
class BackboneOutput:
    """Per-layer frame-level hidden states and the mask of valid frames.

    `layer_means` holds exact per-layer time means where the encoder computed
    them before bringing its layers to one frame rate (pretrained encoders);
    `pooled()` then returns those instead of averaging the resampled frames.
    """

    hidden_states: torch.Tensor  # [L, B, F, D]
    frame_mask: torch.Tensor  # [B, F] bool
    layer_means: torch.Tensor | None = None  # [L, B, D]

    def pooled(self) -> torch.Tensor:
        """Time mean over valid frames: [L, B, D]."""
        if self.layer_means is not None:
            return self.layer_means
        mask = self.frame_mask.to(self.hidden_states.dtype)[None, :, :, None]
        total = (self.hidden_states * mask).sum(dim=2)
        return total / mask.sum(dim=2).clamp_min(1.0)


class LayeredEncoder(nn.Module, Pretrained, abc.ABC):
    """An audio encoder that returns every layer's states at one frame rate.

    Subclasses provide `sample_rate`, `name`, `hidden_size`, `num_hidden_states`,
    `frames_per_second`, `normalize`, `encode`, `minimum_samples`,
    `fingerprint` and the files of `save_pretrained` (audioqual_backbone.json
    is its versioned config); pooling and chunked encoding of long audio are
    shared here.
    """

    info: BackboneInfo
    config_file = METADATA_FILE
    kind = "backbone"

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @property
    def name(self) -> str:
        return self.info.name

    @abc.abstractmethod
    def normalize(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's own input scaling of [B, T] waveforms."""

    @abc.abstractmethod
    def encode(self, normalized: torch.Tensor, lengths: torch.Tensor | None = None) -> BackboneOutput:
        """Encode already-normalised [B, T] waveforms."""

    @abc.abstractmethod
    def minimum_samples(self) -> int:
        """Shortest input (in samples) that yields at least one frame."""

    @abc.abstractmethod
    def fingerprint(self) -> str:
        """Hash of architecture, preprocessing and weights: identifies cached features."""

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> BackboneOutput:
        """Encode [B, T] waveforms at `sample_rate` (padded with zeros past `lengths`)."""
        return self.encode(self.normalize(waveforms, lengths), lengths)

    def pooled(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Time-mean pooled hidden states [L, B, D]."""
        return self(waveforms, lengths).pooled()

    def encode_long(
        self, waveform: torch.Tensor, chunk_seconds: float = 30.0, keep_frames: bool = False
    ) -> torch.Tensor:
        """Encode one long mono waveform [T] chunk by chunk.

        Returns the time-mean pooled states [L, D], or with keep_frames the
        concatenated frame-level states [L, F, D]. The clip is normalised as a
        whole first, so chunking does not change its statistics; only one chunk's
        activations are in memory at a time.
        """
        waveform = self.normalize(waveform[None, :])[0]
        chunk = max(int(chunk_seconds * self.sample_rate), 1)
        min_samples = self.minimum_samples()
        starts = list(range(0, waveform.shape[0], chunk))
        if len(starts) > 1 and waveform.shape[0] - starts[-1] < min_samples:
            starts.pop()  # fold a too-short tail into the previous chunk
        frame_chunks: list[torch.Tensor] = []
        total: torch.Tensor | None = None
        count = 0
        for index, start in enumerate(starts):
            stop = starts[index + 1] if index + 1 < len(starts) else waveform.shape[0]
            states = self.encode(waveform[None, start:stop]).hidden_states[:, 0]
            if keep_frames:
                frame_chunks.append(states)
            else:
                total = states.sum(dim=1) if total is None else total + states.sum(dim=1)
                count += states.shape[1]
        if keep_frames:
            return torch.cat(frame_chunks, dim=1)
        return total / max(count, 1)
