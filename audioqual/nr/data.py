"""Torch datasets for no-reference training and scoring: cached features or audio.

Items are dicts {"inputs", "targets", "domains"} (waveform items add
"lengths" after collation), the batch format `audioqual.train.trainer` expects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from audioqual.data.manifest import ManifestEntry
from audioqual.io import AudioLoadOptions, load_audio
from audioqual.features import repeat_crop
from audioqual.nr.features import FrameFeatures


MEMORY_BUDGET_BYTES = 2 * 1024**3
"""Feature sets up to this size are held in memory; larger ones are read from the cache per item."""


class FeatureDataset(Dataset):
    """Cached fixed-length features [D, T] with targets [k] and per-branch domain labels."""

    def __init__(
        self,
        features: FrameFeatures,
        item_ids: Sequence[str],
        targets: np.ndarray | None = None,
        domains: Mapping[str, np.ndarray] | None = None,
        in_memory: bool | None = None,
    ):
        self.features = features
        self.item_ids = list(item_ids)
        self.targets = None if targets is None else torch.as_tensor(np.asarray(targets, dtype=np.float32))
        self.domains = {k: torch.as_tensor(np.asarray(v, dtype=np.int64)) for k, v in (domains or {}).items()}
        if in_memory is None and self.item_ids:
            in_memory = self._load(0).numel() * 4 * len(self.item_ids) <= MEMORY_BUDGET_BYTES
        self._memory = [self._load(i) for i in range(len(self.item_ids))] if in_memory else None

    def __len__(self) -> int:
        return len(self.item_ids)

    def _load(self, index: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.features.get(self.item_ids[index]), dtype=np.float32))

    def __getitem__(self, index: int) -> dict[str, Any]:
        inputs = self._memory[index] if self._memory is not None else self._load(index)
        item: dict[str, Any] = {"inputs": inputs, "domains": {k: v[index] for k, v in self.domains.items()}}
        if self.targets is not None:
            item["targets"] = self.targets[index]
        return item


class WaveformDataset(Dataset):
    """Audio of entries at the model's rate (mono), optionally repeat-cropped to a fixed length."""

    def __init__(
        self,
        entries: Sequence[ManifestEntry],
        sample_rate: int,
        targets: np.ndarray | None = None,
        domains: Mapping[str, np.ndarray] | None = None,
        crop_seconds: float | None = None,
    ):
        self.entries = list(entries)
        self.options = AudioLoadOptions(sample_rate=sample_rate)
        self.length = None if crop_seconds is None else int(round(crop_seconds * sample_rate))
        self.targets = None if targets is None else torch.as_tensor(np.asarray(targets, dtype=np.float32))
        self.domains = {k: torch.as_tensor(np.asarray(v, dtype=np.int64)) for k, v in (domains or {}).items()}

    def __len__(self) -> int:
        return len(self.entries)

    def load(self, index: int) -> torch.Tensor:
        entry = self.entries[index]
        samples, _ = load_audio(entry.path, self.options, entry.start_time, entry.end_time)
        audio = samples[0] if self.length is None else repeat_crop(samples[0], self.length)
        return torch.from_numpy(np.ascontiguousarray(audio))

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"inputs": self.load(index), "domains": {k: v[index] for k, v in self.domains.items()}}
        if self.targets is not None:
            item["targets"] = self.targets[index]
        return item


def pad_collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch variable-length waveforms: zero-padded [B, T] plus "lengths" [B]."""
    lengths = torch.tensor([item["inputs"].shape[-1] for item in items])
    inputs = torch.zeros(len(items), int(lengths.max()))
    for row, item in enumerate(items):
        inputs[row, : item["inputs"].shape[-1]] = item["inputs"]
    batch: dict[str, Any] = {"inputs": inputs, "lengths": lengths}
    if "targets" in items[0]:
        batch["targets"] = torch.stack([item["targets"] for item in items])
    batch["domains"] = {k: torch.stack([item["domains"][k] for item in items]) for k in items[0]["domains"]}
    return batch
