"""Backbone feature extraction over manifests, through the feature cache.

Audio is decoded in background threads while the model runs; clips of equal
length are batched together (exact: no padding enters the model), and clips
longer than `chunk_seconds` go through the backbone's chunked encoder. Each
result is cached as soon as it exists, and a bad file is recorded and skipped.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from audioqual.arrays import repeat_crop
from audioqual.backbones import Backbone
from audioqual.data.manifest import ManifestEntry
from audioqual.errors import AudioInputError, AudioqualError
from audioqual.features.cache import CacheKey, FeatureCache, file_content_hash
from audioqual.io import AudioLoadOptions, load_audio

log = logging.getLogger(__name__)

Pooling = Literal["mean", "frames"]


@dataclass(frozen=True)
class FeatureSpec:
    """Which hidden states to keep and how to pool them over time."""

    layers: tuple[int, ...] | None = None  # None: every hidden state
    pooling: Pooling = "mean"
    chunk_seconds: float = 30.0
    crop_seconds: float | None = None  # repeat each clip to this length and keep its start (fixed frame count)

    def __post_init__(self) -> None:
        if self.pooling not in ("mean", "frames"):
            raise ValueError(f"pooling must be 'mean' or 'frames', got {self.pooling!r}")
        if self.crop_seconds is not None and self.crop_seconds <= 0:
            raise ValueError(f"crop_seconds must be positive, got {self.crop_seconds}")


@dataclass
class ExtractionResult:
    """Where each item's features live, and which items failed."""

    cache: FeatureCache
    digests: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    computed: int = 0
    reused: int = 0
    audio_seconds: float = 0.0

    def get(self, item_id: str) -> np.ndarray:
        """Features of one item: [L, D] (mean pooling) or [L, F, D] (frames)."""
        if item_id in self.failures:
            raise AudioqualError(f"{item_id}: no features ({self.failures[item_id]})")
        array = self.cache.load(self.digests[item_id])
        if array is None:
            raise AudioqualError(f"{item_id}: cached features disappeared from {self.cache.root}")
        return array

    def stack(self, item_ids: Sequence[str]) -> np.ndarray:
        """Mean-pooled features of several items as one [N, L, D] array."""
        return np.stack([self.get(i) for i in item_ids])


def load_options_for(backbone: Backbone, base: AudioLoadOptions | None = None) -> AudioLoadOptions:
    """Loading options that deliver mono audio at the backbone's rate."""
    base = base or AudioLoadOptions()
    return AudioLoadOptions(
        sample_rate=backbone.sample_rate,
        channels="downmix",
        normalization=base.normalization,
        target_db=base.target_db,
        allow_silence=base.allow_silence,
    )


def extract_features(
    entries: Sequence[ManifestEntry],
    backbone: Backbone,
    cache: FeatureCache,
    spec: FeatureSpec | None = None,
    load_options: AudioLoadOptions | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    loader_threads: int | None = None,
    progress: bool = True,
) -> ExtractionResult:
    """Make sure every entry's features are in the cache; returns where they are."""
    spec = spec or FeatureSpec()
    options = load_options_for(backbone, load_options)
    device = torch.device(device) if device is not None else next(backbone.parameters()).device
    backbone = backbone.to(device).eval()
    _check_layers(spec, backbone)
    loader_threads = loader_threads or min(8, os.cpu_count() or 1)
    result = ExtractionResult(cache=cache)
    key_fields = (options.cache_token(), backbone.fingerprint(), spec.layers, _pooling_token(spec))

    todo: list[ManifestEntry] = []
    for entry in entries:
        try:
            audio_hash = file_content_hash(entry.path)
        except OSError as err:
            result.failures[entry.item_id] = f"{entry.path}: cannot read file ({err.strerror or err})"
            continue
        digest = CacheKey(audio_hash, (entry.start_time, entry.end_time), *key_fields).digest()
        result.digests[entry.item_id] = digest
        if digest in cache:
            result.reused += 1
        else:
            todo.append(entry)

    crop = None
    if spec.crop_seconds is not None:
        crop = max(int(round(spec.crop_seconds * backbone.sample_rate)), backbone.minimum_samples())
    bar = tqdm(total=len(todo), desc=f"extract {backbone.name}", unit="clip", disable=not progress or None)
    with ThreadPoolExecutor(max_workers=max(loader_threads, 1)) as pool:
        clips = _prefetch(pool, todo, options, result, loader_threads * 4, crop, backbone.minimum_samples())
        for batch in _batches(clips, batch_size):
            features = _run_batch(backbone, [audio for _, audio in batch], spec, device)
            for (entry, audio), array in zip(batch, features):
                cache.save(
                    result.digests[entry.item_id],
                    array,
                    {"path": entry.path, "backbone": backbone.name, "layers": spec.layers, "pooling": spec.pooling},
                )
                result.computed += 1
                result.audio_seconds += audio.shape[0] / backbone.sample_rate
            bar.update(len(batch))
    bar.close()
    for item_id in result.failures:
        result.digests.pop(item_id, None)
    return result


