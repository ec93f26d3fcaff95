"""Inputs of feature-based heads: fixed-length frame features and utterance embeddings.

MultiGauss reads one hidden state of a frozen SSL backbone at frame level for
a clip of fixed duration: the audio is repeated until it is long enough and
its first `seconds` are kept (the reference's "repetitive crop"), so every
clip gives the same number of frames. Results go through the shared feature
cache, keyed by audio content, segment, loading options, backbone weights,
layer and crop, so training and scoring extract each clip once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from audioqual.backbones import Backbone
from audioqual.data.manifest import ManifestEntry
from audioqual.device import resolve_device
from audioqual.features import ExtractionResult, FeatureCache, FeatureSpec, extract_features


@dataclass
class FrameFeatures:
    """Fixed-length frame features of items as [D, T] arrays (MultiGauss's layout), from the cache."""

    result: ExtractionResult
    frames: int | None = None
    channels: int | None = None

    @property
    def failures(self) -> dict[str, str]:
        return self.result.failures

    def get(self, item_id: str) -> np.ndarray:
        return np.ascontiguousarray(self.result.get(item_id)[0].T)


def crop_frame_features(
    entries: Sequence[ManifestEntry],
    backbone: Backbone,
    cache: FeatureCache,
    *,
    layer: int,
    seconds: float,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> FrameFeatures:
    """Hidden state `layer` of each clip, repeat-cropped to `seconds`, through the feature cache."""
    spec = FeatureSpec(layers=(layer,), pooling="frames", crop_seconds=seconds)
    result = extract_features(
        entries, backbone, cache, spec, batch_size=batch_size, device=resolve_device(device), progress=progress
    )
    features = FrameFeatures(result)
    if result.digests:
        features.channels, features.frames = features.get(next(iter(result.digests))).shape
    return features


def utterance_embeddings(
    entries: Sequence[ManifestEntry],
    backbone: Backbone,
    cache: FeatureCache,
    *,
    layer: int = -1,
    crop_seconds: float | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Time-mean of hidden state `layer` per clip (whole clip, or its first crop_seconds): for K-means."""
    targets = [_first_seconds(e, crop_seconds) for e in entries] if crop_seconds is not None else list(entries)
    result = extract_features(
        targets,
        backbone,
        cache,
        FeatureSpec(layers=(layer,), pooling="mean"),
        batch_size=batch_size,
        device=resolve_device(device),
        progress=progress,
    )
    embeddings: dict[str, np.ndarray] = {}
    failures: dict[str, str] = {}
    for original, target in zip(entries, targets):
        if target.item_id in result.failures:
            failures[original.item_id] = result.failures[target.item_id]
        else:
            embeddings[original.item_id] = result.get(target.item_id)[0]
    return embeddings, failures


def _first_seconds(entry: ManifestEntry, seconds: float) -> ManifestEntry:
    start = entry.start_time or 0.0
    end = start + seconds if entry.end_time is None else min(entry.end_time, start + seconds)
    return ManifestEntry(entry.path, entry.start_time, end, entry.metadata)
