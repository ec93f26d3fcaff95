"""Interface checks shared by the tests of the torch-ported pretrained encoders (resemblyzer, distillmos, ...).

Each `check_*` takes an encoder name and asserts one part of the contract of
`audioqual.backbones.encoders.PretrainedEncoder` through `Backbone.from_pretrained`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from audioqual.backbones import Backbone
from audioqual.backbones.encoders import PretrainedEncoder


GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN_DIR))  # golden/signals.py and the make_*.py scripts that wrote the goldens


def assert_close_to_scale(ours: np.ndarray, expected: np.ndarray, relative: float) -> None:
    """Every value within `relative` times the expected array's largest magnitude (a scale-free tolerance)."""
    np.testing.assert_allclose(ours, expected, rtol=0, atol=relative * float(np.abs(expected).max()))


def load(name: str) -> PretrainedEncoder:
    encoder = Backbone.from_pretrained(name)
    assert isinstance(encoder, PretrainedEncoder)
    return encoder


def check_shapes_and_pooling(encoder: PretrainedEncoder, waveforms: torch.Tensor, frames: int) -> None:
    """Stacked states [L, B, F, hidden] with the declared widths, zero padding, and pooled == exact layer means."""
    assert encoder.num_hidden_states == len(encoder.layers)
    assert encoder.hidden_size == max(encoder.layer_dims)
    with torch.inference_mode():
        out = encoder(waveforms)
        states = encoder.layer_states(encoder.normalize(waveforms))
    assert out.hidden_states.shape == (encoder.num_hidden_states, waveforms.shape[0], frames, encoder.hidden_size)
    assert bool(out.frame_mask.all())
    for index, (layer, state) in enumerate(zip(encoder.layers, states)):
        assert state.shape[0] == waveforms.shape[0] and state.shape[2] == layer.dim, layer
        assert bool((out.hidden_states[index, :, :, layer.dim :] == 0).all())
        torch.testing.assert_close(out.pooled()[index, :, : layer.dim], state.mean(dim=1), atol=1e-5, rtol=1e-5)
    assert torch.isfinite(out.hidden_states).all()


def check_fingerprint_and_round_trip(name: str, other_variant: str | None, tmp_path: Path, waveform: torch.Tensor) -> None:
    """Fingerprint stable across loads, different for another variant or changed weights; save/load keeps outputs."""
    first, second = load(name), load(name)
    assert first.fingerprint() == second.fingerprint()
    if other_variant is not None:
        assert load(f"{name}:{other_variant}").fingerprint() != first.fingerprint()
    saved = Backbone.from_pretrained(first.save_pretrained(tmp_path / "saved"))
    assert isinstance(saved, PretrainedEncoder) and saved.fingerprint() == first.fingerprint()
    with torch.inference_mode():
        torch.testing.assert_close(saved(waveform).hidden_states, first(waveform).hidden_states)
        parameter = next(iter(second.parameters()))
        parameter.add_(0.01)
    second._fingerprint = None
    assert second.fingerprint() != first.fingerprint()


def check_too_short(encoder: PretrainedEncoder) -> None:
    """One sample less than the minimum raises an error naming the minimum; the minimum itself works."""
    minimum = encoder.minimum_samples()
    with pytest.raises(ValueError, match=rf"at least {minimum} samples"):
        encoder(torch.zeros(1, minimum - 1))
    with torch.inference_mode():
        out = encoder(0.1 * torch.randn(1, minimum, generator=torch.Generator().manual_seed(0)))
    assert out.hidden_states.shape[2] >= 1 and torch.isfinite(out.hidden_states).all()


def check_extract_cli(name: str, tmp_path: Path, seconds: float = 1.0) -> None:
    """`audioqual extract` on a tiny generated wav with this encoder writes one array per layer."""
    from audioqual.cli.main import main
    from audioqual.io import save_audio

    rate = 22050
    t = np.arange(int(seconds * rate)) / rate
    clip = (0.2 * np.sin(2 * np.pi * 220 * t) + 0.01 * np.random.default_rng(0).standard_normal(t.size))
    wav = save_audio(tmp_path / "clip.wav", clip.astype(np.float32), rate)
    output = tmp_path / "features.jsonl"
    code = main(["extract", str(wav), "--backbone", name, "--cache", str(tmp_path / "cache"), "-o", str(output)])
    assert code == 0
    from audioqual.data.manifest import read_manifest

    rows = read_manifest(output)
    array = np.load(rows[0].metadata["features"])
    encoder = load(name)
    assert array.shape == (encoder.num_hidden_states, encoder.hidden_size)
    assert re.fullmatch(r"[0-9a-f]{16}", encoder.fingerprint())
