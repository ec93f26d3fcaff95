"""Backbones: every architecture builds tiny, saves, reloads offline, and encodes in chunks."""

from __future__ import annotations

import json

import pytest
import torch

from audioqual.backbones import Backbone, detect_arch
from audioqual.backbones.tiny import tiny_backbone
from audioqual.errors import ModelLoadError

ARCHS = ["wav2vec2", "hubert", "wavlm", "mert"]


@pytest.mark.parametrize("arch", ARCHS)
def test_save_and_reload_from_local_directory_gives_identical_outputs(tmp_path, arch):
    backbone = tiny_backbone(arch)
    backbone.save_pretrained(tmp_path / arch)
    reloaded = Backbone.from_pretrained(tmp_path / arch)
    assert reloaded.info.arch == arch
    assert reloaded.sample_rate == (24000 if arch == "mert" else 16000)
    assert reloaded.fingerprint() == backbone.fingerprint()
    audio = torch.randn(2, reloaded.sample_rate)
    with torch.no_grad():
        first, second = backbone(audio), reloaded(audio)
    assert first.hidden_states.shape == (3, 2, second.hidden_states.shape[2], 32)
    torch.testing.assert_close(first.hidden_states, second.hidden_states)


def test_mert_config_loads_into_stock_hubert_without_remote_code(tmp_path):
    """A config.json as MERT ships it (model_type mert_model, auto_map) loads into HubertModel."""
    source = tiny_backbone("hubert", seed=3)
    source.model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(
        model_type="mert_model",
        architectures=["MERTModel"],
        auto_map={"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
        feature_extractor_cqt=False,
        deepnorm=False,
        attention_relax=-1.0,
        sample_rate=24000,
    )
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_normalize": True, "sampling_rate": 24000}))
    mert = Backbone.from_pretrained(tmp_path)
    assert mert.info.arch == "mert" and type(mert.model).__name__ == "HubertModel"
    assert mert.sample_rate == 24000 and mert.info.normalize_input
    audio = torch.randn(1, 24000) * 0.1 + 0.05
    with torch.no_grad():
        expected = source.model(
            (audio - audio.mean()) / torch.sqrt(audio.var(unbiased=False) + 1e-7), output_hidden_states=True
        ).hidden_states
        got = mert(audio).hidden_states
    torch.testing.assert_close(got, torch.stack(expected))


def test_training_augmentation_is_off_after_loading(tiny_backbone_dir):
    backbone = Backbone.from_pretrained(tiny_backbone_dir)
    assert backbone.model.config.mask_time_prob == 0.0 and backbone.model.config.layerdrop == 0.0


def test_frame_mask_and_pooling_ignore_padding():
    backbone = tiny_backbone("wav2vec2")
    audio = torch.randn(1, 16000)
    padded = torch.cat([audio, torch.zeros(1, 8000)], dim=1)
    with torch.no_grad():
        out = backbone(torch.cat([padded, padded]), lengths=torch.tensor([16000, 24000]))
    frames = out.frame_mask.sum(dim=1)
    assert frames[0] == backbone.model._get_feat_extract_output_lengths(torch.tensor(16000))
    assert frames[1] == out.hidden_states.shape[2]
    manual = out.hidden_states[:, 0, : int(frames[0])].mean(dim=1)
    torch.testing.assert_close(out.pooled()[:, 0], manual)


@pytest.mark.parametrize("arch", ["hubert", "mert"])
def test_chunked_long_audio_matches_whole_when_one_chunk_and_pools_all_frames(arch):
    backbone = tiny_backbone(arch)
    rate = backbone.sample_rate
    audio = torch.randn(3 * rate)
    with torch.no_grad():
        whole = backbone(audio[None]).hidden_states[:, 0]
        one_chunk = backbone.encode_long(audio, chunk_seconds=10.0)
        frames = backbone.encode_long(audio, chunk_seconds=1.0, keep_frames=True)
        chunked_mean = backbone.encode_long(audio, chunk_seconds=1.0)
    torch.testing.assert_close(one_chunk, whole.mean(dim=1), rtol=1e-4, atol=1e-5)
    assert frames.shape[0] == 3 and abs(frames.shape[1] - whole.shape[1]) <= 3
    torch.testing.assert_close(chunked_mean, frames.mean(dim=1), rtol=1e-4, atol=1e-5)


def test_chunking_folds_a_too_short_tail():
    backbone = tiny_backbone("hubert")
    audio = torch.randn(16000 + 100)  # a 100-sample tail is shorter than one frame's receptive field
    with torch.no_grad():
        frames = backbone.encode_long(audio, chunk_seconds=1.0, keep_frames=True)
    assert frames.shape[1] == backbone.model._get_feat_extract_output_lengths(torch.tensor(16100))


def test_hub_id_offline_gives_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="local directory"):
        Backbone.from_pretrained("some-org/not-a-cached-model")


def test_missing_directory_and_missing_config(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        Backbone.from_pretrained(tmp_path / "absent")
    with pytest.raises(ModelLoadError, match="no config.json"):
        Backbone.from_pretrained(tmp_path)


def test_detect_arch():
    assert detect_arch({"model_type": "wav2vec2"}) == "wav2vec2"
    assert detect_arch({"model_type": "wavlm"}) == "wavlm"
    assert detect_arch({"model_type": "mert_model", "architectures": ["MERTModel"]}) == "mert"
    with pytest.raises(ModelLoadError, match="not a supported backbone"):
        detect_arch({"model_type": "bert"})
