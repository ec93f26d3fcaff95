"""DistillMOS ported to torch: equals the original package, stitches its crops, and the backbone interface.

The oracle compares with golden outputs of the original package (tests/golden/make_distillmos.py,
run in a separate venv with xls-r-sqa) and fails when the distillmos wheel is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
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

from audioqual.backbones.encoders.distillmos import SEQ_LEN, crop_starts

# Same float32 operations in the same order as the original: measured difference 0 (bit-exact)
# on this machine; 1e-5 of each array's largest value allows other BLAS/oneDNN kernels.
RELATIVE = 1e-5


@pytest.fixture(scope="module")
def encoder():
    return load("distillmos")


@pytest.fixture(scope="module")
def golden():
    return np.load(GOLDEN_DIR / "distillmos.npz")




def test_equals_the_original_package_outputs(encoder, golden):
    frames = golden["frames"]
    short = torch.from_numpy(voice_like(3.0))[None]
    with torch.inference_mode():
        states = encoder.layer_states(short)
        crop_states, _ = encoder.crop_states(F.pad(short, (0, SEQ_LEN - short.shape[1])))
        long_mos = encoder.layer_states(torch.from_numpy(voice_like(9.5, seed=3))[None])[-1]
    assert [state.shape[1] for state in states] == [150] * 9 + [1]  # 3 s at 50 frames per second
    assert_close_to_scale(states[-1][0, 0].numpy(), golden["mos_short"][0], RELATIVE)
    assert_close_to_scale(long_mos[0, 0].numpy(), golden["mos_long"][0], RELATIVE)
    crop = [state[0].numpy() for state in crop_states]
    assert_close_to_scale(crop[0][frames], golden["cnn_frames"], RELATIVE)
    assert_close_to_scale(crop[0].mean(axis=0), golden["cnn_mean"], RELATIVE)
    assert_close_to_scale(crop[1][frames], golden["input_frames"], RELATIVE)
    for index in range(7):
        assert_close_to_scale(crop[2 + index][frames], golden[f"layer{index}_frames"], RELATIVE)
        assert_close_to_scale(crop[2 + index].mean(axis=0), golden[f"layer{index}_mean"], RELATIVE)
    for ours, theirs in zip(states[:-1], crop):
        np.testing.assert_array_equal(ours[0].numpy(), theirs[:150])  # a short clip keeps its own frames


def test_long_clips_are_stitched_from_the_nearest_crop(encoder):
    clip = torch.from_numpy(voice_like(9.5, seed=3))[None]
    starts = crop_starts(clip.shape[1])
    assert starts == [0, 14560, 29120]
    with torch.inference_mode():
        states = encoder.layer_states(clip)
        first, _ = encoder.crop_states(clip[:, :SEQ_LEN])
        last, _ = encoder.crop_states(clip[:, -SEQ_LEN:])
    assert states[0].shape[1] == 475  # ceil(152000 / 320)
    for ours, head, tail in zip(states[:-1], first, last):
        torch.testing.assert_close(ours[:, :100], head[:, :100])  # the start belongs to the first crop
        torch.testing.assert_close(ours[:, -1], tail[:, round((474 * 320 - 29120) / 320)])


def test_live_against_the_installed_package(encoder, monkeypatch):
    if importlib.util.find_spec("xls_r_sqa") is None or importlib.util.find_spec("distillmos") is None:
        pytest.skip("the original needs distillmos and xls-r-sqa importable (they are not project dependencies)")
    if importlib.util.find_spec("torchaudio") is None:
        monkeypatch.setitem(sys.modules, "torchaudio", types.ModuleType("torchaudio"))  # used to read files only
    original = importlib.import_module("distillmos").ConvTransformerSQAModel().eval()
    clip = torch.from_numpy(voice_like(8.5, seed=6))[None]
    with torch.inference_mode():
        assert_close_to_scale(encoder.layer_states(clip)[-1][:, 0].numpy(), original(clip).numpy(), RELATIVE)


def test_interface(encoder, tmp_path):
    waveforms = torch.from_numpy(np.stack([voice_like(1.0, seed=1), voice_like(1.0, seed=2)]))
    check_shapes_and_pooling(encoder, waveforms, frames=50)
    assert encoder.layer_dims == (1024, *[200] * 8, 1) and encoder.frames_per_second == 50.0
    with torch.inference_mode():
        mos = encoder(waveforms).pooled()[-1, :, 0]
    assert bool(((mos >= 1) & (mos <= 5)).all())
    check_fingerprint_and_round_trip("distillmos", None, tmp_path, waveforms[:1])
    check_too_short(encoder)


def test_extract_cli(tmp_path):
    check_extract_cli("distillmos", tmp_path)
