"""Audio loading with one clear error type for every kind of bad input.

soundfile reads WAV/FLAC/OGG (and whatever libsndfile supports); anything
else is decoded through ffmpeg. Samples come back as float32 of shape
(channels, frames), resampled with soxr when a target rate is given.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audioqual.errors import AudioInputError
from audioqual.io.ffmpeg import ffmpeg_executable

FFMPEG_TIMEOUT_S = 300
"""Longest time one ffmpeg decode may take before the file counts as undecodable."""
SILENCE_PEAK = 1e-6
"""Peak amplitude below which a signal counts as all-silence."""


class ChannelPolicy(str, Enum):
    """How multichannel input is turned into the channels a model sees."""

    DOWNMIX = "downmix"  # average all channels into one
    KEEP = "keep"  # keep every channel as it is
    STEREO = "stereo"  # exactly two channels: mono is duplicated, >2 is an error
    FIRST = "first"  # the first channel only


class Normalization(str, Enum):
    """Level normalisation applied after loading."""

    NONE = "none"
    PEAK = "peak"  # scale so that the peak sits at target_db dBFS
    RMS = "rms"  # scale to target_db dBFS RMS, but never push the peak above -0.1 dBFS


@dataclass(frozen=True)
class AudioLoadOptions:
    """Everything that decides which samples a file turns into."""

    sample_rate: int | None = None
    channels: ChannelPolicy = ChannelPolicy.DOWNMIX
    normalization: Normalization = Normalization.NONE
    target_db: float = -1.0
    allow_silence: bool = False

    def cache_token(self) -> str:
        """A stable string that identifies these options in cache keys."""
        return (
            f"sr={self.sample_rate};ch={ChannelPolicy(self.channels).value};"
            f"norm={Normalization(self.normalization).value};db={self.target_db};"
            f"silence={self.allow_silence}"
        )


SOUNDFILE_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".caf", ".w64", ".rf64"}
FFMPEG_EXTENSIONS = {".mp3", ".m4a", ".aac", ".mp4", ".opus", ".webm", ".wma", ".mka", ".mkv", ".ac3", ".amr"}


def load_audio(
    path: str | Path,
    options: AudioLoadOptions | None = None,
    start_time: float | None = None,
    end_time: float | None = None,
) -> tuple[np.ndarray, int]:
    """Load a file as float32 samples of shape (channels, frames) and its rate.

    start_time/end_time (seconds) select a segment. Raises AudioInputError
    naming the file for missing, empty, corrupt, non-finite, silent or
    unsupported input.
    """
    samples, rate = decode_audio(path, start_time, end_time)
    return prepare_samples(samples, rate, options or AudioLoadOptions(), source=Path(path))


def decode_audio(
    path: str | Path, start_time: float | None = None, end_time: float | None = None
) -> tuple[np.ndarray, int]:
    """The file's (segment's) samples as decoded, (channels, frames) at its own rate, before `prepare_samples`.

    `load_audio` is this followed by `prepare_samples`: decoding once and preparing
    for several options gives the same samples as loading once per option.
    """
    path = Path(path)
    if not path.exists():
        raise AudioInputError(path, "file does not exist")
    if path.is_dir():
        raise AudioInputError(path, "is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioInputError(path, "file is empty (0 bytes)")
    return _decode(path, start_time, end_time)


def prepare_samples(
    samples: np.ndarray, rate: int, options: AudioLoadOptions, source: str | Path = "<array>"
) -> tuple[np.ndarray, int]:
    """Validate, remix, resample and normalise decoded (channels, frames) samples."""
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[None, :]
    if samples.ndim != 2:
        raise AudioInputError(source, f"expected (channels, frames) samples, got shape {samples.shape}")
    if samples.shape[1] == 0:
        raise AudioInputError(source, "contains no audio frames (zero length)")
    if rate <= 0:
        raise AudioInputError(source, f"invalid sample rate {rate}")
    samples = samples.astype(np.float32, copy=False)
    if not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise AudioInputError(source, f"contains {bad} NaN or Inf sample(s)")
    if not options.allow_silence and float(np.abs(samples).max()) < SILENCE_PEAK:
        raise AudioInputError(source, "is all silence (peak below 1e-6): nothing to score "
                                      "(from Python, AudioLoadOptions(allow_silence=True) accepts it)")

    samples = _apply_channel_policy(samples, ChannelPolicy(options.channels), source)
    if options.sample_rate is not None and options.sample_rate != rate:
        frames = samples.shape[1]
        samples = resample(samples, rate, options.sample_rate)
        if samples.shape[1] == 0:
            raise AudioInputError(
                source, f"too short to resample from {rate} Hz to {options.sample_rate} Hz ({frames} frame(s))"
            )
        rate = options.sample_rate
    samples = normalize_level(samples, Normalization(options.normalization), options.target_db)
    return np.ascontiguousarray(samples, dtype=np.float32), rate


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample (channels, frames) samples with soxr's high-quality filter."""
    if rate_in == rate_out:
        return samples
    out = soxr.resample(np.ascontiguousarray(samples.T), rate_in, rate_out, quality="HQ")
    if out.ndim == 1:
        out = out[:, None]
    return np.ascontiguousarray(out.T, dtype=np.float32)


