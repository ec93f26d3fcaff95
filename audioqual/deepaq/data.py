"""DeePAQ training data: the surrogate-label manifest, source-disjoint splits, and batches of clips.

One manifest row per clip (coded or clean); field names are set in
DataConfig (defaults: those of `audioqual degrade` + `audioqual label`). A
row is clean when its codec is "clean" or its bitrate is +inf; a row without
a bitrate (an effect such as low-pass or noise) takes part in the ViSQOL
ranking only. Unreadable clips are skipped with a warning during
training rather than stopping it.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from audioqual.data.manifest import ManifestEntry, read_manifest
from audioqual.deepaq.config import DataConfig
from audioqual.errors import AudioqualError, ManifestError
from audioqual.io import AudioLoadOptions, load_audio
from audioqual.losses.rank_n_contrast import CLEAN_CODEC, NO_CODEC

log = logging.getLogger(__name__)

CLEAN_NAMES = {"clean", "original", "reference", "ref"}
VALIDATION_SPLITS = {"val", "valid", "validation", "dev"}


@dataclass(frozen=True)
class TrainingClip:
    """One clip of the training set: its manifest entry (file, segment, metadata) and its surrogate labels."""

    entry: ManifestEntry
    reference: str | None
    codec: str | None  # None: clean
    bitrate: float  # kbit/s; +inf for clean clips, NaN when the degradation has no bitrate
    source: str
    mos: float
    split: str | None = None

    @property
    def path(self) -> str:
        return self.entry.path

    @property
    def is_clean(self) -> bool:
        return self.codec is None

    def audio_entry(self) -> ManifestEntry:
        """The clip's file and segment alone (no metadata: its item id is the path, or path@segment)."""
        return ManifestEntry(self.entry.path, self.entry.start_time, self.entry.end_time)


def _parse_bitrate(value: Any, where: str) -> float:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return math.nan
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "infinity", "+infinity"):
        return math.inf
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ManifestError(f"{where}: bitrate {value!r} is not a number (use inf for clean clips)") from err
    if math.isnan(number) or number <= 0:
        raise ManifestError(f"{where}: bitrate {value!r} must be positive (inf for clean clips)")
    return number


def read_training_manifest(path: str | Path, config: DataConfig) -> list[TrainingClip]:
    """Parse a surrogate-label manifest into TrainingClips; ManifestError names the row and field."""
    path = Path(path)
    clips = []
    for index, entry in enumerate(read_manifest(path, path_key=config.path_field), start=1):
        where = f"{path} row {index} ({entry.path})"
        meta = entry.metadata
        codec_value = meta.get(config.codec_field)
        bitrate = _parse_bitrate(meta.get(config.bitrate_field), where)
        codec = None if codec_value is None else str(codec_value).strip().lower()
        clean = (codec is not None and codec in CLEAN_NAMES) or math.isinf(bitrate)
        if clean:
            codec, bitrate = None, math.inf
        elif not codec:
            codec, bitrate = "other", math.nan
        label = meta.get(config.label_field)
        if label is None or label == "":
            if clean and config.clean_label is not None:
                label = config.clean_label
            else:
                raise ManifestError(f"{where}: no {config.label_field!r} label")
        try:
            mos = float(label)
        except (TypeError, ValueError) as err:
            raise ManifestError(f"{where}: {config.label_field} {label!r} is not a number") from err
        if not math.isfinite(mos):
            raise ManifestError(f"{where}: {config.label_field} {label!r} is not finite")
        reference = entry.resolve_path(config.reference_field)
        source = meta.get(config.source_field)
        source = str(source) if source not in (None, "") else str(reference or entry.path)
        split = meta.get(config.split_field)
        split = str(split).strip().lower() if split not in (None, "") else None
        clips.append(TrainingClip(entry, reference, codec, bitrate, source, mos, split))
    if not clips:
        raise ManifestError(f"{path}: training manifest has no rows")
    return clips


