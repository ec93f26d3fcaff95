"""Stage 1 of the default model: teach a HuBERT-shaped convolutional encoder to see a log-mel spectrogram.

DeePAQ's "full" adaptation trains the transformer and head but keeps the
convolutional feature encoder frozen. From random initialisation that encoder is
useless for quality: on the surrogate validation clips the distance between pooled
random-encoder states correlated with ViSQOL at SRCC -0.07, while a plain pooled
log-mel distance reached 0.68. So, before DeePAQ training, the encoder (with a
linear read-out) is trained on the training clips' audio to regress each output
frame's log-mel spectrum (a window centred on the frame's receptive field), a
self-supervised target that needs no labels. The trained encoder, inside a
randomly initialised (seeded) HuBERT, is saved as a backbone directory that
`audioqual train deepaq` loads with `model.backbone: DIR`. The shared training
engine (audioqual.train.engine) writes a checkpoint after every pass over the
clips: rerunning the same command resumes from it.

  python -m audioqual.cli.shipped_models frontend --config configs/default_fr_frontend.yaml [key=value ...]
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from audioqual.backbones import Backbone
from audioqual.deepaq.config import DataConfig
from audioqual.deepaq.data import ClipDataset, CodecVocabulary, TrainingClip, collate, read_training_manifest
from audioqual.degrade.separation import mel_filterbank
from audioqual.errors import AudioqualError
from audioqual.train.engine import Engine

log = logging.getLogger(__name__)

TRAINING_FILE = "frontend_training.json"
READOUT_FILE = "frontend_readout.safetensors"  # the log-mel read-out (diagnostics; not used by DeePAQ)


@dataclass
class FrontendConfig:
    """Encoder architecture (Backbone.from_config arguments), target spectrogram and optimisation."""

    backbone_arch: str = "hubert"
    backbone_overrides: dict = field(default_factory=dict)
    train_manifest: str = ""  # labelled or unlabelled training manifest (only audio is read)
    label_field: str = "visqol_moslqo"
    output_dir: str = "runs/default_fr/frontend"
    n_fft: int = 1024  # target window (Hann), centred on each output frame's receptive field
    n_mels: int = 48
    fmin_hz: float = 40.0
    fmax_hz: float = 20000.0
    clip_seconds: float = 2.0
    batch_size: int = 16
    learning_rate: float = 1e-3
    steps: int = 300
    seed: int = 0
    num_workers: int = 1


class LogMelTarget(nn.Module):
    """Log10 mel power of Hann-windowed frames centred on each encoder frame's receptive field."""

    def __init__(self, rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float, hop: int, receptive_field: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.offset = receptive_field // 2 - n_fft // 2  # window start of frame i: i * hop + offset
        self.register_buffer("window", torch.hann_window(n_fft, dtype=torch.float64).float())
        bank = mel_filterbank(rate, n_fft, n_mels, fmin, fmax)
        self.register_buffer("bank", torch.from_numpy(bank).float())

    def forward(self, waveforms: Tensor, frames: int) -> Tensor:
        """[B, frames, n_mels] targets for [B, T] waveforms (zero-padded where a window leaves the clip)."""
        left = max(0, -self.offset)
        needed = (frames - 1) * self.hop + self.offset + left + self.n_fft
        padded = nn.functional.pad(waveforms, (left, max(0, needed - waveforms.shape[1] - left)))
        start = self.offset + left
        windows = padded[:, start:].unfold(1, self.n_fft, self.hop)[:, :frames]  # [B, F, n_fft]
        power = torch.fft.rfft(windows * self.window, dim=-1).abs() ** 2
        return torch.log10(power @ self.bank.T + 1e-8)


def train_frontend(config: FrontendConfig, progress: bool = True) -> Path:
    """Train the conv encoder + linear read-out on log-mel regression; save the whole backbone; return its dir."""
    if not config.train_manifest:
        raise AudioqualError("train_manifest is not set")
    data = DataConfig(train_manifest=config.train_manifest, label_field=config.label_field)
    clips = read_training_manifest(config.train_manifest, data)
    train = [c for c in clips if c.split in (None, "train")]
    held_out = [c for c in clips if c.split not in (None, "train")]
    vocabulary = CodecVocabulary.from_clips(clips)
    engine = Engine(config.output_dir, fingerprint=run_fingerprint(config, train), seed=config.seed, device="cpu")
    engine.seed_everything()
    backbone = Backbone.from_config(config.backbone_arch, **config.backbone_overrides)
    encoder = backbone.model.feature_extractor
    hop = int(round(backbone.sample_rate / backbone.frames_per_second))
    target = LogMelTarget(backbone.sample_rate, config.n_fft, config.n_mels, config.fmin_hz, config.fmax_hz,
                          hop, backbone.minimum_samples())  # fmt: skip
    channels = int(backbone.model.config.conv_dim[-1])
    readout = nn.Linear(channels, config.n_mels)

    def loader(subset, shuffle: bool) -> DataLoader:
        dataset = ClipDataset(subset, vocabulary, backbone.sample_rate, config.clip_seconds, random_crop=shuffle,
                              minimum_samples=backbone.minimum_samples())  # fmt: skip
        return DataLoader(dataset, batch_size=config.batch_size, shuffle=shuffle, collate_fn=collate,
                          num_workers=config.num_workers if shuffle else 0,
                          generator=torch.Generator().manual_seed(config.seed))  # fmt: skip

    def predict_and_target(batch: dict) -> tuple[Tensor, Tensor]:
        normalized = backbone.normalize(batch["inputs"], batch["lengths"])
        features = encoder(normalized).transpose(1, 2)  # [B, F, C]
        with torch.no_grad():
            wanted = target(normalized, features.shape[1])
        return readout(features), wanted

    parameters = list(encoder.parameters()) + list(readout.parameters())
    for parameter in parameters:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, total_steps=config.steps,
                                                   pct_start=0.1)  # fmt: skip
    history, step, seconds = [], 0, 0.0
    state = engine.resume()
    if state is None:
        # Standardise targets per band with statistics of a first training batch, for a well-scaled loss.
        first = next(iter(loader(train, True)))
        with torch.no_grad():
            _, sample = predict_and_target(first)
        mean, std = sample.mean(dim=(0, 1)), sample.std(dim=(0, 1)).clamp_min(1e-3)
    else:
        backbone.load_state_dict(state["backbone"])
        readout.load_state_dict(state["readout"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        history, step, seconds, mean, std = state["history"], state["step"], state["seconds"], state["mean"], state["std"]
        log.info("front end: resumed %s at step %d", engine.checkpoint_path, step)
    encoder.train()
    started = time.perf_counter() - seconds
    bar = tqdm(total=config.steps, initial=step, desc="front end", unit="step", disable=not progress or None)
    while step < config.steps:
        for batch in loader(train, True):
            if not batch:
                continue
            prediction, wanted = predict_and_target(batch)
            loss = torch.mean((prediction - (wanted - mean) / std) ** 2)
            engine.step(loss, optimizer, parameters, 1.0)
            schedule.step()
            step += 1
            history.append(float(loss.detach()))
            bar.update()
            bar.set_postfix(loss=f"{history[-1]:.3f}")
            if step % 25 == 0:
                log.info("front end step %d: loss %.4f (mean of last 25: %.4f)", step, history[-1], np.mean(history[-25:]))
            if step >= config.steps:
                break
        engine.save_checkpoint({
            "backbone": backbone.state_dict(), "readout": readout.state_dict(), "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(), "history": history, "step": step,
            "seconds": time.perf_counter() - started, "mean": mean, "std": std,
        })  # fmt: skip
    bar.close()
    encoder.eval()
    held_out_loss = math.nan
    if held_out:
        losses = []
        with torch.no_grad():
            for batch in loader(held_out, False):
                if batch:
                    prediction, wanted = predict_and_target(batch)
                    losses.append(float(torch.mean((prediction - (wanted - mean) / std) ** 2)))
        held_out_loss = float(np.mean(losses))
    for parameter in backbone.parameters():
        parameter.requires_grad_(False)
    out = backbone.save_pretrained(config.output_dir)
    save_file({"weight": readout.weight.detach().contiguous(), "bias": readout.bias.detach().contiguous(),
               "target_mean": mean.contiguous(), "target_std": std.contiguous()}, out / READOUT_FILE)  # fmt: skip
    summary = {
        "config": asdict(config),
        "steps": step,
        "seconds": round(time.perf_counter() - started, 1),
        "train_loss_last25": float(np.mean(history[-25:])),
        "train_loss_first25": float(np.mean(history[:25])),
        "held_out_loss": held_out_loss,  # MSE of standardised log-mel targets: 1.0 = predicting the band means
        "held_out_clips": len(held_out),
    }
    (out / TRAINING_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log.info("front end: %s", json.dumps({k: v for k, v in summary.items() if k != "config"}))
    return out


def run_fingerprint(config: FrontendConfig, train: list[TrainingClip]) -> str:
    """Identity of a run for resuming: every setting but the output folder, and the training clips."""
    settings = {k: v for k, v in asdict(config).items() if k != "output_dir"}
    payload = {"settings": settings, "train": [c.audio_entry().item_id for c in train]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]
