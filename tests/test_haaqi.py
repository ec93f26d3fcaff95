"""HAAQI (normal hearing) through pyclarity: identity is best, monotone in noise, level- and rate-robust."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import music_like, with_noise

pytestmark = pytest.mark.oracle  # HAAQI against pyclarity: a skip fails in CI (conftest)

pytest.importorskip("clarity", reason="HAAQI needs pyclarity (pip install pyclarity)")

from audioqual.errors import AudioqualError  # noqa: E402
from audioqual.metrics.registry import create  # noqa: E402

RATE = 24000






@pytest.fixture(scope="module")
def haaqi():
    return create("haaqi")


def test_identity_is_best_and_score_falls_with_snr(haaqi):
    reference = music_like()
    identity = haaqi.score_pair(reference[None], reference[None], RATE)["haaqi"]
    ladder = [haaqi.score_pair(reference[None], with_noise(reference, snr)[None], RATE)["haaqi"]
              for snr in (30, 15, 5, -5)]
    assert identity > 0.95
    assert identity > ladder[0]
    assert all(a > b for a, b in zip(ladder, ladder[1:])), ladder
    assert all(0.0 <= s <= 1.0 for s in ladder)


def test_reproducible_level_invariant_and_rate_robust(haaqi):
    reference = music_like()
    test = with_noise(reference, 15)
    first = haaqi.score_pair(reference[None], test[None], RATE)["haaqi"]
    assert haaqi.score_pair(reference[None], test[None], RATE)["haaqi"] == first  # seeded threshold noise
    quieter = haaqi.score_pair(0.1 * reference[None], 0.1 * test[None], RATE)["haaqi"]
    assert quieter == pytest.approx(first, abs=1e-6)  # the reference is always presented at 65 dB SPL
    hi_rate = music_like(rate=48000)
    at_48k = haaqi.score_pair(hi_rate[None], with_noise(hi_rate, 15)[None], 48000)["haaqi"]
    assert at_48k == pytest.approx(first, abs=0.05)  # resampled to 24 kHz internally


def test_stereo_gives_channel_scores_and_their_mean(haaqi):
    reference = music_like()
    stereo_ref = np.stack([reference, reference])
    stereo_test = np.stack([with_noise(reference, 30), with_noise(reference, 5)])
    scores = haaqi.score_pair(stereo_ref, stereo_test, RATE)
    assert scores["haaqi_ch0"] > scores["haaqi_ch1"]
    assert scores["haaqi"] == pytest.approx((scores["haaqi_ch0"] + scores["haaqi_ch1"]) / 2)
    assert haaqi.info.sample_rate == RATE and haaqi.info.higher_is_better


def test_bad_input_is_a_clear_error(haaqi):
    with pytest.raises(AudioqualError, match="reference signal is silent"):
        haaqi.score_pair(np.zeros((1, RATE), np.float32), music_like()[None], RATE)
    with pytest.raises(AudioqualError, match="2 channels but test has 3"):
        haaqi.score_pair(np.zeros((2, 100), np.float32), np.zeros((3, 100), np.float32), RATE)