def split_by_source(
    clips: Sequence[TrainingClip], val_fraction: float, seed: int = 0
) -> tuple[list[TrainingClip], list[TrainingClip]]:
    """Hold out about val_fraction of the sources (all their clips): no clean audio is shared."""
    sources = sorted({c.source for c in clips})
    random.Random(seed).shuffle(sources)
    count = min(max(1, round(len(sources) * val_fraction)), len(sources) - 1) if val_fraction > 0 else 0
    if len(sources) < 2 and val_fraction > 0:
        raise AudioqualError("cannot hold out a validation split: the manifest has a single source")
    held_out = set(sources[:count])
    return [c for c in clips if c.source not in held_out], [c for c in clips if c.source in held_out]


class CodecVocabulary:
    """Codec name -> id for the loss (clean: CLEAN_CODEC; no bitrate: NO_CODEC)."""

    def __init__(self, codecs: Sequence[str]):
        self.names = sorted(set(codecs))
        self.ids = {name: i for i, name in enumerate(self.names)}

    @classmethod
    def from_clips(cls, clips: Sequence[TrainingClip]) -> CodecVocabulary:
        return cls([c.codec for c in clips if c.codec is not None])

    def id_of(self, clip: TrainingClip) -> int:
        if clip.is_clean:
            return CLEAN_CODEC
        if math.isnan(clip.bitrate) or clip.codec not in self.ids:
            return NO_CODEC
        return self.ids[clip.codec]


class ClipDataset(Dataset):
    """Waveform clips at the backbone rate, cropped (randomly when `random_crop`) or zero-padded."""

    def __init__(
        self,
        clips: Sequence[TrainingClip],
        vocabulary: CodecVocabulary,
        sample_rate: int,
        clip_seconds: float,
        random_crop: bool = True,
        minimum_samples: int = 400,
    ):
        self.clips = list(clips)
        self.vocabulary = vocabulary
        self.options = AudioLoadOptions(sample_rate=sample_rate, channels="downmix")
        self.clip_samples = max(int(round(clip_seconds * sample_rate)), minimum_samples)
        self.random_crop = random_crop

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        clip = self.clips[index]
        try:
            samples, _ = load_audio(clip.path, self.options, clip.entry.start_time, clip.entry.end_time)
        except AudioqualError as err:
            log.warning("skipping training clip: %s", err)
            return None
        audio = samples[0]
        if audio.shape[0] > self.clip_samples:
            start = random.randint(0, audio.shape[0] - self.clip_samples) if self.random_crop else 0
            audio = audio[start : start + self.clip_samples]
        length = audio.shape[0]
        if length < self.clip_samples:
            audio = np.pad(audio, (0, self.clip_samples - length))
        return {
            "inputs": torch.from_numpy(np.ascontiguousarray(audio)),
            "lengths": torch.tensor(length),
            "index": torch.tensor(index),
            **label_tensors(clip, self.vocabulary),
        }


class FeatureDataset(Dataset):
    """Pre-extracted time-pooled hidden states [L, D] per clip (frozen backbone)."""

    def __init__(self, clips: Sequence[TrainingClip], features: np.ndarray, vocabulary: CodecVocabulary):
        self.clips = list(clips)
        self.features = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        self.vocabulary = vocabulary

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            "inputs": self.features[index],
            "index": torch.tensor(index),
            **label_tensors(self.clips[index], self.vocabulary),
        }


def label_tensors(clip: TrainingClip, vocabulary: CodecVocabulary) -> dict[str, torch.Tensor]:
    return {
        "mos": torch.tensor(clip.mos, dtype=torch.float64),
        "bitrate": torch.tensor(clip.bitrate, dtype=torch.float64),
        "codec": torch.tensor(vocabulary.id_of(clip), dtype=torch.long),
    }


def collate(items: list[dict[str, Any] | None]) -> dict[str, torch.Tensor]:
    """Stack the items that loaded (unreadable clips come as None and are dropped)."""
    items = [item for item in items if item is not None]
    if not items:
        return {}
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}
