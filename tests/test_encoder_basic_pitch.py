"""The Basic Pitch encoder: run_inference's windows and unwrapping, layer by layer, and the interface.

The golden (tests/golden/basic_pitch.npz, made by tests/golden/make_basic_pitch.py)
comes from basic_pitch.inference.run_inference on the package's ONNX model, with
the session swapped for one that also returns the intermediate tensors (added
with the `onnx` package, independently of this encoder's byte-level graph edit).
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audioqual.backbones import Backbone
from audioqual.backbones.encoders import load_encoder
from audioqual.cli.main import main

GOLDEN_DIR = Path(__file__).parent / "golden"
DIMS = (309, 2112, 2112, 264, 2816, 88, 2816, 88)
NAMES = (
    "normalized_log",
    "harmonic-stacking",
    "re_lu_1",
    "contour",
    "re_lu_2",
    "note",
    "re_lu_3",
    "onset",
)


def _load_maker():
    spec = importlib.util.spec_from_file_location(
        "make_basic_pitch_golden", GOLDEN_DIR / "make_basic_pitch.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _load_maker()
CLIP = MAKER.test_clip()


@pytest.fixture(scope="module")
def encoder():
    return load_encoder(
        "basic-pitch"
    )  # fails (does not skip) without the basic-pitch wheel


@pytest.fixture(scope="module")
def output(encoder):
    with torch.no_grad():
        return encoder(torch.from_numpy(CLIP)[None])


def test_layers_match_run_inference_golden(encoder, output):
    """Same ONNX graph, windows and unwrapping as run_inference: equal to float32 rounding.

    Tolerance atol 1e-4 on values in [0, 1] (CQT, sigmoid heads) or O(1) (ReLU
    blocks): only onnxruntime's summation order may differ (version, threads).
    A window or unwrapping off by one sample or frame moves them by far more.
    """
    with np.load(GOLDEN_DIR / "basic_pitch.npz") as golden:
        for index, layer in enumerate(encoder.layers):
            assert (
                int(golden[f"{layer.name}/num_frames"])
                == output.hidden_states.shape[2]
                == 301
            )
            frames = output.hidden_states[
                index, 0, list(MAKER.FRAMES), : layer.dim
            ].numpy()
            np.testing.assert_allclose(
                frames,
                golden[f"{layer.name}/frames"],
                rtol=1e-4,
                atol=1e-4,
                err_msg=layer.name,
            )
            mean = output.layer_means[index, 0, : layer.dim].numpy()
            np.testing.assert_allclose(
                mean,
                golden[f"{layer.name}/mean"],
                rtol=1e-4,
                atol=1e-5,
                err_msg=layer.name,
            )


def test_live_equals_run_inference(tmp_path, encoder, output):
    try:
        from basic_pitch.inference import run_inference
    except ImportError as err:  # librosa, pretty_midi, ... are not project dependencies
        pytest.skip(
            f"basic_pitch.inference does not import here ({err}); the golden test covers it"
        )
    path = tmp_path / "clip.wav"
    sf.write(path, CLIP, 22050, subtype="FLOAT")
    expected = run_inference(path, encoder.model_path)
    for name in ("contour", "note", "onset"):
        index = encoder.layer_names.index(name)
        ours = output.hidden_states[index, 0, :, : expected[name].shape[1]].numpy()
        np.testing.assert_allclose(ours, expected[name], atol=1e-5)


def test_interface_through_backbone(encoder, output):
    backbone = Backbone.from_pretrained("basic-pitch")
    assert (
        type(backbone) is type(encoder)
        and backbone.name == "basic-pitch"
        and backbone.sample_rate == 22050
    )
    assert backbone.layer_names == NAMES and backbone.layer_dims == DIMS
    assert (
        backbone.num_hidden_states == 8
        and backbone.hidden_size == 2816
        and backbone.frames_per_second == 86
    )
    assert output.hidden_states.shape == (8, 1, 301, 2816)  # floor(3.5 s * 86)
    for index, dim in enumerate(DIMS):
        assert torch.all(output.hidden_states[index, :, :, dim:] == 0)
    assert torch.allclose(output.pooled(), output.hidden_states.mean(dim=2), atol=1e-6)
    for name in ("contour", "note", "onset"):
        head = output.hidden_states[NAMES.index(name), 0, :, : DIMS[NAMES.index(name)]]
        assert 0 <= head.min() and head.max() <= 1  # sigmoid outputs


def test_batch_with_lengths_equals_one_by_one(encoder):
    short = torch.from_numpy(CLIP[:5000])
    batch = torch.stack(
        [torch.from_numpy(CLIP[:5000]), torch.from_numpy(CLIP[:5000] * 0.5)]
    )
    with torch.no_grad():
        both = encoder(batch, torch.tensor([5000, 3000]))
        alone = encoder(short[None, :3000] * 0.5)
    assert both.frame_mask.sum(dim=1).tolist() == [
        19,
        11,
    ]  # floor(5000 * 86 / 22050), floor(3000 * 86 / 22050)
    assert torch.allclose(both.hidden_states[:, 1, :11], alone.hidden_states[:, 0])


def test_fingerprint_and_save_round_trip(tmp_path, encoder):
    assert (
        encoder.fingerprint() == load_encoder("basic-pitch:icassp_2022").fingerprint()
    )
    assert encoder.fingerprint() != load_encoder("dnsmos").fingerprint()
    assert (
        dict(encoder.state_dict()) == {}
    )  # no torch weights: the fingerprint hashes the ONNX file
    saved = encoder.save_pretrained(tmp_path / "saved")
    assert sorted(p.name for p in saved.iterdir()) == ["audioqual_backbone.json"]
    loaded = Backbone.from_pretrained(saved)
    assert (
        loaded.name == "basic-pitch" and loaded.fingerprint() == encoder.fingerprint()
    )
    copy = pickle.loads(
        pickle.dumps(encoder)
    )  # Ray workers: the session is left behind and reopened
    assert copy._session is None and copy.fingerprint() == encoder.fingerprint()
    piece = torch.from_numpy(CLIP[:3000])[None]
    assert torch.equal(copy(piece).hidden_states, encoder(piece).hidden_states)


def test_too_short_raises_naming_the_minimum(encoder):
    assert encoder.minimum_samples() == 257
    with pytest.raises(
        ValueError, match=r"basic-pitch needs at least 257 samples \(12 ms\), got 256"
    ):
        encoder(torch.zeros(1, 256))
    assert encoder(torch.zeros(1, 257)).hidden_states.shape == (8, 1, 1, 2816)


def test_extract_cli(tmp_path, capsys):
    wav = tmp_path / "clip.wav"
    sf.write(wav, CLIP[:22050], 22050)
    cache = tmp_path / "cache"
    assert (
        main(["extract", str(wav), "--backbone", "basic-pitch", "--cache", str(cache)])
        == 0
    )
    assert "1 extracted" in capsys.readouterr().out and any(cache.rglob("*"))
