"""CDPAM's encoder as a backbone: every conv layer and the acoustics embedding equal the cdpam package's.

Golden outputs come from the package's own base encoder (tests/golden/make_cdpam.py, which drives it
as tests/test_cdpam.py does); the oracle fails when the cdpam wheel is missing.
"""

from __future__ import annotations

import importlib.util

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

from make_cdpam import SAMPLES, package_states, scaled_signal
from signals import voice_like

from audioqual.baselines.cdpam import load_cdpam_net

# The same float32 convolutions as the package (measured difference 0 here); 1e-5 of each
# array's largest value allows other BLAS/oneDNN kernels.
RELATIVE = 1e-5


@pytest.fixture(scope="module")
def encoder():
    return load("cdpam")




def test_equals_the_original_package_outputs(encoder):
    golden = np.load(GOLDEN_DIR / "cdpam.npz")
    windows = golden["windows"]
    samples = voice_like(SAMPLES / 22050, rate=22050, seed=5)[:SAMPLES]
    with torch.inference_mode():
        normalized = encoder.normalize(torch.from_numpy(samples)[None])
        states = [state[0].numpy() for state in encoder.layer_states(normalized)]
    np.testing.assert_array_equal(normalized[0].numpy(), scaled_signal())
    assert [state.shape[0] for state in states] == [40] * 16 + [1]
    for index in range(16):
        assert_close_to_scale(states[index][windows], golden[f"layer{index}_windows"], RELATIVE)
        assert_close_to_scale(states[index].mean(axis=0), golden[f"layer{index}_mean"], RELATIVE)
    assert_close_to_scale(states[16][0], golden["acoustics"], RELATIVE)
    with torch.inference_mode():  # the baseline metric's embedding is the same
        assert_close_to_scale(load_cdpam_net().embed(normalized).numpy()[0], golden["acoustics"], RELATIVE)


def test_live_against_the_installed_package(encoder):
    if importlib.util.find_spec("cdpam") is None:
        pytest.skip("the cdpam package is not installed")
    scaled = np.float32(np.round(voice_like(0.3, rate=22050, seed=8).astype(np.float64) * 32768))
    outputs, acoustics = package_states(scaled)
    with torch.inference_mode():
        convs, _ = encoder.conv_outputs(torch.from_numpy(scaled)[None])
        states = encoder.layer_states(torch.from_numpy(scaled)[None])
    for ours, theirs in zip(convs, outputs):
        assert_close_to_scale(ours[0].numpy(), theirs.numpy(), RELATIVE)
    assert_close_to_scale(states[-1][0, 0].numpy(), acoustics.numpy(), RELATIVE)


def test_partial_last_window_is_its_own_mean(encoder):
    waveform = encoder.normalize(torch.from_numpy(voice_like(0.12, rate=22050, seed=2))[None])  # 2646 samples
    with torch.inference_mode():
        convs, _ = encoder.conv_outputs(waveform)
        states = encoder.layer_states(waveform)
    assert states[0].shape[1] == 11  # ceil(2646 / 256)
    torch.testing.assert_close(states[0][0, -1], convs[0][0, :, 2560:].mean(dim=1))
    torch.testing.assert_close(states[15][0, -1], convs[15][0, :, 320:].mean(dim=1))


def test_interface(encoder, tmp_path):
    waveforms = torch.from_numpy(np.stack([voice_like(0.25, 22050, seed=1), voice_like(0.25, 22050, seed=2)]))
    check_shapes_and_pooling(encoder, waveforms, frames=22)  # ceil(5512 / 256)
    assert encoder.layer_dims == (64, 64, 64, 128, 128, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 1024, 512)
    assert encoder.sample_rate == 22050 and encoder.frames_per_second == pytest.approx(86.1328125)
    check_fingerprint_and_round_trip("cdpam", None, tmp_path, waveforms[:1])
    check_too_short(encoder)


def test_extract_cli(tmp_path):
    check_extract_cli("cdpam", tmp_path, seconds=0.3)
