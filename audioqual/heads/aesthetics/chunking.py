"""Windows of audio for the aesthetics model: official chunked inference and training crops.

Inference (audiobox-aesthetics `make_inference_batch`): each clip is cut into
windows starting every `hop` samples, each `window` samples long; a window
running past the end is zero-padded to the full length with its padding
masked, and weighs valid_samples / window in the clip's average. The padding
matters: the first conv layer's GroupNorm normalises over the whole window, so
a 3 s clip is always encoded inside a 10 s window. Training uses the same
input geometry: one window per clip, at a random offset when the clip is
longer than a window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class WindowBatch:
    """Windows [N, window], their valid-sample mask, owning clip and averaging weight."""

    waveforms: torch.Tensor
    sample_mask: torch.Tensor
    clip_index: torch.Tensor  # [N] long
    weights: torch.Tensor  # [N] float: valid samples / window

    def __len__(self) -> int:
        return int(self.waveforms.shape[0])

    def slice(self, start: int, stop: int) -> WindowBatch:
        return WindowBatch(
            self.waveforms[start:stop],
            self.sample_mask[start:stop],
            self.clip_index[start:stop],
            self.weights[start:stop],
        )


def clip_lengths(waveforms: torch.Tensor, lengths: torch.Tensor | None) -> list[int]:
    """Valid samples per row of a zero-padded batch [B, T]; a clip without samples is an error."""
    if lengths is None:
        values = [int(waveforms.shape[1])] * int(waveforms.shape[0])
    else:
        values = [int(v) for v in lengths.tolist()]
        if len(values) != waveforms.shape[0] or any(v < 0 or v > waveforms.shape[1] for v in values):
            raise ValueError(f"lengths {values} do not fit waveforms of shape {tuple(waveforms.shape)}")
    for index, length in enumerate(values):
        if length == 0:
            raise ValueError(f"clip {index} of the batch has no samples")
    return values


def _window(waveforms: torch.Tensor, index: int, length: int, start: int, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`window` samples of clip `index` from `start`, zero-padded past its `length`, and their valid-sample mask."""
    valid = min(window, length - start)
    row = waveforms.new_zeros(window)
    row[:valid] = waveforms[index, start : start + valid]
    mask = torch.zeros(window, dtype=torch.bool, device=waveforms.device)
    mask[:valid] = True
    return row, mask


def inference_windows(waveforms: torch.Tensor, lengths: torch.Tensor | None, window: int, hop: int) -> WindowBatch:
    """Every official inference window of every clip in a padded batch [B, T]."""
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be positive, got {window} and {hop}")
    rows, masks, owners, weights = [], [], [], []
    for index, length in enumerate(clip_lengths(waveforms, lengths)):
        for start in range(0, length, hop):
            row, mask = _window(waveforms, index, length, start, window)
            rows.append(row)
            masks.append(mask)
            owners.append(index)
            weights.append(min(window, length - start) / window)
    device = waveforms.device
    return WindowBatch(
        torch.stack(rows),
        torch.stack(masks),
        torch.tensor(owners, dtype=torch.long, device=device),
        torch.tensor(weights, dtype=torch.float32, device=device),
    )


def training_windows(
    waveforms: torch.Tensor, lengths: torch.Tensor | None, window: int, generator: torch.Generator | None = None
) -> WindowBatch:
    """One window per clip: a random `window`-sample crop of longer clips, shorter ones zero-padded."""
    rows, masks = [], []
    for index, length in enumerate(clip_lengths(waveforms, lengths)):
        start = 0
        if length > window:
            start = int(torch.randint(0, length - window + 1, (1,), generator=generator))
        row, mask = _window(waveforms, index, length, start, window)
        rows.append(row)
        masks.append(mask)
    count = len(rows)
    device = waveforms.device
    return WindowBatch(
        torch.stack(rows),
        torch.stack(masks),
        torch.arange(count, device=device),
        torch.ones(count, dtype=torch.float32, device=device),
    )


def merge_windows(values: torch.Tensor, batch: WindowBatch, num_clips: int) -> torch.Tensor:
    """Weighted mean over each clip's windows: values [N, ...] -> [num_clips, ...]."""
    weights = batch.weights.to(values.dtype)
    shape = (num_clips,) + tuple(values.shape[1:])
    total = values.new_zeros(shape).index_add_(
        0, batch.clip_index, values * weights.view(-1, *([1] * (values.dim() - 1)))
    )
    norm = values.new_zeros(num_clips).index_add_(0, batch.clip_index, weights)
    return total / norm.view(-1, *([1] * (values.dim() - 1)))
