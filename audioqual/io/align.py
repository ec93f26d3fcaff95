"""Residual delay between a reference and a processed signal, by cross-correlation (GCC-PHAT).

Plain cross-correlation of a strongly low-passed codec output (AAC at 16 kbps)
has a broad, flat peak that coding noise can tip one sample off; the phase
transform (PHAT: whiten the cross-spectrum, keep only its phase) gives a sharp
peak at the true delay (Knapp & Carter, 1976).
"""

from __future__ import annotations

import numpy as np

PHAT_FLOOR = 1e-9  # relative to the largest cross-spectrum magnitude; keeps empty bins from dividing by zero


def estimate_lag(reference: np.ndarray, test: np.ndarray, max_lag: int) -> int:
    """Lag (samples) that best aligns `test` to `reference`, searched in [-max_lag, max_lag].

    Positive: `test` is late, i.e. test[n] ~ reference[n - lag]. Both are
    (channels, frames) or (frames,) arrays; channels are averaged first. The
    generalised cross-correlation c[k] ~ sum_n test[n + k] * reference[n] with PHAT
    weighting is computed with zero-padded FFTs (no circular wrap-around).
    """
    ref = _mono(reference)
    tst = _mono(test)
    if max_lag <= 0 or ref.size == 0 or tst.size == 0:
        return 0
    size = 1 << int(np.ceil(np.log2(ref.size + tst.size - 1)))
    cross = np.fft.rfft(tst, size) * np.conj(np.fft.rfft(ref, size))
    magnitude = np.abs(cross)
    cross = cross / np.maximum(magnitude, PHAT_FLOOR * max(float(magnitude.max()), 1e-30))
    corr = np.fft.irfft(cross, size)
    max_lag = min(max_lag, size // 2 - 1)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    values = np.concatenate([corr[: max_lag + 1], corr[size - max_lag :]])
    return int(lags[int(np.argmax(values))])


def remove_lag(test: np.ndarray, lag: int, start: int, frames: int) -> np.ndarray:
    """`frames` samples of (channels, n) `test` starting at `start + lag`, zero-padded outside it."""
    out = np.zeros((test.shape[0], frames), dtype=test.dtype)
    begin = start + lag
    lo = max(begin, 0)
    hi = min(begin + frames, test.shape[1])
    if hi > lo:
        out[:, lo - begin : hi - begin] = test[:, lo:hi]
    return out


def _mono(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float64)
    return samples.mean(axis=0) if samples.ndim == 2 else samples
