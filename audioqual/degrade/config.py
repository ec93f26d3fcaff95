"""Configuration of the degradation job (DeePAQ's coded training data), as dataclasses.

Defaults follow seed 003: AAC, Opus and MP3 through FFmpeg at 16-128 kbps, 4 s clips,
24 kHz training audio. Load from YAML with `audioqual.config.load_config(DegradeConfig, ...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from audioqual.config import ConfigError
from audioqual.degrade.codecs import CODECS
from audioqual.io import ChannelPolicy

PAPER_BITRATES_KBPS = [16, 32, 48, 64, 80, 96, 128]
PAPER_CODECS = ["aac", "opus", "mp3"]
ASSIGNMENTS = ("all", "random")


@dataclass
class EffectsConfig:
    """Optional extra (non-codec) degradations; each list entry is one condition."""

    lowpass_hz: list[float] = field(default_factory=list)  # cut-off frequencies of an 8th-order Butterworth
    noise_snr_db: list[float] = field(default_factory=list)  # white noise at these SNRs over the clip
    clip_levels: list[float] = field(default_factory=list)  # hard-clip threshold as a fraction of the clip's peak
    dropout_rates: list[float] = field(default_factory=list)  # probability that a frame is lost (zeroed)
    dropout_frame_ms: float = 20.0  # frame length of the packet-loss model

    def validate(self) -> None:
        """Raise ConfigError for values that make no sense."""
        if any(f <= 0 for f in self.lowpass_hz):
            raise ConfigError(f"effects.lowpass_hz must be positive, got {self.lowpass_hz}")
        if any(not 0.0 < c < 1.0 for c in self.clip_levels):
            raise ConfigError(f"effects.clip_levels must lie in (0, 1), got {self.clip_levels}")
        if any(not 0.0 < r < 1.0 for r in self.dropout_rates):
            raise ConfigError(f"effects.dropout_rates must lie in (0, 1), got {self.dropout_rates}")
        if self.dropout_frame_ms <= 0:
            raise ConfigError(f"effects.dropout_frame_ms must be positive, got {self.dropout_frame_ms}")


@dataclass
class DegradeConfig:
    """Everything that decides which clips and coded variants a degrade run writes."""

    codecs: list[str] = field(default_factory=lambda: list(PAPER_CODECS))
    bitrates_kbps: list[int] = field(default_factory=lambda: list(PAPER_BITRATES_KBPS))
    effects: EffectsConfig = field(default_factory=EffectsConfig)
    clip_seconds: float = 4.0
    hop_seconds: float | None = None  # distance between clip starts; None: clip_seconds (no overlap)
    context_seconds: float = 0.5  # audio coded on each side of a clip, so clip edges carry no codec start-up
    max_clips_per_source: int | None = None
    min_clip_rms_db: float = -50.0  # quieter clips (silence, reverb tails) are skipped
    sample_rate: int = 24000  # rate of the written training clips (MERT's rate)
    fullband: bool = True  # also write 48 kHz copies, which the labeller (ViSQOL audio mode) reads
    channels: str = "keep"  # ChannelPolicy for sources; coding keeps stereo as stereo
    assignment: str = "all"  # "all": every clip in every condition; "random": one condition per clip (paper)
    clean_fraction: float = 0.1  # random assignment: share of clips kept clean (bitrate = infinity)
    validation_fraction: float = 0.1  # share of source files held out for validation
    seed: int = 0
    max_align_lag_ms: float = 50.0  # cross-correlation search range for residual codec delay; 0 disables
    subtype: str = "FLOAT"  # soundfile subtype of written WAVs (float keeps codec overshoot above 0 dBFS)
    workers: int = 2  # threads running ffmpeg round trips of one source in parallel

    def validate(self) -> None:
        """Raise ConfigError naming the first bad setting."""
        unknown = [c for c in self.codecs if c not in CODECS]
        if unknown:
            raise ConfigError(f"unknown codec(s) {unknown}; known: {sorted(CODECS)}")
        if self.codecs and not self.bitrates_kbps:
            raise ConfigError("bitrates_kbps is empty but codecs are given")
        if any(b <= 0 for b in self.bitrates_kbps):
            raise ConfigError(f"bitrates_kbps must be positive, got {self.bitrates_kbps}")
        if self.clip_seconds <= 0:
            raise ConfigError(f"clip_seconds must be positive, got {self.clip_seconds}")
        if self.hop_seconds is not None and self.hop_seconds <= 0:
            raise ConfigError(f"hop_seconds must be positive, got {self.hop_seconds}")
        if self.context_seconds < 0:
            raise ConfigError(f"context_seconds must be >= 0, got {self.context_seconds}")
        if self.max_clips_per_source is not None and self.max_clips_per_source < 1:
            raise ConfigError(f"max_clips_per_source must be >= 1, got {self.max_clips_per_source}")
        if self.sample_rate <= 0:
            raise ConfigError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.assignment not in ASSIGNMENTS:
            raise ConfigError(f"assignment must be one of {ASSIGNMENTS}, got {self.assignment!r}")
        if not 0.0 <= self.clean_fraction < 1.0:
            raise ConfigError(f"clean_fraction must lie in [0, 1), got {self.clean_fraction}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigError(f"validation_fraction must lie in [0, 1), got {self.validation_fraction}")
        if self.max_align_lag_ms < 0:
            raise ConfigError(f"max_align_lag_ms must be >= 0, got {self.max_align_lag_ms}")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        try:
            ChannelPolicy(self.channels)
        except ValueError as err:
            raise ConfigError(f"channels must be one of {[p.value for p in ChannelPolicy]}") from err
        self.effects.validate()