def _check_layers(spec: FeatureSpec, backbone: Backbone) -> None:
    for layer in spec.layers or ():
        if not -backbone.num_hidden_states <= layer < backbone.num_hidden_states:
            raise AudioqualError(
                f"layer {layer} out of range: {backbone.name} has {backbone.num_hidden_states} hidden states"
            )


def _pooling_token(spec: FeatureSpec) -> str:
    token = spec.pooling if spec.pooling == "frames" else f"mean;chunk={spec.chunk_seconds}"
    return token if spec.crop_seconds is None else f"{token};repeat-crop={spec.crop_seconds}"


def _prefetch(
    pool: ThreadPoolExecutor,
    entries: Sequence[ManifestEntry],
    options: AudioLoadOptions,
    result: ExtractionResult,
    depth: int,
    crop: int | None = None,
    minimum: int = 1,
) -> Iterator[tuple[ManifestEntry, np.ndarray]]:
    """Decode entries in background threads, in order, at most `depth` ahead (repeat-cropped to `crop`).

    A clip shorter than the backbone's receptive field (`minimum` samples) is an input error naming the file:
    its features would come from padding.
    """

    def load(entry: ManifestEntry) -> np.ndarray:
        samples, _ = load_audio(entry.path, options, entry.start_time, entry.end_time)
        if crop is not None:
            return repeat_crop(samples[0], crop)
        if samples.shape[1] < minimum:
            raise AudioInputError(entry.path, f"too short: {samples.shape[1]} samples at {options.sample_rate} Hz; "
                                  f"the backbone needs at least {minimum} ({minimum / options.sample_rate:.3f} s)")
        return samples[0]

    pending = []
    iterator = iter(entries)
    for entry in iterator:
        pending.append((entry, pool.submit(load, entry)))
        if len(pending) >= depth:
            break
    while pending:
        entry, future = pending.pop(0)
        next_entry = next(iterator, None)
        if next_entry is not None:
            pending.append((next_entry, pool.submit(load, next_entry)))
        try:
            yield entry, future.result()
        except AudioqualError as err:
            result.failures[entry.item_id] = str(err)
            log.warning("skipping %s", err)
        except Exception as err:  # noqa: BLE001 - one unreadable file must not stop extraction
            result.failures[entry.item_id] = f"{entry.path}: {type(err).__name__}: {err}"
            log.warning("skipping %s: %s", entry.path, err)


def _batches(
    items: Iterator[tuple[ManifestEntry, np.ndarray]], batch_size: int
) -> Iterator[list[tuple[ManifestEntry, np.ndarray]]]:
    """Group equal-length clips (up to batch_size); flush groups as they fill."""
    groups: dict[int, list[tuple[ManifestEntry, np.ndarray]]] = defaultdict(list)
    for entry, audio in items:
        group = groups[audio.shape[0]]
        group.append((entry, audio))
        if len(group) >= batch_size:
            yield groups.pop(audio.shape[0])
    yield from (group for group in groups.values() if group)


@torch.inference_mode()
def _run_batch(backbone: Backbone, clips: list[np.ndarray], spec: FeatureSpec, device: torch.device) -> list[np.ndarray]:
    longest = max(c.shape[0] for c in clips)
    if longest > spec.chunk_seconds * backbone.sample_rate:
        return [_run_long(backbone, clip, spec, device) for clip in clips]
    waveforms = torch.from_numpy(np.stack(clips)).to(device)
    hidden = backbone(waveforms).hidden_states  # [L, B, F, D]
    hidden = _select(hidden, spec.layers)
    if spec.pooling == "mean":
        pooled = hidden.mean(dim=2).transpose(0, 1)  # [B, L, D]
        return list(pooled.float().cpu().numpy())
    return list(hidden.transpose(0, 1).float().cpu().numpy())  # [B, L, F, D]


def _run_long(backbone: Backbone, clip: np.ndarray, spec: FeatureSpec, device: torch.device) -> np.ndarray:
    waveform = torch.from_numpy(clip).to(device)
    states = backbone.encode_long(waveform, spec.chunk_seconds, keep_frames=spec.pooling == "frames")
    return _select(states, spec.layers).float().cpu().numpy()


def _select(states: torch.Tensor, layers: tuple[int, ...] | None) -> torch.Tensor:
    return states if layers is None else states[list(layers)]
