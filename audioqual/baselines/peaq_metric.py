"""PEAQ Basic and the 2f-model behind the PairMetric interface.

Both score a (reference, test) pair at 48 kHz: inputs at another rate are resampled to
48 kHz with `audioqual.io.resample` (soxr HQ) first. Channels are kept: mono or stereo, the
MOVs are averaged over the two channels as BS.1387 prescribes. The pair must be time-aligned
(PEAQ does no alignment) and at least 0.6 s long; 1.0 is taken as digital full scale,
played at 92 dB SPL.

PEAQ and the 2f-model share the MOVs: the MOVs of the last pair are kept (keyed by a digest of
both signals), so running both metrics on a pair, as `audioqual metric peaq,twof` does, computes
them once.
"""

from __future__ import annotations

import hashlib

import numpy as np

from audioqual.baselines.peaq import SAMPLE_RATE, peaq_from_movs, peaq_movs
from audioqual.baselines.twof import twof_score
from audioqual.io import resample
from audioqual.metrics.base import MetricInfo, PairMetric

_VALID_RANGE = (
    "48 kHz (other rates are resampled), mono or stereo, time-aligned reference and test of at "
    "least 0.6 s with 1.0 = full scale"
)


def _at_48k(reference: np.ndarray, test: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    ref = np.atleast_2d(np.asarray(reference, dtype=np.float32))
    tst = np.atleast_2d(np.asarray(test, dtype=np.float32))
    if sample_rate != SAMPLE_RATE:
        ref, tst = resample(ref, sample_rate, SAMPLE_RATE), resample(tst, sample_rate, SAMPLE_RATE)
    return ref, tst


_LAST_MOVS: dict[tuple, dict[str, float]] = {}


def shared_movs(reference: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """`peaq_movs` of a 48 kHz pair, computed once for consecutive calls on the same signals."""
    key = tuple((x.shape, x.dtype.str, hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).digest())
                for x in (reference, test))
    if key not in _LAST_MOVS:
        movs = peaq_movs(reference, test, SAMPLE_RATE)
        _LAST_MOVS.clear()
        _LAST_MOVS[key] = movs
    return dict(_LAST_MOVS[key])


PEAQ_MIN_SECONDS = 0.1  # a few 2048-sample FFT frames at 48 kHz; below that the MOVs average almost nothing


def _movs_metric_info(name: str, headline_range: str) -> MetricInfo:
    """The info of a metric computed from PEAQ Basic's MOVs: 48 kHz, channels kept, higher is better."""
    return MetricInfo(name=name, higher_is_better=True, sample_rate=SAMPLE_RATE, channels="keep",
                      min_seconds=PEAQ_MIN_SECONDS, valid_range=f"{_VALID_RANGE}; {headline_range}")  # fmt: skip


class PeaqMetric(PairMetric):
    """PEAQ Basic ODG (ITU-R BS.1387-1); extra keys: DI ("peaq_di") and the 11 MOVs by name."""

    info = _movs_metric_info("peaq_odg", "ODG in about [-3.91, 0.2] (0 imperceptible, -4 very annoying)")

    def score_pair(self, reference: np.ndarray, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        result = peaq_from_movs(shared_movs(*_at_48k(reference, test, sample_rate)))
        return {self.info.name: result.odg, "peaq_di": result.di, **result.movs}


class TwoFModelMetric(PairMetric):
    """2f-model MUSHRA score (Kastner & Herre 2019) from PEAQ Basic's AvgModDiff1B and ADBB."""

    info = _movs_metric_info("twof_mms", "MMS in [0, 100]")

    def score_pair(self, reference: np.ndarray, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        movs = shared_movs(*_at_48k(reference, test, sample_rate))
        score = twof_score(movs["AvgModDiff1B"], movs["ADBB"])
        return {self.info.name: score, "AvgModDiff1B": movs["AvgModDiff1B"], "ADBB": movs["ADBB"]}