def normalize_level(samples: np.ndarray, mode: Normalization, target_db: float) -> np.ndarray:
    """Scale samples to a target level; a silent signal is returned unchanged."""
    if mode is Normalization.NONE:
        return samples
    peak = float(np.abs(samples).max())
    if peak == 0.0:
        return samples
    target = 10.0 ** (target_db / 20.0)
    if mode is Normalization.PEAK:
        gain = target / peak
    else:
        rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
        gain = min(target / rms, 10.0 ** (-0.1 / 20.0) / peak)
    return samples * np.float32(gain)


def audio_info(path: str | Path) -> tuple[int, int, float]:
    """(sample rate, channels, duration in seconds) without decoding the whole file."""
    path = Path(path)
    if not path.exists():
        raise AudioInputError(path, "file does not exist")
    try:
        info = sf.info(str(path))
        return int(info.samplerate), int(info.channels), float(info.frames) / info.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError):
        samples, rate = _decode(path, None, None)
        return rate, samples.shape[0], samples.shape[1] / rate


def _apply_channel_policy(samples: np.ndarray, policy: ChannelPolicy, source: str | Path) -> np.ndarray:
    if policy is ChannelPolicy.KEEP:
        return samples
    if policy is ChannelPolicy.DOWNMIX:
        return samples.mean(axis=0, keepdims=True) if samples.shape[0] > 1 else samples
    if policy is ChannelPolicy.FIRST:
        return samples[:1]
    if samples.shape[0] == 1:
        return np.repeat(samples, 2, axis=0)
    if samples.shape[0] == 2:
        return samples
    raise AudioInputError(source, f"has {samples.shape[0]} channels; the 'stereo' policy accepts 1 or 2")


def _decode(path: Path, start_time: float | None, end_time: float | None) -> tuple[np.ndarray, int]:
    if start_time is not None and start_time < 0:
        raise AudioInputError(path, f"start_time {start_time} is negative")
    if start_time is not None and end_time is not None and end_time <= start_time:
        raise AudioInputError(path, f"end_time {end_time} is not after start_time {start_time}")
    suffix = path.suffix.lower()
    if suffix in FFMPEG_EXTENSIONS:
        return _decode_ffmpeg(path, start_time, end_time)
    try:
        return _decode_soundfile(path, start_time, end_time)
    except AudioInputError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        if suffix in SOUNDFILE_EXTENSIONS:
            raise AudioInputError(path, f"corrupt or unreadable {suffix} file ({_short(err)})") from err
        return _decode_ffmpeg(path, start_time, end_time)


def _decode_soundfile(path: Path, start_time: float | None, end_time: float | None) -> tuple[np.ndarray, int]:
    with sf.SoundFile(str(path)) as handle:
        rate = int(handle.samplerate)
        if rate <= 0:
            raise AudioInputError(path, f"header gives invalid sample rate {rate}")
        total = handle.frames
        start = int(round((start_time or 0.0) * rate))
        stop = total if end_time is None else min(total, int(round(end_time * rate)))
        if start >= total and total > 0:
            raise AudioInputError(path, f"start_time {start_time}s is past the end of the file ({total / rate:.3f}s)")
        if start:
            handle.seek(start)
        data = handle.read(frames=max(stop - start, 0), dtype="float32", always_2d=True)
    return data.T, rate


def _decode_ffmpeg(path: Path, start_time: float | None, end_time: float | None) -> tuple[np.ndarray, int]:
    command = [ffmpeg_executable(), "-nostdin", "-v", "error"]
    if start_time:
        command += ["-ss", f"{start_time:.6f}"]
    command += ["-i", str(path)]
    if end_time is not None:
        command += ["-t", f"{end_time - (start_time or 0.0):.6f}"]
    with tempfile.TemporaryDirectory(prefix="audioqual-decode-") as tmp:
        target = os.path.join(tmp, "decoded.wav")
        command += ["-vn", "-acodec", "pcm_f32le", "-f", "wav", target]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S)
        except subprocess.TimeoutExpired as err:
            raise AudioInputError(path, f"ffmpeg did not finish decoding within {FFMPEG_TIMEOUT_S} s") from err
        if result.returncode != 0 or not os.path.exists(target):
            message = (result.stderr or "").strip().splitlines()
            detail = message[-1] if message else f"ffmpeg exit code {result.returncode}"
            raise AudioInputError(path, f"unsupported or corrupt audio (ffmpeg: {detail})")
        try:
            data, rate = sf.read(target, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise AudioInputError(path, f"ffmpeg produced unreadable output ({_short(err)})") from err
    return data.T, int(rate)


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[-1] if text else type(err).__name__
