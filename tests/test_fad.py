"""FAD: the Fréchet distance against closed forms, statistics against numpy, and behaviour on audio."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tone, with_noise
from scipy import linalg

from audioqual.backbones.tiny import tiny_backbone
from audioqual.baselines.fad import FrechetAudioDistance, GaussianStats, frechet_distance
from audioqual.data.manifest import ManifestEntry
from audioqual.features import FeatureCache
from audioqual.io import save_audio


def test_diagonal_covariances_match_the_closed_form():
    rng = np.random.default_rng(0)
    mu_a, mu_b = rng.normal(size=6), rng.normal(size=6)
    var_a, var_b = rng.uniform(0.1, 2, 6), rng.uniform(0.1, 2, 6)
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum(var_a + var_b - 2 * np.sqrt(var_a * var_b))
    assert frechet_distance(mu_a, np.diag(var_a), mu_b, np.diag(var_b)) == pytest.approx(expected, rel=1e-9)


def test_full_covariances_match_the_symmetric_form():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    cov_a, cov_b = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu_a, mu_b = rng.normal(size=5), rng.normal(size=5)
    root_a = linalg.sqrtm(cov_a).real
    cross = linalg.sqrtm(root_a @ cov_b @ root_a).real  # Tr sqrt(A^1/2 B A^1/2) == Tr sqrt(A B)
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * cross)
    assert frechet_distance(mu_a, cov_a, mu_b, cov_b) == pytest.approx(expected, rel=1e-7)
    assert frechet_distance(mu_a, cov_a, mu_a, cov_a) == pytest.approx(0.0, abs=1e-8)


def test_gaussian_stats_match_numpy_and_merge():
    rng = np.random.default_rng(2)
    frames = rng.normal(size=(50, 4))
    stats = GaussianStats.from_frames(frames[:20]).merge(GaussianStats.from_frames(frames[20:]))
    np.testing.assert_allclose(stats.mean, frames.mean(axis=0))
    np.testing.assert_allclose(stats.covariance, np.cov(frames, rowvar=False))


def test_identity_is_zero_and_noise_ladder_is_monotone(tmp_path):
    rate = 16000
    clean = [tone(2.0, rate, 200.0 * (i + 1), seed=i) for i in range(3)]
    references = []
    for index, signal in enumerate(clean):
        references.append(ManifestEntry(path=str(save_audio(tmp_path / f"ref{index}.wav", signal, rate))))
    fad = FrechetAudioDistance(tiny_backbone("hubert"), layer=-1, cache=FeatureCache(tmp_path / "cache"))
    assert fad.compute(references, references) == pytest.approx(0.0, abs=1e-6)
    scores = []
    for snr in (30, 10, 0):
        noisy = []
        for index, signal in enumerate(clean):
            path = save_audio(tmp_path / f"snr{snr}_{index}.wav", with_noise(signal, snr, seed=index), rate)
            noisy.append(ManifestEntry(path=str(path)))
        scores.append(fad.compute(noisy, references))
        per_song = fad.per_song(noisy, references)
        assert len(per_song) == 3 and all(v > 0 for v in per_song.values())
    assert scores[0] < scores[1] < scores[2]
