"""musicnn port: against the original package's outputs (goldens), live where TensorFlow imports, interface.

The goldens (tests/golden/musicnn_<variant>.npz) were made by the original
musicnn 0.1.0 extractor under TensorFlow; tests/golden/make_musicnn.py says how,
and its `test_signal` builds the input both sides use.

Tolerance: every layer within 1e-3 of that array's largest magnitude (taggram:
1e-4 absolute). The port differs from the original only by float rounding: the
extractor rounds the mel power to float16, so a last-bit difference in the
float32 STFT/mel occasionally rounds one mel value to the neighbouring float16
step (2.4e-4 in log units at 0.4); that and float32 summation order give at
most about 5e-5 of an array's scale here. A porting error (a misplaced pad,
a wrong weight layout or feature order) moves values by O(1).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audioqual.backbones import Backbone
from audioqual.backbones.encoders import load_encoder
from audioqual.backbones.encoders.musicnn import (
    FLOAT16_MAX,
    MusicnnEncoder,
    log_mel,
    mel_filterbank,
)

GOLDEN = Path(__file__).resolve().parent / "golden"
VARIANTS = MusicnnEncoder.variants
PATCHES = 2  # the 7 s test signal holds two whole patches


def _golden_module():
    spec = importlib.util.spec_from_file_location("make_musicnn", GOLDEN / "make_musicnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def signal() -> torch.Tensor:
    return torch.from_numpy(_golden_module().test_signal())[None]


@pytest.fixture(scope="module")
def outputs(signal):
    """Per variant: the encoder, its log-mel and each layer's states for the test signal."""
    results = {}
    for variant in VARIANTS:
        encoder = load_encoder(f"musicnn:{variant}")  # fails (not skips) when the wheel is missing
        with torch.no_grad():
            mel = log_mel(signal, encoder.filterbank)[0].numpy()
            states = {layer.name: s[0].numpy() for layer, s in zip(encoder.layers, encoder.layer_states(signal))}
        results[variant] = (encoder, mel, states)
    return results


def _close(mine: np.ndarray, golden: np.ndarray, name: str) -> None:
    atol = 1e-4 if name.startswith("taggram") else 1e-3 * float(np.abs(golden).max())
    np.testing.assert_allclose(mine, golden, rtol=0, atol=atol, err_msg=name)


