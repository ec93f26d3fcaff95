"""The DNSMOS P.835 encoder: speechmos's own windows and network outputs, layer by layer, and the interface.

The golden (tests/golden/dnsmos.npz, made by tests/golden/make_dnsmos.py) comes
from speechmos.dnsmos.DNSMOS.__call__ run as published, with its session
swapped for one that also returns the intermediate tensors (added with the
`onnx` package, independently of this encoder's byte-level graph edit).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audioqual.backbones import Backbone
from audioqual.backbones.encoders import load_encoder
from audioqual.baselines.dnsmos import DNSMOS_RATE, POLYNOMIALS, DNSMOSMetric
from audioqual.cli.main import main

GOLDEN_DIR = Path(__file__).parent / "golden"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _load(GOLDEN_DIR / "make_dnsmos.py", "make_dnsmos_golden")
CLIPS = MAKER.test_clips()


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN_DIR / "dnsmos.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("dnsmos")  # fails (does not skip) without the speechmos wheel


@pytest.fixture(scope="module")
def short_output(encoder):
    with torch.no_grad():
        return encoder(torch.from_numpy(CLIPS["short"])[None])


def mos(raw: np.ndarray, personalized: bool) -> np.ndarray:
    """speechmos's clip MOS: each window's raw SIG/BAK/OVRL through its polynomial, averaged over windows."""
    polys = POLYNOMIALS[personalized]
    return np.array([np.polyval(polys[key], raw[:, column].astype(np.float64)).mean()
                     for column, key in enumerate(("sig", "bak", "ovrl"))])  # fmt: skip


@pytest.mark.parametrize("variant,clip", MAKER.CASES)
def test_layers_match_speechmos_golden(golden, variant, clip):
    """Same ONNX graph and windows as speechmos: equal to float32 rounding.

    Tolerance rtol 1e-4 / atol 1e-4 (activations are O(1)-O(10)): onnxruntime's
    conv kernels may sum in another order across versions and thread counts;
    anything wrong in windowing, repetition or reduction is off by far more.
    """
    encoder = load_encoder(f"dnsmos:{variant}")
    with torch.no_grad():
        states = encoder.layer_states(torch.from_numpy(CLIPS[clip])[None])
    for layer, state in zip(encoder.layers, states):
        expected = golden[f"{variant}/{clip}/{layer.name}"]
        assert state.shape == (1, *expected.shape), layer.name
        np.testing.assert_allclose(
            state[0].numpy(), expected, rtol=1e-4, atol=1e-4, err_msg=layer.name
        )
    raw = states[encoder.layer_names.index("sig_bak_ovr")][0].numpy()
    np.testing.assert_allclose(
        mos(raw, variant.endswith("personalized")),
        golden[f"{variant}/{clip}/mos"],
        atol=1e-5,
    )


def test_live_equals_speechmos_and_the_dnsmos_metric(encoder, short_output):
    """The raw outputs, mapped to MOS, equal speechmos's own code run now, and the project's DNSMOS metric."""
    test_dnsmos = _load(
        Path(__file__).with_name("test_dnsmos.py"), "test_dnsmos_reference"
    )  # skips without speechmos
    raw = short_output.hidden_states[
        encoder.layer_names.index("sig_bak_ovr"), 0, :, :3
    ].numpy()
    sig, bak, ovrl = mos(raw, False)
    expected = test_dnsmos.speechmos_scores(CLIPS["short"])
    assert {"dnsmos_sig": sig, "dnsmos_bak": bak, "dnsmos_ovrl": ovrl} == pytest.approx(
        expected, abs=1e-5
    )
    metric = DNSMOSMetric().score(CLIPS["short"], DNSMOS_RATE)
    assert {"dnsmos_sig": sig, "dnsmos_bak": bak, "dnsmos_ovrl": ovrl} == pytest.approx(
        metric, abs=1e-5
    )


def test_interface_through_backbone(encoder, short_output):
    backbone = Backbone.from_pretrained("dnsmos")
    assert (
        type(backbone) is type(encoder)
        and backbone.name == "dnsmos"
        and backbone.sample_rate == 16000
    )
    dims = (161, 128, 64, 64, 32, 32, 32, 64, 128, 64, 3)
    assert (
        backbone.layer_dims == dims
        and backbone.num_hidden_states == 11
        and backbone.hidden_size == 161
    )
    assert backbone.frames_per_second == 1.0 and backbone.minimum_samples() == 1
    hidden = short_output.hidden_states
    assert hidden.shape == (11, 1, 1, 161)  # 2.3 s is repeated to 9.2 s: one window
    for index, dim in enumerate(dims):
        assert torch.all(hidden[index, :, :, dim:] == 0)
    assert torch.allclose(short_output.pooled(), hidden.mean(dim=2))


def test_fingerprint_variants_and_save_round_trip(tmp_path, encoder):
    personal = load_encoder("dnsmos:p835-personalized")
    assert encoder.fingerprint() == load_encoder("dnsmos").fingerprint()
    assert (
        encoder.fingerprint() != personal.fingerprint()
        and personal.name == "dnsmos:p835-personalized"
    )
    assert (
        dict(encoder.state_dict()) == {}
    )  # no torch weights: the fingerprint hashes the ONNX file
    saved = personal.save_pretrained(tmp_path / "saved")
    assert sorted(p.name for p in saved.iterdir()) == [
        "audioqual_backbone.json"
    ]  # nothing to save but the name
    loaded = Backbone.from_pretrained(saved)
    assert (
        loaded.name == "dnsmos:p835-personalized"
        and loaded.fingerprint() == personal.fingerprint()
    )


def test_too_short_raises_naming_the_minimum(encoder):
    with pytest.raises(ValueError, match=r"dnsmos needs at least 1 samples"):
        encoder(torch.zeros(1, 0))


def test_extract_cli(tmp_path, capsys):
    wav = tmp_path / "clip.wav"
    sf.write(wav, CLIPS["short"][:DNSMOS_RATE], DNSMOS_RATE)  # 1 s: one repeated window
    cache = tmp_path / "cache"
    assert (
        main(["extract", str(wav), "--backbone", "dnsmos", "--cache", str(cache)]) == 0
    )
    assert "1 extracted" in capsys.readouterr().out and any(cache.rglob("*"))
