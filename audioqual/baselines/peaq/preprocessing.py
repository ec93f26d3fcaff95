"""Pre-processing of excitation patterns (ITU-R BS.1387-1 section 3): level and pattern
adaptation, and modulation patterns.

Level adaptation scales one signal so the two smoothed excitation levels match; pattern
adaptation then corrects, per band, for linear distortions by the ratio of the smoothed
cross- and auto-correlations, averaged over neighbouring bands. Modulation patterns
measure the smoothed absolute change of loudness-compressed excitation per band.
Arrays are shaped (..., frames, bands), frames on axis -2.
"""

from __future__ import annotations

import numpy as np

from audioqual.baselines.peaq.ear_model import FRAME_RATE, NUM_BANDS, recursive_smooth, time_constants

ADAPTATION_TAU_100 = 0.050
ADAPTATION_TAU_MIN = 0.008
PATTERN_BANDS_BELOW = 3  # M1 of the Basic version
PATTERN_BANDS_ABOVE = 4  # M2 of the Basic version
MODULATION_EXPONENT = 0.3


def band_averaging_matrix(
    num_bands: int = NUM_BANDS, below: int = PATTERN_BANDS_BELOW, above: int = PATTERN_BANDS_ABOVE
) -> np.ndarray:
    """(source, target) matrix A with (x @ A)[k] the mean of x over bands max(k-M1, 0) .. min(k+M2, Z-1)."""
    k = np.arange(num_bands)
    source, target = k[:, None], k[None, :]
    inside = (source >= target - below) & (source <= target + above)
    return inside / inside.sum(axis=0, keepdims=True)


def level_pattern_adaptation(
    reference: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Spectrally adapted patterns (EP_ref, EP_test) of excitation patterns (..., frames, bands)."""
    a = time_constants(ADAPTATION_TAU_100, ADAPTATION_TAU_MIN)
    b = 1.0 - a
    smoothed_ref = recursive_smooth(reference, a, b)
    smoothed_test = recursive_smooth(test, a, b)
    correlation = (
        np.sqrt(smoothed_ref * smoothed_test).sum(axis=-1) / smoothed_test.sum(axis=-1)
    ) ** 2
    correlation = correlation[..., None]
    louder_ref = correlation > 1.0
    level_ref = np.where(louder_ref, reference / correlation, reference)
    level_test = np.where(louder_ref, test, test * correlation)

    cross = recursive_smooth(level_test * level_ref, a, 1.0)
    auto = recursive_smooth(level_ref * level_ref, a, 1.0)
    test_dominant = cross >= auto
    ratio_ref = np.where(test_dominant, 1.0, cross / auto)
    ratio_test = np.where(test_dominant, auto / cross, 1.0)
    averaging = band_averaging_matrix(reference.shape[-1])
    correction_ref = recursive_smooth(ratio_ref @ averaging, a, b)
    correction_test = recursive_smooth(ratio_test @ averaging, a, b)
    return level_ref * correction_ref, level_test * correction_test


def modulation(unsmeared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(modulation patterns, average loudness) of unsmeared excitation patterns (..., frames, bands).

    E^0.3 is the loudness-compressed excitation; the modulation is the smoothed
    |dE^0.3/dt| divided by 1 + (smoothed E^0.3) / 0.3.
    """
    a = time_constants(ADAPTATION_TAU_100, ADAPTATION_TAU_MIN)
    b = 1.0 - a
    compressed = np.power(unsmeared, MODULATION_EXPONENT)
    previous = np.concatenate([np.zeros_like(compressed[..., :1, :]), compressed[..., :-1, :]], axis=-2)
    change = recursive_smooth(FRAME_RATE * np.abs(compressed - previous), a, b)
    average = recursive_smooth(compressed, a, b)
    return change / (1.0 + average / 0.3), average
