"""CDPAM re-implementation: equals the cdpam package's own forward, identity ~0, monotone in noise, exact chunks."""

from __future__ import annotations

import functools
import importlib.util
import pickle
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import with_noise

import conftest

pytestmark = pytest.mark.oracle  # CDPAM against the cdpam package: a skip fails in CI (conftest)

if importlib.util.find_spec("cdpam") is None:
    pytest.skip("CDPAM needs the cdpam package (pip install --no-deps cdpam)", allow_module_level=True)

from audioqual.baselines.cdpam import (  # noqa: E402
    CDPAM_RATE,
    CDPAMMetric,
    load_cdpam_net,
    to_cdpam_scale,
)
from audioqual.errors import AudioqualError  # noqa: E402
from audioqual.metrics.registry import create  # noqa: E402

SECONDS = 0.4  # the encoder costs ~1.2 s of CPU per second of audio; keep the tests short


def music_like(seconds: float = SECONDS, rate: int = CDPAM_RATE, seed: int = 0) -> np.ndarray:
    """The shared test signal at CDPAM's rate and a short default length."""
    return conftest.music_like(seconds, rate, seed)






def package_load_audio_scaling(samples: np.ndarray) -> np.ndarray:
    """The amplitude steps of cdpam.load_audio after librosa.load, written out (np.float is np.float64)."""
    data = np.round(samples.astype(np.float64) * 32768)
    data = np.reshape(data, [-1, 1])
    return np.float32(np.reshape(data, [1, np.shape(data)[0]]))


def package_distance(reference: np.ndarray, test: np.ndarray, monkeypatch: pytest.MonkeyPatch):
    """(distance, reference embedding) from the cdpam package's own `CDPAM(dev="cpu").forward`.

    The package imports librosa and resampy at import time but its forward path needs
    neither, so empty stand-in modules are used when they are not installed. Its
    constructor calls `torch.load` without `weights_only`, which torch >= 2.6 reads as
    `weights_only=True` and then fails on this legacy checkpoint; it is given False, as
    torch < 2.6 did. Arrays are [1, frames], already int16-scaled.
    """
    for name in ("librosa", "resampy"):
        if importlib.util.find_spec(name) is None:
            monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setattr(torch, "load", functools.partial(torch.load, weights_only=False))
    before = set(sys.modules)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)  # its `import numpy.matlib`
            cdpam = importlib.import_module("cdpam")
        model = cdpam.CDPAM(dev="cpu")
        with torch.no_grad():
            distance = model.forward(reference, test)
            _, acoustics, _ = model.model.base_encoder.forward(torch.from_numpy(reference).unsqueeze(1))
    finally:
        for name in set(sys.modules) - before:  # forget the package imported against the stand-ins
            if name == "cdpam" or name.startswith("cdpam."):
                del sys.modules[name]
    return float(distance[0]), F.normalize(acoustics, dim=1)


@pytest.fixture(scope="module")
def cdpam() -> CDPAMMetric:
    return create("cdpam")


def test_equals_the_package_forward(cdpam, monkeypatch):
    reference = music_like()
    test = with_noise(reference, 10)
    expected, expected_embedding = package_distance(package_load_audio_scaling(reference),
                                                    package_load_audio_scaling(test), monkeypatch)  # fmt: skip
    ours = cdpam.score_pair(reference[None], test[None], CDPAM_RATE)["cdpam"]
    assert ours == pytest.approx(expected, abs=1e-5, rel=1e-5)
    embedding = cdpam.embedding(reference[None], CDPAM_RATE)
    assert torch.allclose(embedding, expected_embedding, atol=1e-5)
    np.testing.assert_array_equal(to_cdpam_scale(test), package_load_audio_scaling(test)[0])


def test_identity_is_zero_and_distance_grows_as_snr_falls(cdpam):
    reference = music_like(seed=3)
    identity = cdpam.score_pair(reference[None], reference[None], CDPAM_RATE)["cdpam"]
    ladder = [cdpam.score_pair(reference[None], with_noise(reference, snr)[None], CDPAM_RATE)["cdpam"]
              for snr in (40, 30, 20, 10)]  # fmt: skip
    # below ~10 dB SNR white noise dominates the embedding and the distance saturates (~0.78 here)
    assert identity == pytest.approx(0.0, abs=1e-6)
    assert all(a < b for a, b in zip([identity, *ladder], ladder)), ladder
    assert cdpam.info.higher_is_better is False and cdpam.info.sample_rate == CDPAM_RATE


def test_chunked_encoding_equals_whole_signal():
    net = load_cdpam_net()
    waveform = torch.from_numpy(to_cdpam_scale(with_noise(music_like(0.3, seed=5), 20)))[None]
    with torch.inference_mode():
        whole = net.embed(waveform)
        for chunk in (1000, 2049):  # a chunk shorter than the 432-sample halo, and one not a multiple of 16
            assert torch.allclose(net.embed(waveform, chunk_frames=chunk), whole, atol=1e-6)


def test_other_rates_and_stereo_are_resampled_and_downmixed(cdpam):
    mono = music_like(seed=7)
    stereo_44k = np.stack([music_like(rate=44100, seed=7)] * 2)
    at_native = cdpam.embedding(mono[None], CDPAM_RATE)
    at_44k = cdpam.embedding(stereo_44k, 44100)
    noisy = cdpam.embedding(with_noise(mono, 30)[None], CDPAM_RATE)
    with torch.inference_mode():
        resampling = float(cdpam.net.model_dist(at_native, at_44k)[0])
        light_noise = float(cdpam.net.model_dist(at_native, noisy)[0])
    assert resampling < light_noise / 4, (resampling, light_noise)  # same content: far closer than 30 dB SNR noise


def test_checkpoint_problems_are_clear_errors(tmp_path: Path):
    partial = tmp_path / "partial.pth"
    torch.save({"state": {"base_encoder.encoder.0.weight": torch.zeros(64, 1, 15), "bogus": torch.zeros(1)}},
               partial, _use_new_zipfile_serialization=False)  # fmt: skip
    with pytest.raises(AudioqualError, match=r"does not match the network: missing \['base_encoder.*'bogus'"):
        load_cdpam_net(partial)
    hostile = tmp_path / "hostile.pth"
    torch.save({"state": {}, "hook": pickle.Unpickler}, hostile, _use_new_zipfile_serialization=False)
    with pytest.raises(AudioqualError, match="refusing to load pickle.Unpickler"):
        load_cdpam_net(hostile)
    with pytest.raises(AudioqualError, match="does not exist"):
        load_cdpam_net(tmp_path / "absent.pth")
    with pytest.raises(AudioqualError, match="chunk_seconds must be positive"):
        CDPAMMetric(chunk_seconds=0)
