"""Audiobox-Aesthetics head: official checkpoint mapping, faithfulness, chunking, DAT fine-tuning, save/score."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tone

from audioqual.backbones.tiny import tiny_backbone
from audioqual.config import from_dict
from audioqual.data.aes import read_aes_manifest
from audioqual.data.manifest import ManifestEntry
from audioqual.domains.branch import BranchSpec
from audioqual.errors import AudioqualError, ModelLoadError
from audioqual.heads.aesthetics import (
    HEAD_NAME,
    AestheticsOptions,
    build_head,
    export_official,
    load_backbone,
    read_official,
)
from audioqual.heads.aesthetics.chunking import WindowBatch, inference_windows, training_windows
from audioqual.heads.aesthetics.convert import model_from_official, to_official
from audioqual.heads.aesthetics.encoder import encode_hidden_states, frame_padding
from audioqual.heads.aesthetics.loss import mae_mse_loss
from audioqual.heads.aesthetics.model import AestheticsModel
from audioqual.heads.aesthetics.official import DEFAULT_MODEL_CFG, OfficialCheckpoint, official_to_hf_key
from audioqual.heads.base import InputInfo
from audioqual.io import save_audio
from audioqual.nr.model import InputSpec, NoReferenceModel
from audioqual.nr.official_aesthetics import import_official
from audioqual.nr.scoring import Scorer, load_scorer
from audioqual.train.nr import split_items, train_nr
from audioqual.train.nr_config import NRTrainConfig

REPO = Path(__file__).resolve().parents[1]
ASPECTS = ["PQ", "PC", "CE", "CU"]
AXES = ("CE", "CU", "PC", "PQ")
RATE = 16000
TINY_OFFICIAL = dict(
    encoder_layers=2,
    encoder_embed_dim=48,
    encoder_ffn_embed_dim=64,
    encoder_attention_heads=2,
    conv_feature_layers="[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2",
    conv_pos=16,
    conv_pos_groups=2,
)


def released_key_shapes(
    layers=12, dim=768, ffn=3072, heads=12, conv=512, kernels=(10, 3, 3, 3, 3, 2, 2), pos=128, groups=16, buckets=320
) -> dict[str, tuple[int, ...]]:
    """Every key and shape of Meta's released model, written out from its architecture (CE, CU, PC, PQ axes)."""
    w = "wavlm_model."
    keys: dict[str, tuple[int, ...]] = {f"{w}mask_emb": (dim,)}
    for i, kernel in enumerate(kernels):
        keys[f"{w}feature_extractor.conv_layers.{i}.0.weight"] = (conv, 1 if i == 0 else conv, kernel)
    keys[f"{w}feature_extractor.conv_layers.0.2.weight"] = (conv,)
    keys[f"{w}feature_extractor.conv_layers.0.2.bias"] = (conv,)
    keys[f"{w}layer_norm.weight"] = keys[f"{w}layer_norm.bias"] = (conv,)
    keys[f"{w}post_extract_proj.weight"], keys[f"{w}post_extract_proj.bias"] = (dim, conv), (dim,)
    keys[f"{w}encoder.pos_conv.0.bias"] = (dim,)
    keys[f"{w}encoder.pos_conv.0.weight_g"] = (1, 1, pos)
    keys[f"{w}encoder.pos_conv.0.weight_v"] = (dim, dim // groups, pos)
    keys[f"{w}encoder.layer_norm.weight"] = keys[f"{w}encoder.layer_norm.bias"] = (dim,)
    for i in range(layers):
        p = f"{w}encoder.layers.{i}."
        for proj in ("q", "k", "v", "out"):
            keys[f"{p}self_attn.{proj}_proj.weight"], keys[f"{p}self_attn.{proj}_proj.bias"] = (dim, dim), (dim,)
        if i == 0:
            keys[f"{p}self_attn.relative_attention_bias.weight"] = (buckets, heads)
        keys[f"{p}self_attn.grep_linear.weight"], keys[f"{p}self_attn.grep_linear.bias"] = (8, dim // heads), (8,)
        keys[f"{p}self_attn.grep_a"] = (1, heads, 1, 1)
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            keys[f"{p}{norm}.weight"] = keys[f"{p}{norm}.bias"] = (dim,)
        keys[f"{p}fc1.weight"], keys[f"{p}fc1.bias"] = (ffn, dim), (ffn,)
        keys[f"{p}fc2.weight"], keys[f"{p}fc2.bias"] = (dim, ffn), (dim,)
    for axis in AXES:
        keys[f"proj_layer.{axis}.0.weight"], keys[f"proj_layer.{axis}.0.bias"] = (1, dim), (1,)
        keys[f"layer_weights.{axis}"] = (layers + 1,)
    return keys


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {k: 0.05 * torch.randn(shape, generator=generator) for k, shape in shapes.items()}


def tiny_official_state(seed: int = 0) -> dict[str, torch.Tensor]:
    state = random_state(released_key_shapes(layers=2, dim=48, ffn=64, heads=2, conv=32, pos=16, groups=2), seed)
    for key in state:  # LayerNorm / GroupNorm gains near 1, as trained models have
        if key.endswith(("layer_norm.weight", "conv_layers.0.2.weight", "weight_g")):
            state[key] = 1.0 + state[key]
    return state


def tiny_checkpoint(seed: int = 0) -> OfficialCheckpoint:
    transform = {axis: {"mean": 5.0 + i, "std": 1.5 + 0.25 * i} for i, axis in enumerate(AXES)}
    return OfficialCheckpoint(tiny_official_state(seed), {**DEFAULT_MODEL_CFG, "nth_layer": 3}, transform, "tiny")


def masked_batch(lengths: list[int], samples: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    waveforms = torch.randn(len(lengths), samples, generator=torch.Generator().manual_seed(seed))
    mask = torch.arange(samples)[None, :] < torch.tensor(lengths)[:, None]
    return waveforms * mask, mask


# --- padding and encoder -------------------------------------------------------------------------------


def test_frame_padding_is_the_all_samples_rule():
    torch.manual_seed(0)
    padding = torch.rand(3, 1000) > 0.7
    padding[1, 400:] = True
    frames = 7
    result = frame_padding(padding, frames)
    group = 1000 // frames
    for b in range(3):
        for f in range(frames):
            assert bool(result[b, f]) == all(bool(padding[b, s]) for s in range(f * group, (f + 1) * group))


def test_official_frame_rule_keeps_one_more_frame_than_conv_lengths():
    backbone = tiny_backbone("wavlm")
    waveforms, mask = masked_batch([16000, 9000], 16000)
    _, valid = encode_hidden_states(backbone.model, waveforms, mask)
    conv_lengths = backbone.model._get_feat_extract_output_lengths(torch.tensor([16000, 9000]))
    assert valid.sum(1).tolist() == [49, 28]  # frame j valid iff some sample of [326 j, 326 (j+1)) is
    assert conv_lengths.tolist() == [49, 27]


def test_encoder_equals_backbone_without_padding():
    backbone = tiny_backbone("wavlm")
    waveforms = torch.randn(2, 12000)
    with torch.no_grad():
        reference = backbone(waveforms).hidden_states
        states, valid = encode_hidden_states(backbone.model, waveforms)
    assert bool(valid.all())
    torch.testing.assert_close(states, reference, rtol=0, atol=1e-6)


# --- official format and faithfulness ------------------------------------------------------------------


def test_released_key_layout_loads_strictly_and_round_trips():
    shapes = released_key_shapes()
    assert len(shapes) == 260
    state = random_state(shapes)
    transform = {axis: {"mean": 5.0, "std": 2.0} for axis in AXES}
    model = model_from_official(
        OfficialCheckpoint(dict(state), dict(DEFAULT_MODEL_CFG), transform, "released"), ASPECTS
    )
    assert model.num_states == 13 and model.backbone.hidden_size == 768
    exported, model_cfg, exported_transform = to_official(model)
    assert set(exported) == set(state)
    for key, tensor in state.items():
        assert torch.equal(exported[key], tensor), key
    assert model_cfg == DEFAULT_MODEL_CFG and exported_transform == transform
    with torch.no_grad():
        scores = model.eval()(torch.randn(1, RATE)).prediction.mean
    assert scores.shape == (1, 4) and bool(torch.isfinite(scores).all())


def test_unknown_or_missing_keys_are_errors():
    state = tiny_official_state()
    state["wavlm_model.encoder.layers.0.extra.weight"] = torch.zeros(1)
    with pytest.raises(ModelLoadError, match="extra.weight.*no transformers counterpart"):
        model_from_official(OfficialCheckpoint(state, {**DEFAULT_MODEL_CFG, "nth_layer": 3}, {}, "x"), ASPECTS)
    state = tiny_official_state()
    del state["wavlm_model.encoder.layers.1.fc2.bias"]
    with pytest.raises(ModelLoadError, match="do not fit"):
        model_from_official(OfficialCheckpoint(state, {**DEFAULT_MODEL_CFG, "nth_layer": 3}, {}, "x"), ASPECTS)
    assert official_to_hf_key("encoder.layers.3.self_attn.grep_a") == "encoder.layers.3.attention.gru_rel_pos_const"


def test_checkpoint_file_and_hub_directory_round_trip(tmp_path):
    model = model_from_official(tiny_checkpoint(), ASPECTS, window_seconds=1.0, hop_seconds=1.0).eval()
    clip = torch.randn(1, 25000)
    with torch.no_grad():
        expected = model(clip).prediction.mean
    checkpoint = export_official(model, tmp_path / "checkpoint.pt", layout="checkpoint")
    hub = export_official(model, tmp_path / "hub", layout="hub")
    raw = torch.load(checkpoint, weights_only=True)
    assert set(raw) == {"state_dict", "model_cfg", "target_transform"}
    assert all(k.startswith("model.") for k in raw["state_dict"])
    # an earlier hub wrapper prefixed every key with "encoder."
    from safetensors.torch import load_file, save_file

    prefixed = tmp_path / "prefixed"
    prefixed.mkdir()
    save_file(
        {f"encoder.{k}": v for k, v in load_file(str(hub / "model.safetensors")).items()},
        str(prefixed / "model.safetensors"),
    )
    (prefixed / "config.json").write_text((hub / "config.json").read_text())
    for source in (checkpoint, hub, prefixed):
        loaded = model_from_official(read_official(source), ASPECTS, window_seconds=1.0, hop_seconds=1.0).eval()
        with torch.no_grad():
            torch.testing.assert_close(loaded(clip).prediction.mean, expected, rtol=0, atol=0)


def test_bad_sources_name_the_file(tmp_path):
    junk = tmp_path / "not_a_checkpoint.pt"
    junk.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="not_a_checkpoint.pt"):
        read_official(junk)
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(ModelLoadError, match="no 'state_dict'"):
        read_official(tmp_path / "other.pt")


def _official_module(monkeypatch):
    aes = pytest.importorskip(
        "audiobox_aesthetics.model.aes", reason="Meta's audiobox_aesthetics package is not installed"
    )
    from audiobox_aesthetics.model.wavlm import WavLMConfig as OfficialWavLMConfig

    config = dict(aes.DEFAULT_AUDIO_CFG.__dict__)
    config.update(TINY_OFFICIAL)
    monkeypatch.setattr(aes, "DEFAULT_AUDIO_CFG", OfficialWavLMConfig(config))
    return aes


@pytest.mark.oracle  # Meta's audiobox_aesthetics code
def test_matches_meta_implementation_with_padding(monkeypatch):
    """Meta's own model code (tiny config) and ours on the same weights and padded windows."""
    aes = _official_module(monkeypatch)
    checkpoint = tiny_checkpoint(seed=3)
    official = aes.AesMultiOutput(nth_layer=3, target_transform=checkpoint.target_transform)
    assert {k: tuple(v.shape) for k, v in official.state_dict().items()} == {
        k: tuple(v.shape) for k, v in checkpoint.state_dict.items()
    }
    official.load_state_dict(checkpoint.state_dict, strict=True)
    official.eval()
    ours = model_from_official(checkpoint, ASPECTS).eval()
    waveforms, mask = masked_batch([16000, 9000, 2345, 700], 16000, seed=1)
    with torch.no_grad():
        expected = official({"wav": waveforms[:, None], "mask": mask[:, None]})
        z, _ = ours.predict_windows(WindowBatch(waveforms, mask, torch.arange(4), torch.ones(4)))
    for index, aspect in enumerate(ASPECTS):
        torch.testing.assert_close(z[:, index], expected[aspect], rtol=0, atol=1e-6)


def reference_chunked_scores(model: AestheticsModel, clip: torch.Tensor, window: int, hop: int) -> torch.Tensor:
    """The official inference loop written out: pad each window, score it alone, length-weighted mean."""
    total, weight_sum = torch.zeros(len(model.aspects)), 0.0
    for start in range(0, clip.shape[0], hop):
        piece = clip[start : start + window]
        padded = torch.zeros(window)
        padded[: piece.shape[0]] = piece
        mask = torch.arange(window) < piece.shape[0]
        z, _ = model.predict_windows(
            WindowBatch(padded[None], mask[None], torch.zeros(1, dtype=torch.long), torch.ones(1))
        )
        weight = piece.shape[0] / window
        total += weight * (z[0] * model.target_std + model.target_mean)
        weight_sum += weight
    return total / weight_sum


@pytest.mark.parametrize("hop_seconds", [1.0, 0.6])
def test_chunked_inference_matches_reference_loop(hop_seconds):
    model = model_from_official(
        tiny_checkpoint(), ASPECTS, window_seconds=1.0, hop_seconds=hop_seconds, chunk_batch_size=3
    ).eval()
    lengths = [35000, 16000, 5000]  # 2.19 windows, exactly one, shorter than one
    waveforms, _ = masked_batch(lengths, 35000, seed=2)
    with torch.no_grad():
        scores = model(waveforms, torch.tensor(lengths)).prediction.mean
        for row, length in enumerate(lengths):
            expected = reference_chunked_scores(model, waveforms[row, :length], model.window, model.hop)
            torch.testing.assert_close(scores[row], expected, rtol=0, atol=1e-5)


def test_windows_geometry():
    waveforms, _ = masked_batch([30, 12, 5], 30)
    batch = inference_windows(waveforms, torch.tensor([30, 12, 5]), window=10, hop=10)
    assert batch.clip_index.tolist() == [0, 0, 0, 1, 1, 2]
    assert batch.weights.tolist() == pytest.approx([1, 1, 1, 1, 0.2, 0.5])
    assert batch.sample_mask.sum(1).tolist() == [10, 10, 10, 10, 2, 5]
    torch.manual_seed(0)
    crops = training_windows(waveforms, torch.tensor([30, 12, 5]), window=10)
    assert crops.waveforms.shape == (3, 10) and crops.sample_mask.sum(1).tolist() == [10, 10, 5]
    for row, length in enumerate([30, 12]):
        source = waveforms[row, :length].tolist()
        crop = crops.waveforms[row].tolist()
        assert any(source[s : s + 10] == crop for s in range(length - 9))


def test_mae_mse_loss_matches_loop():
    torch.manual_seed(0)
    prediction, target, std = torch.randn(5, 4) * 3 + 5, torch.rand(5, 4) * 9 + 1, torch.rand(4) + 0.5
    total = 0.0
    for b in range(5):
        for a in range(4):
            e = (float(prediction[b, a]) - float(target[b, a])) / float(std[a])
            total += abs(e) + e * e
    assert float(mae_mse_loss(prediction, target, std)) == pytest.approx(total / 5, rel=1e-6)


def test_layer_weighting_and_pooling_follow_the_definition():
    backbone = tiny_backbone("wavlm")
    model = AestheticsModel(backbone, ["PQ", "CE"], window_seconds=1.0).eval()
    with torch.no_grad():
        model.layer_weights["PQ"].copy_(torch.tensor([0.3, -1.0, 2.0]))
    waveforms, mask = masked_batch([16000, 6000], 16000)
    with torch.no_grad():
        embeddings = model.embed(waveforms, mask)
        states, valid = encode_hidden_states(backbone.model, waveforms, mask, feature_grad_mult=0.1)
    w = torch.exp(torch.tensor([0.3, -1.0, 2.0]))
    w = w / w.sum()
    for b in range(2):
        frames = [f for f in range(states.shape[2]) if valid[b, f]]
        mean = sum(sum(w[layer] * states[layer, b, f] for layer in range(3)) for f in frames) / len(frames)
        torch.testing.assert_close(embeddings[b, 0], mean / mean.norm(), rtol=0, atol=1e-5)


# --- training: gradients, checkpointing, precision ----------------------------------------------------


def test_head_is_registered():
    from audioqual.heads.aesthetics import FACTORY
    from audioqual.heads.registry import head_factory

    assert head_factory(HEAD_NAME) is FACTORY and FACTORY.input_kind == "waveform"
    assert head_factory("audioqual.aesthetics:FACTORY") is FACTORY  # the path saved before the head moved to heads/
    assert FACTORY.load_backbone is load_backbone  # train nr / score open features.backbone through it
    info = InputSpec(kind="waveform", backbone="x").input_info(ASPECTS)
    assert info.aspects == tuple(ASPECTS) and info.num_aspects == 4


def _nr_model(backbone_dir: Path, branches=(), **options) -> NoReferenceModel:
    spec = InputSpec(kind="waveform", backbone=str(backbone_dir), sample_rate=RATE)
    opts = {"window_seconds": 0.5, "hop_seconds": 0.5, **options}
    return NoReferenceModel.build(HEAD_NAME, opts, ASPECTS, spec, list(branches))


@pytest.fixture(scope="module")
def wavlm_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("tiny_wavlm")
    tiny_backbone("wavlm").save_pretrained(directory)
    return directory


def test_reversed_domain_gradient_reaches_the_encoder(wavlm_dir):
    model = _nr_model(wavlm_dir, [BranchSpec("source", 3, 0.5, 1.0)]).eval()
    waveforms, _ = masked_batch([8000, 8000, 8000], 8000)
    labels = {"source": torch.tensor([0, 1, 2])}

    def encoder_grads(reversed_: bool) -> dict[str, torch.Tensor]:
        model.zero_grad()
        out = model(waveforms)
        classifier = model.adversary.classifiers["source"]
        logits = {"source": classifier(out.h) if reversed_ else classifier.layers(out.h)}
        model.adversary.loss(logits, labels).total.backward()
        return {n: p.grad.clone() for n, p in model.head.backbone.named_parameters() if p.grad is not None}

    through_grl, plain = encoder_grads(True), encoder_grads(False)
    conv = "model.feature_extractor.conv_layers.0.conv.weight"
    attention = "model.encoder.layers.1.attention.q_proj.weight"
    assert through_grl[conv].abs().sum() > 0 and through_grl[attention].abs().sum() > 0
    for name in (conv, attention):
        torch.testing.assert_close(through_grl[name], -plain[name], rtol=1e-4, atol=1e-9)


def test_feature_grad_mult_scales_only_the_conv_encoder(wavlm_dir):
    waveforms, _ = masked_batch([8000, 8000], 8000)
    grads = {}
    for mult in (1.0, 0.1):
        torch.manual_seed(0)  # same head initialisation
        model = _nr_model(wavlm_dir, feature_grad_mult=mult).eval()
        model(waveforms).prediction.mean.sum().backward()
        grads[mult] = {n: p.grad for n, p in model.head.backbone.named_parameters()}
    conv, attention = (
        "model.feature_extractor.conv_layers.2.conv.weight",
        "model.encoder.layers.0.attention.k_proj.weight",
    )
    torch.testing.assert_close(grads[0.1][conv], 0.1 * grads[1.0][conv], rtol=1e-3, atol=1e-8)
    torch.testing.assert_close(grads[0.1][attention], grads[1.0][attention], rtol=1e-4, atol=1e-9)


def test_gradient_checkpointing_gives_the_same_gradients(wavlm_dir):
    waveforms, _ = masked_batch([8000, 6000], 8000)
    results = []
    for checkpointing in (False, True):
        torch.manual_seed(1)
        model = _nr_model(wavlm_dir, gradient_checkpointing=checkpointing).train()
        assert model.head.backbone.model.encoder.layers[0].gradient_checkpointing is checkpointing
        torch.manual_seed(0)
        loss = model.task_loss(model(waveforms, torch.tensor([8000, 6000])), torch.full((2, 4), 5.0))
        loss.backward()
        results.append(
            (loss.detach(), model.head.backbone.model.encoder.layers[1].feed_forward.output_dense.weight.grad)
        )
    torch.testing.assert_close(results[1][0], results[0][0])
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-5, atol=1e-8)


def test_every_trainable_parameter_gets_a_gradient():
    """What DistributedDataParallel needs: unused parameters (mask vector, layers past nth_layer) are frozen."""
    checkpoint = tiny_checkpoint()
    checkpoint.model_cfg["nth_layer"] = 2  # the last transformer layer is not used
    for axis in AXES:
        checkpoint.state_dict[f"layer_weights.{axis}"] = checkpoint.state_dict[f"layer_weights.{axis}"][:2]
    model = model_from_official(checkpoint, ASPECTS, window_seconds=0.5).train()
    assert model.backbone.model.masked_spec_embed is not None
    model.task_loss(model(torch.randn(2, 8000)), torch.full((2, 4), 5.0)).backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert "backbone.model.encoder.layers.0.attention.rel_attn_embed.weight" in trainable
    assert not any(n.startswith(("backbone.model.encoder.layers.1.", "backbone.model.masked")) for n in trainable)
    assert [n for n, p in trainable.items() if p.grad is None] == []


def test_load_backbone_reads_meta_checkpoints_and_transformers_dirs(tmp_path, wavlm_dir):
    official = model_from_official(tiny_checkpoint(), ASPECTS)
    checkpoint = export_official(official, tmp_path / "checkpoint.pt")
    backbone = load_backbone(str(checkpoint))
    waveforms = torch.randn(1, 8000)
    with torch.no_grad():
        torch.testing.assert_close(backbone(waveforms).hidden_states, official.backbone(waveforms).hidden_states)
    assert load_backbone(str(wavlm_dir)).num_hidden_states == 3


def test_bf16_autocast_runs_on_cpu_and_fp16_training_is_refused(wavlm_dir):
    waveforms, _ = masked_batch([8000], 8000)
    torch.manual_seed(0)
    full = _nr_model(wavlm_dir).eval()
    half = _nr_model(wavlm_dir, precision="bf16").eval()
    half.load_state_dict(full.state_dict())
    with torch.no_grad():
        a, b = full(waveforms).prediction.mean, half(waveforms).prediction.mean
    assert b.dtype == torch.float32
    torch.testing.assert_close(b, a, rtol=0, atol=0.05)
    fp16 = _nr_model(wavlm_dir, precision="16").train()
    with pytest.raises(RuntimeError, match="bf16"):
        fp16(waveforms)


# --- end to end through train nr / score ------------------------------------------------------------


@pytest.fixture(scope="module")
def rated_clips(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("aes_data")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        path = root / "audio" / f"clip{i:02d}.wav"
        save_audio(path, tone(0.3 + 0.15 * (i % 4), RATE, 150.0 + 70.0 * i, seed=i), RATE)
        scores = {a: float(rng.uniform(1, 10)) for a in ASPECTS}
        rows.append({"path": str(path), **scores, "source": "abc"[i % 3], "system": f"sys{i % 4}"})
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _train_config(root: Path, backbone: Path, strategy: str, out: Path) -> NRTrainConfig:
    return from_dict(
        NRTrainConfig,
        {
            "output_dir": str(out),
            "seed": 1,
            "data": {"train": str(root / "train.jsonl"), "valid_fraction": 0.25},
            "features": {"backbone": str(backbone), "cache_dir": str(root / "cache")},
            "head": {"name": HEAD_NAME, "options": {"window_seconds": 0.5, "hop_seconds": 0.5}},
            "domains": [] if strategy == "none" else [{"strategy": strategy}],
            "optim": {"epochs": 2, "batch_size": 4, "lr": 1e-3, "device": "cpu"},
        },
    )


@pytest.mark.parametrize("strategy", ["none", "source", "kmeans:2", "random:2"])
def test_fine_tunes_end_to_end_with_each_strategy(rated_clips, wavlm_dir, tmp_path, strategy):
    model_dir = train_nr(_train_config(rated_clips, wavlm_dir, strategy, tmp_path / "run"), progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(metrics["history"]) == 2
    assert all(math.isfinite(r["train_loss"]) for r in metrics["history"])
    saved = NoReferenceModel.from_pretrained(model_dir)
    initial = tiny_backbone("wavlm").model.state_dict()
    tuned = saved.head.backbone.model.state_dict()
    changed = [k for k in initial if not torch.equal(initial[k], tuned[k])]
    assert any("conv_layers.0" in k for k in changed) and any("encoder.layers.1" in k for k in changed)
    if strategy == "none":
        assert saved.adversary is None and metrics["history"][0]["train_adv_loss"] == 0.0
        # no checkpoint fixed the normalisation: it was fitted on the training split before training
        train_items, _ = split_items(read_aes_manifest(rated_clips / "train.jsonl", ASPECTS), 0.25, 1)
        assert len(train_items) == saved.metadata["train_items"] == 9
        for index, aspect in enumerate(ASPECTS):
            values = [item.scores[aspect] for item in train_items]
            assert float(saved.head.target_mean[index]) == pytest.approx(statistics.fmean(values), rel=1e-5)
            assert float(saved.head.target_std[index]) == pytest.approx(statistics.pstdev(values), rel=1e-5)
        assert saved.head.target_fixed.all()
    else:
        assert len(saved.branches) == 1 and metrics["history"][0]["train_adv_loss"] > 0
        assert set(metrics["history"][0]["domain_accuracy"]) == {saved.branches[0].name}


def test_saved_model_reloads_in_a_new_process_and_scores_identically(rated_clips, wavlm_dir, tmp_path):
    backbone = tmp_path / "wavlm_copy"
    tiny_backbone("wavlm").save_pretrained(backbone)
    model_dir = train_nr(_train_config(rated_clips, backbone, "source", tmp_path / "run"), progress=False)
    for file in backbone.iterdir():  # the saved model must not need the original backbone
        file.unlink()
    backbone.rmdir()
    config = json.loads((model_dir / "config.json").read_text())
    assert config["head_options"]["init"] == "config" and config["head_options"]["encoder_config"]
    assert config["head_options"]["aspects"] == ASPECTS and config["input"]["crop_seconds"] is None

    audio = sorted((rated_clips / "audio").glob("*.wav"))[:4]
    scorer = Scorer(load_scorer(model_dir), device="cpu", progress=False, cache_dir=tmp_path / "cache")
    entries = [ManifestEntry(path=str(p)) for p in audio]
    assert scorer.prepare(entries) == {}
    expected = {e.path: scorer.score_one(e) for e in entries}

    output = tmp_path / "scores.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    # the `audioqual score` command's own parser and run(), without importing every other command
    cli = "import argparse, sys; from audioqual.cli import score_cmd as c; p = argparse.ArgumentParser(); "
    cli += "c.add_arguments(p); sys.exit(c.run(p.parse_args()))"
    command = [sys.executable, "-c", cli, *map(str, audio), "-o", str(output)]
    command += ["--model", str(model_dir), "--device", "cpu", "--cache-dir", str(tmp_path / "cache2"), "-q"]
    subprocess.run(command, check=True, env=env, cwd=Path(__file__).resolve().parents[1], capture_output=True)
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == 4
    for row in rows:
        for aspect in ASPECTS:
            assert row[aspect] == pytest.approx(expected[row["path"]][aspect], abs=1e-6)  # bitwise equal here
            assert row[f"{aspect}_std"] is None


def test_fine_tunes_meta_checkpoint_with_dat(rated_clips, tmp_path):
    """Start from a checkpoint in Meta's format (tiny), fine-tune with DAT-Source through the generic trainer."""
    from audioqual.domains.strategies import assign_domains
    from audioqual.train.config import OptimConfig
    from audioqual.nr.data import WaveformDataset, pad_collate
    from audioqual.train.trainer import Trainer

    official = model_from_official(tiny_checkpoint(), ASPECTS, window_seconds=0.5, hop_seconds=0.5)
    checkpoint = export_official(official, tmp_path / "checkpoint.pt")
    items = read_aes_manifest(rated_clips / "train.jsonl", ASPECTS)
    assignment = assign_domains("source", [i.item_id for i in items], sources=[i.source for i in items])
    spec = InputSpec(kind="waveform", backbone=str(checkpoint), sample_rate=RATE)
    branch = BranchSpec("source", assignment.num_domains, 0.5, 0.5)
    with pytest.raises(AudioqualError, match="aspect names"):  # the head alone, told no names
        build_head(AestheticsOptions(), InputInfo(4, sample_rate=RATE, backbone=str(checkpoint)))
    options = {"window_seconds": 0.5, "hop_seconds": 0.5}
    with pytest.raises(AudioqualError, match="differ from the model's aspects"):
        NoReferenceModel.build(HEAD_NAME, {**options, "aspects": ["PC", "PQ", "CE", "CU"]}, ASPECTS, spec, [branch])
    repeated = NoReferenceModel.build(HEAD_NAME, {**options, "aspects": ASPECTS}, ASPECTS, spec, [branch])  # old style
    model = NoReferenceModel.build(HEAD_NAME, options, ASPECTS, spec, [branch])  # names from the model's aspects
    assert model.head_options["aspects"] == repeated.head_options["aspects"] == ASPECTS
    head = model.head
    assert head.target_fixed.all() and head.target_mean.tolist() == [8.0, 7.0, 5.0, 6.0]  # PQ, PC, CE, CU
    model.head.fit_targets(np.ones((3, 4)))  # official normalisation is kept
    assert head.target_mean.tolist() == [8.0, 7.0, 5.0, 6.0]
    clip = torch.randn(1, 12000)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(clip).prediction.mean, official.eval()(clip).prediction.mean)
    targets = np.stack([i.target(ASPECTS) for i in items])
    dataset = WaveformDataset([i.entry for i in items], RATE, targets, {"source": assignment.labels})
    optim = OptimConfig(lr=1e-3, batch_size=4, epochs=1, device="cpu")
    result = Trainer(model, dataset, None, optim, tmp_path / "train", collate_fn=pad_collate, progress=False).fit()
    assert result.history[0].train_adv_loss > 0
    after = model.head.backbone.model.encoder.layers[0].attention.rel_attn_embed.weight
    before = official.backbone.model.encoder.layers[0].attention.rel_attn_embed.weight
    assert not torch.equal(after, before)


def test_import_official_scores_like_meta_model(tmp_path):
    official = model_from_official(tiny_checkpoint(), ASPECTS, window_seconds=0.5, hop_seconds=0.5).eval()
    checkpoint = export_official(official, tmp_path / "checkpoint.pt")
    options = AestheticsOptions(window_seconds=0.5, hop_seconds=0.5)
    directory = import_official(str(checkpoint), tmp_path / "nr_model", options=options)
    model = NoReferenceModel.from_pretrained(directory)
    assert model.head_options["init"] == "config" and model.aspects == ASPECTS
    clip = torch.randn(1, 20000)
    with torch.no_grad():
        torch.testing.assert_close(model(clip).prediction.mean, official(clip).prediction.mean, rtol=0, atol=0)


def test_from_meta_config_fine_tunes_meta_checkpoint_through_the_cli(rated_clips, tmp_path):
    """configs/nr_aesthetics_from_meta.yaml as shipped, `--backbone` pointing at a (tiny) checkpoint.pt in Meta's
    format: train nr with DAT-Source (+ a K-means branch on the released encoder), then `audioqual score`."""
    from audioqual.cli.main import main as cli_main
    from audioqual.io import AudioLoadOptions, load_audio

    official = model_from_official(tiny_checkpoint(), ASPECTS, window_seconds=0.5, hop_seconds=0.5)
    checkpoint = export_official(official, tmp_path / "meta" / "checkpoint.pt")
    out = tmp_path / "run"
    overrides = [
        f"data.train={rated_clips / 'train.jsonl'}",
        "data.valid=null",
        "data.valid_fraction=0.25",
        f"features.cache_dir={tmp_path / 'cache'}",
        "features.device=cpu",
        f"output_dir={out}",
        "head.options={window_seconds: 0.5, hop_seconds: 0.5, precision: bf16, gradient_checkpointing: true}",
        'domains=[{strategy: source}, {strategy: "kmeans:2"}]',
        "optim.epochs=1",
        "optim.batch_size=4",
        "optim.device=cpu",
    ]
    config = str(REPO / "configs" / "nr_aesthetics_from_meta.yaml")
    assert cli_main(["train", "nr", "--config", config, "--backbone", str(checkpoint), "-q", *overrides]) == 0

    model_dir = out / "model"
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["head"] == HEAD_NAME and saved["aspects"] == ASPECTS and saved["head_options"]["aspects"] == ASPECTS
    assert saved["input"]["backbone"] == str(checkpoint) and saved["input"]["crop_seconds"] is None
    assert saved["input"]["backbone_fingerprint"] == load_backbone(str(checkpoint)).fingerprint()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["history"][0]["train_adv_loss"] > 0
    assert set(metrics["history"][0]["domain_accuracy"]) == {"source", "kmeans2"}
    model = NoReferenceModel.from_pretrained(model_dir)
    assert model.domains["kmeans2"].centroids.shape == (2, 48)  # embeddings of the released (tiny) encoder
    # Meta's per-axis normalisation (PQ, PC, CE, CU) is kept, not refitted; the encoder was fine-tuned
    assert model.head.target_mean.tolist() == [8.0, 7.0, 5.0, 6.0] and model.head.target_fixed.all()
    before = official.backbone.model.encoder.layers[0].attention.rel_attn_embed.weight
    assert not torch.equal(model.head.backbone.model.encoder.layers[0].attention.rel_attn_embed.weight, before)

    clips = sorted((rated_clips / "audio").glob("*.wav"))[:3]
    scores = tmp_path / "scores.jsonl"
    command = ["score", *map(str, clips), "-o", str(scores), "--model", str(model_dir), "--device", "cpu", "-q"]
    assert cli_main(command) == 0
    rows = {row["path"]: row for row in map(json.loads, scores.read_text().splitlines())}
    for clip in clips:  # the whole clip (0.3-0.75 s, several 0.5 s windows), not a crop
        audio, _ = load_audio(str(clip), AudioLoadOptions(sample_rate=RATE))
        with torch.no_grad():
            expected = model(torch.from_numpy(audio[:1]), torch.tensor([audio.shape[1]])).prediction.mean[0]
        assert [rows[str(clip)][a] for a in ASPECTS] == pytest.approx(expected.tolist(), abs=1e-5)
