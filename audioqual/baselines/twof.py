"""The 2f-model (Kastner & Herre, 2019): a MUSHRA-scale quality score from two PEAQ Basic MOVs.

MMS = 56.1345 / (1 + (-0.0282 AvgModDiff1 - 0.8628)^2) - 27.1451 ADB + 86.3515, clipped to
[0, 100]; AvgModDiff1 (AvgModDiff1B) and ADB (ADBB) come from PEAQ Basic at 48 kHz.
"""

from __future__ import annotations

import numpy as np

from audioqual.baselines.peaq import SAMPLE_RATE, peaq_movs


def twof_score(avg_mod_diff1: float, adb: float) -> float:
    """Predicted MUSHRA score in [0, 100] from AvgModDiff1B and ADBB."""
    raw = 56.1345 / (1.0 + (-0.0282 * avg_mod_diff1 - 0.8628) ** 2) - 27.1451 * adb + 86.3515
    return float(np.clip(raw, 0.0, 100.0))


def twof_model(reference: np.ndarray, test: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """2f-model MMS of a 48 kHz, time-aligned (channels, frames) pair."""
    movs = peaq_movs(reference, test, sample_rate)
    return twof_score(movs["AvgModDiff1B"], movs["ADBB"])
