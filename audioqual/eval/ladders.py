"""Severity ladders: does a full-reference measure rank each degradation family from mild to severe?

No listener is needed to know that, for one clean clip and one kind of damage,
more damage is worse: lower bitrate, lower SNR, lower cut-off, more leakage.
`ladder_agreement` builds such ladders on clean clips and reports, per family,
the Spearman correlation between the measure and the severity order (1 = the
measure orders every rung correctly), averaged over clips.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Family:
    """A degradation family: rungs from mildest to most severe, and how to apply one rung."""

    name: str
    levels: tuple[float, ...]  # mildest first
    apply: Callable[[np.ndarray, np.ndarray, int, float, np.random.Generator], np.ndarray]


def _noise(clean, other, rate, snr_db, rng):
    from audioqual.degrade.effects import add_noise

    return add_noise(clean, snr_db, rng)


def _lowpass(clean, other, rate, cutoff, rng):
    from audioqual.degrade.effects import lowpass

    return lowpass(clean, rate, cutoff)


def _clipping(clean, other, rate, level, rng):
    from audioqual.degrade.effects import hard_clip

    return hard_clip(clean, level)


def _dropouts(clean, other, rate, loss, rng):
    from audioqual.degrade.effects import dropouts

    return dropouts(clean, rate, loss, rng)[0]


def _interference(clean, other, rate, sir_db, rng):
    from audioqual.degrade.separation import interference

    return interference(clean, other, sir_db)


def _noisy_mask(clean, other, rate, mask_noise, rng):
    from audioqual.degrade.separation import noisy_mask

    return noisy_mask(clean, other, 0.0, mask_noise, rng)


def _spectral_holes(clean, other, rate, fraction, rng):
    from audioqual.degrade.separation import spectral_holes

    return spectral_holes(clean, fraction, rng)


def _codec(codec: str):
    def apply(clean, other, rate, kbps, rng):
        from audioqual.degrade.codecs import code_round_trip

        return code_round_trip(clean, rate, codec, kbps).samples

    return apply


FAMILIES: tuple[Family, ...] = (
    Family("noise", (40.0, 30.0, 20.0, 10.0, 5.0, 0.0), _noise),
    Family("lowpass", (16000.0, 11000.0, 7000.0, 4500.0, 3000.0, 2000.0), _lowpass),
    Family("clipping", (0.7, 0.4, 0.2, 0.1, 0.05, 0.02), _clipping),
    Family("dropouts", (0.01, 0.03, 0.08, 0.15, 0.25, 0.4), _dropouts),
    Family("interference", (30.0, 20.0, 12.0, 6.0, 3.0, 0.0), _interference),
    Family("noisy_mask", (0.25, 0.5, 1.0, 2.0, 3.0, 4.0), _noisy_mask),
    Family("spectral_holes", (0.05, 0.1, 0.2, 0.35, 0.5, 0.7), _spectral_holes),
    Family("mp3", (256.0, 160.0, 96.0, 64.0, 40.0, 24.0), _codec("mp3")),
    Family("opus", (128.0, 64.0, 32.0, 20.0, 12.0, 8.0), _codec("opus")),
)


@dataclass
class LadderResult:
    """Per family: the mean over clips of SRCC(measure oriented so higher = better, -severity), and the values."""

    family: str
    srcc: float
    per_clip: list[float]
    values: list[list[float]]  # [clip][rung]


def ladder_agreement(
    measure: Callable[[np.ndarray, np.ndarray, int], float],
    clips: Sequence[np.ndarray],
    rate: int,
    families: Sequence[Family] = FAMILIES,
    higher_is_better: bool = True,
    seed: int = 0,
) -> list[LadderResult]:
    """Score every rung of every family on every clip (channels, frames); `other` clips give the interferers.

    `measure(reference, test, rate)` returns one number. The codec families need ffmpeg's encoders (an
    AudioqualError names a missing one).
    """
    from scipy.stats import spearmanr

    results = []
    for family in families:
        per_clip, values = [], []
        for index, clean in enumerate(clips):
            other = clips[(index + 1) % len(clips)]
            other = np.resize(other, clean.shape).astype(np.float32)
            rng = np.random.default_rng([seed, index])
            scores = [float(measure(clean, family.apply(clean, other, rate, level, rng), rate))
                      for level in family.levels]  # fmt: skip
            oriented = scores if higher_is_better else [-s for s in scores]
            per_clip.append(float(spearmanr(oriented, -np.arange(len(scores))).statistic))
            values.append(scores)
        results.append(LadderResult(family.name, float(np.nanmean(per_clip)), per_clip, values))
    return results
