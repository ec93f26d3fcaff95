"""Resemblyzer's GE2E speaker encoder ported to torch: equals the original package, and the backbone interface.

The oracle compares with golden outputs of the original package (tests/golden/make_resemblyzer.py,
run with librosa 0.11 in a separate venv) and fails when the Resemblyzer wheel is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import warnings

import numpy as np
import pytest
import torch
from torch_encoder_checks import (
    GOLDEN_DIR,
    assert_close_to_scale,
    check_extract_cli,
    check_fingerprint_and_round_trip,
    check_shapes_and_pooling,
    check_too_short,
    load,
)

from signals import voice_like

# float32 STFT, mel and three LSTM layers in another order of operations: measured max relative
# difference 1e-7 (mel) to 1.1e-6 (last LSTM layer) of each array's largest value; 1e-5 leaves
# room for other BLAS builds while still catching any wrong window, padding, filter or gate.
RELATIVE = 1e-5


@pytest.fixture(scope="module")
def encoder():
    return load("resemblyzer")


@pytest.fixture(scope="module")
def golden():
    return np.load(GOLDEN_DIR / "resemblyzer.npz")




def test_equals_the_original_package_outputs(encoder, golden):
    frames = golden["frames"]
    waveform = torch.from_numpy(voice_like())[None]
    with torch.inference_mode():
        normalized = encoder.normalize(waveform)
        mel = encoder.mel(normalized)[0].numpy()
        states = [state[0].numpy() for state in encoder.layer_states(normalized)]
    assert mel.shape == (301, 40) and states[0].shape == (301, 256)
    assert_close_to_scale(mel[frames], golden["mel_frames"], RELATIVE)
    assert_close_to_scale(mel.mean(axis=0), golden["mel_mean"], RELATIVE)
    for index in range(3):
        assert_close_to_scale(states[index][-1], golden["lstm_last_frame"][index], RELATIVE)
    assert_close_to_scale(states[2][frames], golden["lstm2_frames"], RELATIVE)
    assert_close_to_scale(states[2].mean(axis=0), golden["lstm2_mean"], RELATIVE)
    assert_close_to_scale(states[3][frames], golden["linear_frames"], RELATIVE)
    norms = np.linalg.norm(states[4], axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    assert_close_to_scale(states[5], golden["partial_embeddings"], RELATIVE)
    assert_close_to_scale(states[6][0], golden["utterance_embedding"], RELATIVE)
    quiet = encoder.normalize(0.01 * waveform)  # -62 dBFS: raised to -30 dBFS like preprocess_wav
    with torch.inference_mode():
        assert_close_to_scale(encoder.layer_states(quiet)[6][0, 0].numpy(), golden["quiet_utterance_embedding"], RELATIVE)


def test_live_against_the_installed_package(encoder, monkeypatch):
    """The package's own VoiceEncoder.embed_utterance (its mel function: librosa's, or ours where librosa is absent)."""
    stubbed = []
    for name in ("librosa", "webrtcvad"):
        if importlib.util.find_spec(name) is None:
            monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
            stubbed.append(name)
    before = set(sys.modules)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # its scipy.ndimage.morphology import
            package = importlib.import_module("resemblyzer")
    except Exception as err:  # noqa: BLE001 - any import failure of the optional original
        pytest.skip(f"the resemblyzer package does not import here: {err}")
    try:
        if "librosa" in stubbed:
            monkeypatch.setattr(package.audio, "wav_to_mel_spectrogram",
                                lambda wav: encoder.mel(torch.from_numpy(wav)[None])[0].numpy())  # fmt: skip
        original = package.VoiceEncoder("cpu", verbose=False)
        wav = voice_like(seconds=2.2, seed=4)
        expected, partials, _ = original.embed_utterance(wav, return_partials=True)
    finally:
        for name in set(sys.modules) - before:
            if name.startswith("resemblyzer"):
                del sys.modules[name]
    with torch.inference_mode():
        states = encoder.layer_states(torch.from_numpy(wav)[None])
    assert_close_to_scale(states[5][0].numpy(), partials, RELATIVE)
    assert_close_to_scale(states[6][0, 0].numpy(), expected, RELATIVE)


def test_interface(encoder, tmp_path):
    waveforms = torch.from_numpy(np.stack([voice_like(1.0, seed=1), voice_like(1.0, seed=2)]))
    check_shapes_and_pooling(encoder, waveforms, frames=101)
    assert encoder.layer_names == ("lstm.0", "lstm.1", "lstm.2", "linear", "embedding",
                                   "partial_embeddings", "utterance_embedding")  # fmt: skip
    assert encoder.sample_rate == 16000 and encoder.frames_per_second == 100.0
    check_fingerprint_and_round_trip("resemblyzer", None, tmp_path, waveforms[:1])
    check_too_short(encoder)


def test_volume_normalisation_only_raises_quiet_clips_and_keeps_silence(encoder):
    loud = torch.from_numpy(voice_like(0.5))[None]  # about -22 dBFS: unchanged
    torch.testing.assert_close(encoder.normalize(loud), loud)
    quiet = encoder.normalize(1e-3 * loud)
    rms_db = 20 * torch.log10(quiet.pow(2).mean().sqrt())
    assert float(rms_db) == pytest.approx(-30.0, abs=1e-4)
    assert bool((encoder.normalize(torch.zeros(1, 800)) == 0).all())
    lengths = torch.tensor([8000, 4000])
    pair = torch.cat([1e-3 * loud, torch.cat([1e-3 * loud[:, :4000], torch.zeros(1, 4000)], 1)])
    scaled = encoder.normalize(pair, lengths)
    torch.testing.assert_close(scaled[1, :4000], encoder.normalize(pair[1:, :4000])[0])


def test_extract_cli(tmp_path):
    check_extract_cli("resemblyzer", tmp_path)
