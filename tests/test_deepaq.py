"""DeePAQ: embedding network, adaptation modes, saving, mapping, data, scoring and a short training run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from audioqual.errors import AudioInputError, AudioqualError
import torch
from conftest import music_like, tone

from audioqual.backbones import Backbone
from audioqual.backbones.tiny import TINY_CONFIG, tiny_backbone
from audioqual.deepaq import load_model
from audioqual.deepaq.adaptation import count_parameters
from audioqual.deepaq.config import DataConfig, DeePAQTrainingConfig, LoraSettings, ModelConfig, TrainConfig
from audioqual.deepaq.data import CodecVocabulary, read_training_manifest, split_by_source
from audioqual.deepaq.mapping import DistanceMapping, fit_distance_mapping
from audioqual.deepaq.model import DeePAQModel
from audioqual.deepaq.reference_set import build_reference_set
from audioqual.deepaq.scorer import DeePAQScorer
from audioqual.deepaq.synthetic import make_surrogate_set
from audioqual.deepaq.training import train_deepaq
from audioqual.errors import ManifestError, ModelLoadError
from audioqual.features import FeatureCache
from audioqual.io import save_audio
from audioqual.losses.rank_n_contrast import CLEAN_CODEC, NO_CODEC

TINY_OVERRIDES = {k: list(v) if isinstance(v, tuple) else v for k, v in TINY_CONFIG.items()}


def tiny_model(adaptation: str = "lora", source: str | None = None, seed: int = 0) -> DeePAQModel:
    config = ModelConfig(backbone=source, backbone_arch="hubert", adaptation=adaptation)
    backbone = Backbone.from_pretrained(source) if source else tiny_backbone("hubert", seed=seed)
    return DeePAQModel.from_config(config, backbone=backbone)


@pytest.fixture(scope="module")
def surrogate_set(tmp_path_factory):
    """12 synthetic sources: clean, MP3 at 8/32 kbit/s (ffmpeg), low-pass and noise; stand-in labels."""
    folder = tmp_path_factory.mktemp("surrogate")
    return make_surrogate_set(
        folder, sources=12, codecs=("mp3",), bitrates=(8, 32), rate=16000, seconds=1.0,
        degradations={"lowpass": (2000, 4000), "noise": (5, 20)},
    )


def test_mert_shaped_embedding_and_lora_parameter_count():
    """13 x 768 hidden states -> 9984 inputs to ReLU+Linear -> 256; LoRA q/v r=8: 24 modules, 294,912 params."""
    torch.manual_seed(0)
    backbone = Backbone.from_config("mert", mask_time_prob=0.0, layerdrop=0.0)
    model = DeePAQModel.from_config(ModelConfig(backbone=None, backbone_arch="mert", adaptation="lora"), backbone)
    assert model.head.linear.in_features == 13 * 768 == 9984
    assert model.head.linear.out_features == 256
    lora_params = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    lora_modules = {n.rsplit(".lora_", 1)[0] for n, _ in model.named_parameters() if "lora_" in n}
    assert lora_params == 294_912 and len(lora_modules) == 24
    with torch.no_grad():
        embedding = model.eval()(torch.randn(1, 24000))
    assert embedding.shape == (1, 256)


@pytest.mark.parametrize("adaptation", ["frozen", "lora", "full"])
def test_adaptation_modes_train_the_right_parameters(adaptation):
    model = tiny_model(adaptation)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {"head.linear.weight", "head.linear.bias"} <= trainable
    backbone_trainable = {n for n in trainable if n.startswith("backbone.")}
    if adaptation == "frozen":
        assert not backbone_trainable
        model.train()
        assert not model.backbone.training and model.head.training
    elif adaptation == "lora":
        assert backbone_trainable and all("lora_" in n for n in backbone_trainable)
        assert all(("q_proj" in n) or ("v_proj" in n) for n in backbone_trainable)
    else:
        assert any("encoder.layers.0.attention.q_proj.weight" in n for n in backbone_trainable)
        assert not any("feature_extractor" in n for n in backbone_trainable)


def test_lora_adapters_saved_apart_from_referenced_backbone(tmp_path, tiny_backbone_dir):
    model = tiny_model("lora", source=str(tiny_backbone_dir))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)  # non-zero adapters, so they change the output
    model.eval()
    wave = torch.randn(2, 8000, generator=torch.Generator().manual_seed(1))
    expected = model(wave)
    model.save_pretrained(tmp_path / "m")
    assert not (tmp_path / "m" / "backbone").exists()
    assert (tmp_path / "m" / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "m" / "adapter" / "adapter_config.json").is_file()
    loaded = DeePAQModel.from_pretrained(tmp_path / "m")
    assert torch.allclose(loaded(wave), expected, atol=1e-5)
    adapter_bytes = (tmp_path / "m" / "adapter" / "adapter_model.safetensors").stat().st_size
    backbone_bytes = sum(f.stat().st_size for f in tiny_backbone_dir.glob("*.safetensors"))
    assert adapter_bytes < backbone_bytes / 5


@pytest.mark.parametrize("adaptation", ["full", "lora"])
def test_random_or_finetuned_backbone_is_saved_and_reloads(tmp_path, adaptation):
    model = tiny_model(adaptation).eval()
    with torch.no_grad():
        for parameter in model.backbone.parameters():
            parameter.add_(0.01)  # weights differ from any stock initialisation
    wave = torch.randn(1, 6000)
    expected = model(wave)
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "backbone" / "config.json").is_file()
    loaded = DeePAQModel.from_pretrained(tmp_path / "m")
    assert torch.allclose(loaded(wave), expected, atol=1e-5)
    assert loaded.fingerprint() == model.fingerprint()


def test_default_model_missing_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr("audioqual.deepaq.DEFAULT_MODEL", tmp_path / "nothing")
    with pytest.raises(ModelLoadError, match="no default DeePAQ model is installed.*--model"):
        load_model(None)
    with pytest.raises(ModelLoadError, match="not a DeePAQ model directory"):
        load_model(tmp_path)
    with pytest.raises(ModelLoadError, match="does not exist .*hub id"):
        load_model(tmp_path / "not" / "here")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="cannot fetch 'someone/deepaq-model' from the Hugging Face hub"):
        load_model("someone/deepaq-model")  # a hub id is tried through the hub (offline here: clear error)


def test_cubic_mapping_matches_polyfit_and_mlp_fits(tmp_path):
    rng = np.random.default_rng(0)
    distance = rng.uniform(0, 3, 80)
    score = 5 - 4 / (1 + np.exp(-3 * (distance - 1.5))) + rng.normal(0, 0.05, 80)
    mapping = fit_distance_mapping(distance, score, ("cubic", "mlp"), {"mode": "full"})
    reference = np.polyval(np.polyfit(distance, score, 3), distance)
    assert np.allclose(mapping.cubic(distance), reference, atol=1e-8)
    mlp_mse = np.mean((mapping(distance, "mlp") - score) ** 2)
    assert mlp_mse < 0.1 * np.var(score)
    assert mapping(np.array([-100.0, 100.0])).min() >= score.min()  # clipped to the fitted range
    mapping.save(tmp_path)
    loaded = DistanceMapping.load(tmp_path)
    assert loaded.kinds() == ["cubic", "mlp"] and loaded.info["mode"] == "full"
    for kind in ("cubic", "mlp"):
        assert np.allclose(loaded(distance, kind), mapping(distance, kind), atol=1e-6)


def test_training_manifest_fields(tmp_path):
    """Rows as `audioqual degrade` + `audioqual label` write them (clean: bitrate inf; effects: no codec)."""
    rows = [
        {"path": "a.wav", "reference": "a.wav", "codec": "clean", "bitrate_kbps": math.inf, "source_id": "s1",
         "split": "train", "visqol_moslqo": 4.7},
        {"path": "b.wav", "reference": "a.wav", "codec": "AAC", "bitrate_kbps": 64, "source_id": "s1",
         "split": "train", "visqol_moslqo": 3.0, "start_time": 0.5, "end_time": 1.5},
        {"path": "c.wav", "reference": "a.wav", "codec": None, "bitrate_kbps": None, "degradation": "noise",
         "source_id": "s1", "split": "val", "visqol_moslqo": 2.0},
        {"path": "d.wav", "reference": "", "codec": "clean", "bitrate_kbps": "inf", "source_id": "s2", "split": "test"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))  # json writes inf as Infinity
    clips = read_training_manifest(manifest, DataConfig(clean_label=4.8))
    assert [c.is_clean for c in clips] == [True, False, False, True]
    assert math.isinf(clips[0].bitrate) and clips[1].codec == "aac" and clips[1].bitrate == 64
    assert clips[2].codec == "other" and math.isnan(clips[2].bitrate) and clips[3].mos == 4.8
    assert clips[1].reference == str(tmp_path / "a.wav") and clips[3].reference is None
    assert [c.split for c in clips] == ["train", "train", "val", "test"]
    # each clip keeps its manifest entry: segment and metadata are not dropped
    assert (clips[1].entry.start_time, clips[1].entry.end_time) == (0.5, 1.5)
    assert clips[1].entry.metadata["source_id"] == "s1"
    assert clips[1].audio_entry().item_id == f"{tmp_path / 'b.wav'}@0.5-1.5"
    vocabulary = CodecVocabulary.from_clips(clips)
    assert [vocabulary.id_of(c) for c in clips] == [CLEAN_CODEC, vocabulary.ids["aac"], NO_CODEC, CLEAN_CODEC]
    with pytest.raises(ManifestError, match=r"row 4 .*visqol_moslqo"):
        read_training_manifest(manifest, DataConfig())


def test_split_is_source_disjoint(surrogate_set):
    clips = read_training_manifest(surrogate_set, DataConfig())
    train, val = split_by_source(clips, 0.3, seed=0)
    assert {c.source for c in train}.isdisjoint({c.source for c in val})
    assert len(train) + len(val) == len(clips) == 12 * 7 and len({c.source for c in val}) == 4


def test_training_lowers_heldout_loss_for_every_seed(tmp_path, surrogate_set):
    """Done-when of the issue: a tiny random HuBERT trained for a few steps beats its untrained self, for 5 seeds.

    Full fine-tuning, lr 1e-3 (tiny random weights need a larger step than MERT), temperature 2 as in the
    paper; 30 steps of batch 16 on 8 training sources, 4 held-out sources. Measured on seeds 0-4: the
    held-out loss falls for each (untrained 2.12-2.19, best 2.08-2.17). The held-out SRCC is not asserted:
    the untrained random embedding already ranks at 0.65-0.75, and after 30 or 80 steps it rose for 2 of
    5 seeds only (mean 0.71 -> 0.73), so a "SRCC rises" check passed by seed (issue 19, item 20).
    """
    gains = []
    for seed in range(5):
        config = DeePAQTrainingConfig(
            model=ModelConfig(backbone=None, backbone_arch="hubert", backbone_overrides=TINY_OVERRIDES,
                              adaptation="full"),
            data=DataConfig(train_manifest=str(surrogate_set), val_fraction=0.3, clip_seconds=1.0, num_workers=0),
            train=TrainConfig(output_dir=str(tmp_path / f"run{seed}"), batch_size=16, learning_rate=1e-3,
                              max_steps=30, device="cpu", seed=seed),
        )
        result = train_deepaq(config, backbone=tiny_backbone("hubert", seed=seed), progress=False)
        untrained = result.history[0]
        assert untrained["untrained"] and result.steps == 30
        best = min(result.history[1:], key=lambda r: r["val_loss"])
        gains.append(untrained["val_loss"] - best["val_loss"])
        saved = DeePAQModel.from_pretrained(result.best_dir)
        assert saved.metadata["record"]["val_loss"] == pytest.approx(best["val_loss"])
    assert all(gain > 0 for gain in gains), gains
    assert np.mean(gains) > 0.01, gains


def test_rerun_resumes_from_the_checkpoint_and_another_config_is_refused(tmp_path, surrogate_set):
    config = DeePAQTrainingConfig(
        model=ModelConfig(backbone=None, backbone_arch="hubert", backbone_overrides=TINY_OVERRIDES, adaptation="lora"),
        data=DataConfig(train_manifest=str(surrogate_set), val_fraction=0.3, clip_seconds=0.5, num_workers=0),
        train=TrainConfig(output_dir=str(tmp_path / "run"), batch_size=16, learning_rate=1e-3, max_steps=4, device="cpu"),
    )
    first = train_deepaq(config, progress=False)
    assert first.steps == 4 and (tmp_path / "run" / "checkpoint.pt").is_file()
    config.train.max_steps = 7
    second = train_deepaq(config, progress=False)  # the same run, longer: it resumes without being told
    assert second.steps == 7
    assert [r["epoch"] for r in second.history] == list(range(-1, len(second.history) - 1))
    assert second.history[: len(first.history)] == first.history
    config.train.learning_rate = 1e-2
    with pytest.raises(AudioqualError, match="different configuration"):
        train_deepaq(config, progress=False)


def test_frozen_training_uses_feature_cache(tmp_path, surrogate_set):
    config = DeePAQTrainingConfig(
        model=ModelConfig(backbone=None, backbone_arch="hubert", backbone_overrides=TINY_OVERRIDES, adaptation="frozen"),
        data=DataConfig(train_manifest=str(surrogate_set), val_fraction=0.3, clip_seconds=1.0, num_workers=0),
        train=TrainConfig(output_dir=str(tmp_path / "run"), batch_size=16, max_steps=3, device="cpu",
                          feature_cache=str(tmp_path / "features")),
    )
    result = train_deepaq(config, backbone=tiny_backbone("hubert"), progress=False)
    assert result.steps == 3
    assert len(list((tmp_path / "features").glob("*/*.npy"))) == 12 * 7  # every clip (references included)


def test_scorer_handles_length_and_rate_mismatch(tmp_path):

    model = tiny_model("lora")
    scorer = DeePAQScorer(model, device="cpu")
    ref = save_audio(tmp_path / "ref.wav", tone(1.0, 44100, 440.0, channels=2), 44100)
    test = save_audio(tmp_path / "test.wav", tone(0.8, 48000, 440.0, seed=3) * 0.5, 48000)
    same = scorer.compare_files(ref, ref)
    assert same.distance == pytest.approx(0.0, abs=1e-5) and not same.warnings
    result = scorer.compare_files(ref, test)
    assert math.isfinite(result.distance) and result.distance > 0
    assert any("resampled" in w for w in result.warnings) and any("trimmed" in w for w in result.warnings)
    tiny = save_audio(tmp_path / "short.wav", tone(0.01, 16000), 16000)
    with pytest.raises(AudioInputError, match="short.wav: too short"):  # below the receptive field: no score
        scorer.compare_files(tiny, tiny)


def test_nmr_reference_set_is_cached_and_averaged(tmp_path, wav_folder):

    scorer = DeePAQScorer(tiny_model("lora"), device="cpu")
    cache = FeatureCache(tmp_path / "cache")
    (wav_folder / "broken.wav").write_bytes(b"RIFF0000WAVE")
    first = build_reference_set(scorer, wav_folder, cache, progress=False)
    assert len(first.paths) == 5 and list(first.failures) == [str(wav_folder / "broken.wav")]
    second = build_reference_set(scorer, wav_folder, cache, progress=False)
    assert second.reused == 5 and np.allclose(second.embeddings, first.embeddings)
    test = save_audio(tmp_path / "t.wav", tone(1.0, 16000, 300.0), 16000)
    score = scorer.compare_to_set(test, first.embeddings)
    embedding = scorer.embed(scorer.load(test).samples)
    manual = np.mean([np.linalg.norm(embedding - e) for e in first.embeddings])
    assert score.distance == pytest.approx(manual, rel=1e-5)


def test_lora_settings_are_the_papers():
    lora = LoraSettings()
    assert (lora.r, lora.alpha, lora.dropout, lora.weight_decay) == (8, 16, 0.05, 0.01)
    assert lora.target_modules == ["q_proj", "v_proj"]
    train = TrainConfig()
    assert (train.batch_size, train.learning_rate, train.lr_decay, train.lr_patience) == (32, 1e-4, 0.99, 10)
    model = tiny_model("lora")
    trainable, total = count_parameters(model)
    assert 0 < trainable < total


@pytest.mark.parametrize("adaptation", ["frozen", "full"])
def test_deepaq_stands_on_a_pretrained_encoder_and_round_trips(tmp_path, adaptation):
    """A wheel encoder is a backbone like the SSL ones: DeePAQ embeds, trains its head, saves and reloads."""
    from audioqual.backbones import Backbone

    torch.manual_seed(0)
    from audioqual.deepaq.adaptation import apply_adaptation

    encoder = apply_adaptation(Backbone.from_pretrained("resemblyzer"), adaptation)
    model = DeePAQModel(encoder, embedding_dim=16, adaptation=adaptation, backbone_source="resemblyzer")
    with pytest.raises(ValueError, match="LoRA"):
        apply_adaptation(Backbone.from_pretrained("resemblyzer"), "lora")
    wave = torch.from_numpy(np.stack([music_like(1.0, encoder.sample_rate, seed=s) for s in range(2)]))
    before = model.head.linear.weight.detach().clone()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    loss = model(wave).pow(2).sum()
    loss.backward()
    optimizer.step()
    assert not torch.equal(before, model.head.linear.weight)
    assert any(p.requires_grad for p in encoder.parameters()) == (adaptation == "full")
    model.eval()
    saved = model.save_pretrained(tmp_path / "model")
    assert (saved / "backbone").exists() == (adaptation == "full")
    loaded = DeePAQModel.from_pretrained(saved)
    with torch.no_grad():
        torch.testing.assert_close(loaded(wave), model(wave))
    assert loaded.backbone.fingerprint() == model.backbone.fingerprint()