def test_filterbank_is_librosas():
    golden = np.load(GOLDEN / "musicnn_MSD_musicnn.npz")
    bank = mel_filterbank()
    assert bank.shape == (96, 257) and bank.dtype == np.float32
    np.testing.assert_allclose(bank.sum(axis=1), golden["filterbank_row_sums"], rtol=1e-6)
    np.testing.assert_allclose(bank.sum(axis=0), golden["filterbank_col_sums"], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_the_original_extractor(outputs, variant):
    golden = np.load(GOLDEN / f"musicnn_{variant}.npz")
    _encoder, mel, states = outputs[variant]
    # log-mel: equal to the original's float16 values, or one float16 step away
    assert mel.shape[0] == int(golden["mel_frames"])
    for mine, theirs in ((mel[:8], golden["mel_first_frames"]), (mel[180:196], golden["mel_frames_180_196"])):
        step = np.spacing(theirs.astype(np.float16)).astype(np.float32)
        assert np.all(np.abs(mine - theirs) <= step)
    np.testing.assert_allclose(mel.mean(axis=0), golden["mel_band_mean"], atol=1e-4)
    checked = 0
    for key in golden.files:
        if key.startswith(("mel", "filterbank", "versions")):
            continue
        name, kind = next(((key[: -len(s)], s) for s in ("_first_frames", "_last_frames", "_first_frame", "_mean")
                           if key.endswith(s)), (key, ""))  # fmt: skip
        per_patch = states[name].reshape(PATCHES, -1, states[name].shape[-1])
        if kind == "_mean":
            mine = per_patch.mean(axis=1)
            mine = mine if golden[key].ndim == 2 else mine.mean(axis=0)
        elif kind == "_first_frames":
            mine = per_patch[0, :4]
        elif kind == "_last_frames":
            mine = per_patch[-1, -4:]
        elif kind == "_first_frame":
            mine = per_patch[0, 0, : golden[key].shape[0]]
        else:
            mine = per_patch[:, 0]
        _close(mine, golden[key], key)
        checked += 1
    assert checked >= 10


def test_live_against_the_installed_original(tmp_path, signal):
    try:
        import tensorflow as tf
        from musicnn.extractor import extractor  # needs TensorFlow with TF1 layers, and librosa

        tf.compat.v1.layers.conv2d  # noqa: B018 - Keras 3 removed it (tf_keras + TF_USE_LEGACY_KERAS=1 restore it)
    except Exception as err:  # noqa: BLE001 - any failure here means the original cannot run in this env
        pytest.skip(f"the original musicnn cannot run in this environment ({type(err).__name__}: {err})")
    from audioqual.io.write import save_audio

    wav = save_audio(tmp_path / "x.wav", signal[0].numpy(), 16000, subtype="FLOAT")
    taggram, _labels, features = extractor(str(wav), model="MSD_musicnn", extract_features=True)
    encoder = load_encoder("musicnn")
    with torch.no_grad():
        states = dict(zip(encoder.layer_names, encoder.layer_states(signal)))
    _close(states["taggram"][0].numpy(), taggram, "taggram")
    _close(states["mean_pool"][0].numpy(), features["mean_pool"], "mean_pool")


def test_backbone_interface(outputs, signal, tmp_path):
    encoder = Backbone.from_pretrained("musicnn")
    assert isinstance(encoder, MusicnnEncoder) and encoder.variant == "MSD_musicnn"
    assert encoder.sample_rate == 16000 and encoder.frames_per_second == 62.5
    assert encoder.layer_names == ("timbral", "temporal", "cnn1", "cnn2", "cnn3", "mean_pool", "max_pool",
                                   "penultimate", "taggram")  # fmt: skip
    assert encoder.layer_dims == (408, 153, 64, 64, 64, 753, 753, 200, 50)
    assert encoder.num_hidden_states == 9 and encoder.hidden_size == 753
    with torch.no_grad():
        out = encoder(signal)
    assert out.hidden_states.shape == (9, 1, PATCHES * 187, 753)
    # pooled = exact per-layer time means, zero-padded to the widest layer
    _, _, states = outputs["MSD_musicnn"]
    for index, (name, dim) in enumerate(zip(encoder.layer_names, encoder.layer_dims)):
        np.testing.assert_allclose(out.pooled()[index, 0, :dim].numpy(), states[name].mean(axis=0), rtol=1e-5, atol=1e-5)
        assert torch.all(out.pooled()[index, 0, dim:] == 0)
    # per-patch layers are repeated over their patch's 187 frames
    assert torch.equal(out.hidden_states[8, 0, 0, :50], out.hidden_states[8, 0, 186, :50])

    vgg = Backbone.from_pretrained("musicnn:MTT_vgg")
    assert vgg.layer_dims == (6144, 3072, 1536, 768, 128, 50) and vgg.hidden_size == 6144
    assert vgg.frames_per_second == pytest.approx(92 / 2.992)
    assert [s.shape[0] for s in outputs["MTT_vgg"][2].values()] == [184, 92, 46, 22, 4, 2]

    fingerprints = {v: outputs[v][0].fingerprint() for v in VARIANTS}
    assert len(set(fingerprints.values())) == len(VARIANTS)
    assert load_encoder("musicnn").fingerprint() == encoder.fingerprint() == fingerprints["MSD_musicnn"]

    saved = encoder.save_pretrained(tmp_path / "saved")
    assert json.loads((saved / "audioqual_backbone.json").read_text())["encoder"] == "musicnn"
    reloaded = Backbone.from_pretrained(saved)
    assert reloaded.fingerprint() == encoder.fingerprint()
    with torch.no_grad():
        assert torch.equal(reloaded(signal).hidden_states, out.hidden_states)


def test_too_short_input_names_the_minimum():
    encoder = load_encoder("musicnn")
    assert encoder.minimum_samples() == 47616
    with torch.no_grad():
        assert encoder(torch.zeros(1, 47616)).hidden_states.shape[2] == 187
        with pytest.raises(ValueError, match="47616"):
            encoder(torch.zeros(1, 47615))


def test_loud_input_saturates_instead_of_overflowing():
    encoder = load_encoder("musicnn")
    t = torch.arange(48000) / 16000
    loud = (0.9 * torch.sin(2 * torch.pi * 110 * t))[None]
    with torch.no_grad():
        mel = log_mel(loud, encoder.filterbank)
        out = encoder(loud)
    assert torch.isfinite(mel).all() and mel.max() == pytest.approx(np.log10(np.float16(FLOAT16_MAX)), abs=2e-3)
    assert torch.isfinite(out.hidden_states).all()


def test_extract_cli(tmp_path):
    from audioqual.cli.main import main
    from audioqual.io.write import save_audio

    rng = np.random.default_rng(0)
    clip = (0.05 * np.sin(2 * np.pi * 330 * np.arange(56000) / 16000) + 0.005 * rng.standard_normal(56000))
    save_audio(tmp_path / "clip.wav", clip.astype(np.float32), 16000)
    output = tmp_path / "features.jsonl"
    code = main(["extract", str(tmp_path / "clip.wav"), "--backbone", "musicnn", "--cache", str(tmp_path / "cache"),
                 "-o", str(output)])  # fmt: skip
    assert code in (0, None)
    row = json.loads(output.read_text().splitlines()[0])
    assert np.load(row["features"]).shape == (9, 753)


def test_checkpoint_reader_reads_the_wheel_and_refuses_garbage(tmp_path):
    from audioqual.packages import package_file
    from audioqual.backbones.encoders.tf_checkpoint import read_checkpoint
    from audioqual.errors import ModelLoadError

    index = package_file("musicnn", "MSD_vgg/.index", "musicnn")
    tensors = read_checkpoint(str(index.parent) + "/")
    assert tensors["5CNN/kernel"].shape == (3, 3, 128, 128) and tensors["dense/kernel"].shape == (256, 50)
    assert all(np.isfinite(v).all() for v in tensors.values())
    (tmp_path / "bad.index").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelLoadError, match="bad.index"):
        read_checkpoint(tmp_path / "bad")
