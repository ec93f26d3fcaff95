"""Inputs of feature-based heads: fixed-length frame features and utterance embeddings.

MultiGauss reads one hidden state of a frozen SSL backbone at frame level for
a clip of fixed duration: the audio is repeated until it is long enough and
its first `seconds` are kept (the reference's "repetitive crop"), so every
clip gives the same number of frames. Results go through the shared feature
cache, keyed by audio content, segment, loading options, backbone weights,
layer and crop, so training and scoring extract each clip once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from audioqual.backbones import Backbone
from audioqual.data.manifest import ManifestEntry
from audioqual.errors import AudioqualError
from audioqual.features import CacheKey, FeatureCache, FeatureSpec, extract_features, file_content_hash
from audioqual.features.extract import load_options_for
from audioqual.io import load_audio
from audioqual.nr.device import resolve_device

log = logging.getLogger(__name__)


def repeat_crop(samples: np.ndarray, length: int) -> np.ndarray:
    """The clip repeated until it has `length` samples, then its first `length` (MultiGauss)."""
    if samples.shape[-1] == 0:
        raise ValueError("cannot repeat an empty clip")
    repeats = math.ceil(length / samples.shape[-1])
    return np.tile(samples, repeats)[..., :length] if repeats > 1 else samples[..., :length]


@dataclass
class FrameFeatures:
    """Fixed-length frame features [D, T] of items, stored in the cache."""

    cache: FeatureCache
    digests: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    frames: int | None = None
    channels: int | None = None

    def get(self, item_id: str) -> np.ndarray:
        if item_id in self.failures:
            raise AudioqualError(f"{item_id}: no features ({self.failures[item_id]})")
        array = self.cache.load(self.digests[item_id])
        if array is None:
            raise AudioqualError(f"{item_id}: cached features disappeared from {self.cache.root}")
        return array


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
    """Hidden state `layer` of each clip, repeat-cropped to `seconds`, as [D, T] arrays in the cache."""
    if not -backbone.num_hidden_states <= layer < backbone.num_hidden_states:
        raise AudioqualError(
            f"layer {layer} out of range: {backbone.name} has {backbone.num_hidden_states} hidden states"
        )
    device = resolve_device(device)
    backbone = backbone.to(device).eval()
    options = load_options_for(backbone)
    length = max(int(round(seconds * backbone.sample_rate)), backbone.minimum_samples())
    pooling = f"frames;repeat-crop={seconds};layout=DT"
    result = FrameFeatures(cache=cache)
    todo: list[ManifestEntry] = []
    for entry in entries:
        try:
            audio_hash = file_content_hash(entry.path)
        except OSError as err:
            result.failures[entry.item_id] = f"{entry.path}: cannot read file ({err.strerror or err})"
            continue
        key = CacheKey(
            audio_hash,
            (entry.start_time, entry.end_time),
            options.cache_token(),
            backbone.fingerprint(),
            (layer,),
            pooling,
        )
        result.digests[entry.item_id] = key.digest()
        if key.digest() not in cache:
            todo.append(entry)

    def load(entry: ManifestEntry) -> np.ndarray:
        samples, _ = load_audio(entry.path, options, entry.start_time, entry.end_time)
        return repeat_crop(samples[0], length)

    bar = tqdm(total=len(todo), desc=f"features {backbone.name} L{layer}", unit="clip", disable=not progress or None)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            futures = [(entry, pool.submit(load, entry)) for entry in batch]
            loaded = []
            for entry, future in futures:
                try:
                    loaded.append((entry, future.result()))
                except AudioqualError as err:
                    result.failures[entry.item_id] = str(err)
                    log.warning("skipping %s", err)
                except Exception as err:  # noqa: BLE001 - one unreadable file must not stop extraction
                    result.failures[entry.item_id] = f"{entry.path}: {type(err).__name__}: {err}"
                    log.warning("skipping %s: %s", entry.path, err)
            if loaded:
                with torch.inference_mode():
                    waveforms = torch.from_numpy(np.stack([audio for _, audio in loaded])).to(device)
                    states = backbone(waveforms).hidden_states[layer]  # [B, T, D]
                    arrays = states.transpose(1, 2).float().cpu().numpy()
                for (entry, _), array in zip(loaded, arrays):
                    cache.save(result.digests[entry.item_id], array, {"path": entry.path, "backbone": backbone.name})
            bar.update(len(batch))
    bar.close()
    for item_id in result.failures:
        result.digests.pop(item_id, None)
    for item_id in result.digests:
        shape = result.get(item_id).shape
        result.channels, result.frames = int(shape[0]), int(shape[1])
        break
    return result


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
