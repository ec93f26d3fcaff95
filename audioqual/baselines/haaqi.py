"""HAAQI (Kates & Arehart's Hearing-Aid Audio Quality Index) for normal hearing, via pyclarity.

pyclarity's `clarity.evaluator.haaqi.compute_haaqi` implements HAAQI v1
(Kates' MATLAB translated to Python). Seed 003 uses HAAQI with its hearing
loss simulation bypassed; here that means:

- a normal-hearing `Audiogram`: 0 dB HL at HAAQI's six audiometric
  frequencies (250, 500, 1000, 2000, 4000, 6000 Hz);
- `equalisation=2` ("NAL-R already applied"): for 0 dB HL NAL-R is a pure
  delay, and pyclarity's mode 1 would shift the reference by 70 samples
  against the test signal, costing an identical pair ~0.03;
- the reference presented at 65 dB SPL: `level1` (the dB SPL of a full-scale
  RMS of 1) is set to 65 - 20 log10(RMS of the reference), as the Cadenza
  challenge baselines do, so the score does not depend on digital level.

Inputs are resampled to exactly 24 kHz before the call (pyclarity rounds
rates to whole kHz and would treat 44.1 kHz as 44 kHz). Its auditory filter
bank spans 80 Hz - 8 kHz, so content above 8 kHz is ignored. Stereo pairs
are scored per channel and averaged; the signals are cut to the shorter
length and aligned by pyclarity's broadband cross-correlation. HAAQI adds
Gaussian noise at the auditory threshold (from numpy's global RNG); the RNG
is seeded for each call, so scores are reproducible.
"""

from __future__ import annotations

import numpy as np
from clarity.evaluator.haaqi import compute_haaqi
from clarity.utils.audiogram import Audiogram

from audioqual.errors import AudioqualError
from audioqual.io import resample
from audioqual.metrics.base import MetricInfo, PairMetric

HAAQI_RATE = 24000
NORMAL_HEARING = Audiogram(levels=np.zeros(6), frequencies=np.array([250, 500, 1000, 2000, 4000, 6000]))
VALID_RANGE = (
    "0..1 (1 = no audible difference; an identical pair scores ~0.99); any input rate, resampled to 24 kHz; "
    "analysis band 80 Hz-8 kHz; mono or stereo (per-channel mean); non-silent reference; >= 50 ms"
)


class HAAQIMetric(PairMetric):
    """HAAQI v1 of a test signal against its reference, normal hearing."""

    info = MetricInfo(
        name="haaqi", higher_is_better=True, sample_rate=HAAQI_RATE, channels="stereo", valid_range=VALID_RANGE,
        min_seconds=0.1,
    )

    def __init__(self, presentation_level_db: float = 65.0, seed: int = 0) -> None:
        super().__init__()
        self.presentation_level_db = float(presentation_level_db)
        self.seed = int(seed)

    def score_pair(self, reference: np.ndarray, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        """HAAQI of `test` given `reference`, both (channels, frames) or 1-D at `sample_rate`."""
        reference, test = _as_channels(reference, "reference"), _as_channels(test, "test")
        if sample_rate != HAAQI_RATE:
            reference = resample(reference, sample_rate, HAAQI_RATE)
            test = resample(test, sample_rate, HAAQI_RATE)
        reference, test = _match_channels(reference, test)
        rms = float(np.sqrt(np.mean(np.square(reference, dtype=np.float64))))
        if not np.isfinite(rms) or rms <= 0.0:
            raise AudioqualError("HAAQI: the reference signal is silent")
        level1 = self.presentation_level_db - 20.0 * np.log10(rms)
        scores = [self._haaqi(r, t, level1) for r, t in zip(reference, test)]
        result = {"haaqi": float(np.mean(scores))}
        if len(scores) > 1:
            result.update({f"haaqi_ch{i}": s for i, s in enumerate(scores)})
        return result


    def _haaqi(self, reference: np.ndarray, test: np.ndarray, level1: float) -> float:
        """One channel; pyclarity draws its threshold noise from numpy's global RNG, seeded here and restored."""
        state = np.random.get_state()
        np.random.seed(self.seed)
        try:
            return float(compute_haaqi(test.astype(np.float64), reference.astype(np.float64), HAAQI_RATE,
                                       HAAQI_RATE, NORMAL_HEARING, equalisation=2, level1=level1))
        finally:
            np.random.set_state(state)


def _as_channels(signal: np.ndarray, name: str) -> np.ndarray:
    signal = np.asarray(signal)
    if signal.ndim == 1:
        signal = signal[None, :]
    if signal.ndim != 2 or signal.shape[1] == 0:
        raise AudioqualError(f"HAAQI: {name} must be (channels, frames) samples, got shape {signal.shape}")
    if not np.isfinite(signal).all():
        raise AudioqualError(f"HAAQI: {name} contains NaN or Inf samples")
    return signal


def _match_channels(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if reference.shape[0] == test.shape[0]:
        return reference, test
    if reference.shape[0] == 1:
        return np.repeat(reference, test.shape[0], axis=0), test
    if test.shape[0] == 1:
        return reference, np.repeat(test, reference.shape[0], axis=0)
    raise AudioqualError(f"HAAQI: reference has {reference.shape[0]} channels but test has {test.shape[0]}")
