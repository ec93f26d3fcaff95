"""Stage 1 of the default model: the log-mel regression target, against a frame-by-frame numpy loop."""

from __future__ import annotations

import numpy as np
import pytest


def test_log_mel_target_matches_a_framewise_numpy_loop() -> None:
    import torch

    from audioqual.degrade.separation import mel_filterbank
    from audioqual.models.frontend import LogMelTarget

    rate, n_fft, hop, field, n_mels = 8000, 64, 40, 100, 6
    target = LogMelTarget(rate, n_fft, n_mels, 0.0, 4000.0, hop, field)
    wave = np.random.default_rng(3).standard_normal(1000).astype(np.float32)
    frames = 1 + (wave.size - field) // hop
    got = target(torch.from_numpy(wave)[None], frames)[0].numpy()
    bank = mel_filterbank(rate, n_fft, n_mels, 0.0, 4000.0)
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann, as torch.hann_window
    padded = np.concatenate([np.zeros(n_fft), wave, np.zeros(n_fft)])
    for i in range(frames):
        start = i * hop + field // 2 - n_fft // 2 + n_fft  # window centred on frame i's receptive field
        power = np.abs(np.fft.rfft(padded[start : start + n_fft] * window)) ** 2
        assert np.allclose(got[i], np.log10(bank @ power + 1e-8), atol=1e-4)


def test_frontend_training_learns_the_log_mel_target_and_saves_a_loadable_backbone(tmp_path) -> None:
    """Training on chirps in noise fits the target (loss of standardised log-mels falls) and saves a backbone.

    Generalisation is measured on the real training set (frontend_training.json of the default model):
    24 toy clips are too few for a held-out figure that means anything.
    """
    import json

    from audioqual.backbones import Backbone
    from audioqual.io import save_audio
    from audioqual.models.frontend import TRAINING_FILE, FrontendConfig, train_frontend

    rate, rng, rows = 16000, np.random.default_rng(0), []
    for index in range(24):
        t = np.arange(rate) / rate
        start, stop = rng.uniform(100, 7000, size=2)  # a chirp sweeps the band, so held-out clips are in range
        tone = np.sin(2 * np.pi * (start * t + (stop - start) * t**2 / 2)) * (t < rng.uniform(0.3, 1.0))
        audio = (tone + rng.uniform(0.01, 0.5) * rng.standard_normal(rate)).astype(np.float32)
        path = save_audio(tmp_path / f"clip{index}.wav", audio[None], rate)
        rows.append({"path": path.name, "visqol_moslqo": 3.0, "codec": "aac", "bitrate_kbps": 32,
                     "split": "validation" if index < 4 else "train"})  # fmt: skip
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    overrides = {"sample_rate": rate, "conv_dim": [32, 32], "conv_stride": [5, 4], "conv_kernel": [10, 8],
                 "conv_bias": True, "feat_extract_norm": "layer", "hidden_size": 32, "num_hidden_layers": 1,
                 "num_attention_heads": 2, "intermediate_size": 64, "num_conv_pos_embeddings": 16,
                 "num_conv_pos_embedding_groups": 2}  # fmt: skip
    config = FrontendConfig(backbone_overrides=overrides, train_manifest=str(tmp_path / "m.jsonl"),
                            output_dir=str(tmp_path / "frontend"), n_fft=128, n_mels=16, fmin_hz=50.0,
                            fmax_hz=8000.0, clip_seconds=0.5, batch_size=8, learning_rate=1e-2, steps=150,
                            num_workers=0)  # fmt: skip
    out = train_frontend(config, progress=False)
    summary = json.loads((out / TRAINING_FILE).read_text())
    assert summary["steps"] == 150 and summary["held_out_clips"] == 4
    assert summary["train_loss_last25"] < 0.7 * summary["train_loss_first25"]
    loaded = Backbone.from_pretrained(out)
    assert loaded.sample_rate == rate and loaded.frames_per_second == rate / 20
    # The reported held-out loss is what the saved encoder + read-out give on the held-out clips, recomputed
    # clip by clip from the files with the log-mel target checked above (issue 19, item 20: not just "finite").
    import torch
    from safetensors.torch import load_file

    from audioqual.io import load_audio
    from audioqual.models.frontend import READOUT_FILE, LogMelTarget

    readout = load_file(out / READOUT_FILE)
    target = LogMelTarget(rate, 128, 16, 50.0, 8000.0, 20, loaded.minimum_samples())
    errors = []
    with torch.no_grad():
        for index in range(4):
            audio, _ = load_audio(tmp_path / f"clip{index}.wav")
            wave = torch.from_numpy(np.asarray(audio, dtype=np.float32).reshape(-1)[: rate // 2])[None]
            normalized = loaded.normalize(wave, torch.tensor([wave.shape[1]]))
            features = loaded.model.feature_extractor(normalized).transpose(1, 2)[0]
            prediction = features @ readout["weight"].T + readout["bias"]
            wanted = (target(normalized, features.shape[0])[0] - readout["target_mean"]) / readout["target_std"]
            errors.append(((prediction - wanted) ** 2).numpy())
    assert summary["held_out_loss"] == pytest.approx(float(np.mean(errors)), rel=1e-4)
