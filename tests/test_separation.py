"""Separation-like degradations of the default model's training set, against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest


def test_interference_reaches_the_requested_sir() -> None:
    from audioqual.degrade.separation import interference

    rng = np.random.default_rng(1)
    target, other = rng.standard_normal((2, 4800)), rng.standard_normal((2, 4800)) * 3.0
    for sir in (-5.0, 0.0, 12.5):
        mixed = interference(target, other, sir).astype(np.float64)
        leak = mixed - target
        measured = 10 * np.log10(np.sum(target**2) / np.sum(leak**2))
        assert measured == pytest.approx(sir, abs=1e-3)


def test_spectral_holes_and_ideal_masks_at_their_limits() -> None:
    from audioqual.degrade import separation

    rng = np.random.default_rng(2)
    target, other = rng.standard_normal((1, 9600)).astype(np.float32), rng.standard_normal((1, 9600)).astype(np.float32)
    assert np.allclose(separation.spectral_holes(target, 0.0, rng), target, atol=1e-5)
    holed = separation.spectral_holes(target, 0.5, rng)
    assert 0.3 < np.sum(holed**2) / np.sum(target**2) < 0.7  # about half the STFT energy removed
    # A near-silent interferer: the ideal ratio mask is ~1 everywhere and the target comes back.
    clean = separation.noisy_mask(target, other, mixture_sir_db=80.0, mask_noise=0.0, rng=rng)
    assert np.max(np.abs(clean - target)) < 1e-3


def test_griffin_lim_restores_the_magnitude_better_with_more_iterations() -> None:
    from audioqual.degrade import separation

    t = np.arange(24000) / 48000
    tone = (np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 1320 * t))[None].astype(np.float32)
    magnitude = np.abs(separation.stft(tone))

    def error(iterations: int) -> float:
        out = separation.phase_reconstruction(tone, iterations, np.random.default_rng(0))
        return float(np.linalg.norm(np.abs(separation.stft(out)) - magnitude) / np.linalg.norm(magnitude))

    assert error(32) < error(1) and error(32) < 0.2


def test_mel_filterbank_matches_a_per_bin_triangle_loop() -> None:
    from audioqual.degrade.separation import mel_filterbank

    rate, n_fft, n_mels = 16000, 512, 10
    bank = mel_filterbank(rate, n_fft, n_mels, 0.0, 8000.0)
    edges = [700 * (10 ** (m / 2595) - 1) for m in np.linspace(0, 2595 * np.log10(1 + 8000 / 700), n_mels + 2)]
    for band in range(n_mels):
        lo, mid, hi = edges[band : band + 3]
        for k in range(n_fft // 2 + 1):
            f = k * rate / n_fft
            expected = (f - lo) / (mid - lo) if lo <= f <= mid else (hi - f) / (hi - mid) if mid < f <= hi else 0.0
            assert bank[band, k] == pytest.approx(max(expected, 0.0), abs=1e-9)
