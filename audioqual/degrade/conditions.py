"""Degradation conditions (codec at a bitrate, or an extra effect), which clips get which, and applying one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from audioqual.degrade import effects
from audioqual.io.align import estimate_lag, remove_lag
from audioqual.degrade.codecs import code_round_trip
from audioqual.degrade.config import DegradeConfig
from audioqual.degrade.split import stable_unit

LAG_NOISE_SAMPLES = 2
"""Residual lags up to this size are estimation noise, not codec delay: FFmpeg's containers remove
the delay exactly, but a codec that keeps only the low band (AAC or MP3 at 16 kbps) leaves a
correlation peak that coding noise can tip by a sample. Unhandled delays are hundreds of samples
(AAC priming 1024, Opus pre-skip 312, LAME 1105)."""

CLEAN_KIND = "clean"
CODEC_KIND = "codec"


@dataclass(frozen=True)
class Condition:
    """One way of degrading a clip; `name` is unique within a run and names the output file."""

    name: str
    kind: str  # clean | codec | lowpass | noise | clipping | dropout
    codec: str | None = None
    bitrate_kbps: float | None = None
    level: float | None = None  # cut-off Hz, SNR dB, clip level or loss rate

    def manifest_fields(self) -> dict[str, Any]:
        """Label columns of a manifest row: clean clips carry bitrate = infinity (seed 003)."""
        is_clean = self.kind == CLEAN_KIND
        return {
            "condition": self.name,
            "degradation": self.kind,
            "codec": CLEAN_KIND if is_clean else self.codec,
            "bitrate_kbps": math.inf if is_clean else self.bitrate_kbps,
            "level": self.level,
        }


CLEAN = Condition("clean", CLEAN_KIND)


@dataclass(frozen=True)
class Applied:
    """A degraded clip and what was measured while making it."""

    samples: np.ndarray  # (channels, clip frames)
    info: dict[str, Any]


def build_conditions(config: DegradeConfig) -> list[Condition]:
    """Every non-clean condition of a config: codec x bitrate ladder, then the extra effects."""
    conditions = [
        Condition(f"{codec}_{b:g}k", CODEC_KIND, codec=codec, bitrate_kbps=float(b))
        for codec in config.codecs
        for b in config.bitrates_kbps
    ]
    fx = config.effects
    conditions += [Condition(f"lowpass_{f:g}hz", "lowpass", level=float(f)) for f in fx.lowpass_hz]
    conditions += [Condition(f"noise_{s:g}db", "noise", level=float(s)) for s in fx.noise_snr_db]
    conditions += [Condition(f"clip_{c:g}", "clipping", level=float(c)) for c in fx.clip_levels]
    conditions += [Condition(f"dropout_{r:g}", "dropout", level=float(r)) for r in fx.dropout_rates]
    return conditions


def conditions_for_clip(
    clip_key: str, conditions: list[Condition], assignment: str, clean_fraction: float, seed: int
) -> list[Condition]:
    """Conditions one clip is rendered in (the clean clip itself is always written as reference).

    "all": clean plus every condition. "random" (seed 003's disjoint subsets per codec
    and bitrate): clean with probability `clean_fraction`, else one condition drawn
    uniformly by a seeded hash of the clip key.
    """
    if assignment == "all":
        return [CLEAN, *conditions]
    if not conditions or stable_unit("clean", seed, clip_key) < clean_fraction:
        return [CLEAN]
    pick = int(stable_unit("condition", seed, clip_key) * len(conditions))
    return [conditions[pick]]


def apply_condition(
    condition: Condition,
    segment: np.ndarray,
    clip_offset: int,
    clip_frames: int,
    rate: int,
    rng: np.random.Generator,
    max_lag: int = 0,
    dropout_frame_ms: float = 20.0,
) -> Applied:
    """Degrade the clip at [clip_offset, clip_offset + clip_frames) of a context `segment`.

    Codecs and the low-pass filter process the whole segment, so the clip carries
    no start-up transient; a residual codec delay within +-max_lag samples (beyond
    LAG_NOISE_SAMPLES) is found by cross-correlation and removed. Memoryless effects act on the clip alone.
    """
    clip = segment[:, clip_offset : clip_offset + clip_frames]
    if condition.kind == CLEAN_KIND:
        return Applied(np.array(clip, dtype=np.float32), {})
    if condition.kind == CODEC_KIND:
        trip = code_round_trip(segment, rate, condition.codec, condition.bitrate_kbps)
        lag = estimate_lag(segment, trip.samples, max_lag)
        lag = lag if abs(lag) > LAG_NOISE_SAMPLES else 0
        out = remove_lag(trip.samples, lag, clip_offset, clip_frames)
        return Applied(out, {"coded_kbps": round(trip.coded_kbps, 3), "align_lag_samples": lag})
    if condition.kind == "lowpass":
        filtered = effects.lowpass(segment, rate, condition.level)
        return Applied(filtered[:, clip_offset : clip_offset + clip_frames], {})
    if condition.kind == "noise":
        return Applied(effects.add_noise(clip, condition.level, rng), {})
    if condition.kind == "clipping":
        return Applied(effects.hard_clip(clip, condition.level), {})
    if condition.kind == "dropout":
        out, lost = effects.dropouts(clip, rate, condition.level, rng, dropout_frame_ms)
        return Applied(out, {"lost_frames": int(lost.sum())})
    raise ValueError(f"unknown condition kind {condition.kind!r}")


def condition_rng(seed: int, clip_key: str, condition: Condition) -> np.random.Generator:
    """Random generator of one clip and condition, independent of processing order."""
    return np.random.default_rng(int(stable_unit("rng", seed, clip_key, condition.name) * 2**63))
