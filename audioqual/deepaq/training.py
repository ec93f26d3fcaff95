"""DeePAQ training: Rank-N-Contrast over surrogate labels, plateau LR decay, best checkpoint, resume.

Seed 003, sec. 3.1: batch 32, lr 1e-4 (full fine-tuning for the
non-matching-reference model: 5e-5), multiplied by 0.99 after 10 epochs
without validation improvement; the best validation checkpoint is kept.
Devices, mixed precision, checkpoints and multi-GPU runs go through the
shared engine (audioqual.train.engine): rerunning the same command resumes
from <output_dir>/checkpoint.pt, and several GPUs are one torchrun launch.

With a frozen backbone the time-pooled hidden states of every clip are
extracted once into the feature cache and only the head is trained on them.
Validation reports the RnC loss on held-out clips (the model-selection
criterion) and the Spearman correlation between -distance(clip, reference)
and the ViSQOL label (higher is better).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from audioqual.backbones import Backbone
from audioqual.data.manifest import ManifestEntry
from audioqual.deepaq.adaptation import count_parameters
from audioqual.deepaq.config import DeePAQTrainingConfig
from audioqual.deepaq.data import (
    VALIDATION_SPLITS,
    ClipDataset,
    CodecVocabulary,
    FeatureDataset,
    TrainingClip,
    collate,
    read_training_manifest,
    split_by_source,
)
from audioqual.deepaq.model import DeePAQModel
from audioqual.errors import AudioqualError
from audioqual.features import FeatureCache, FeatureSpec, extract_features
from audioqual.features.cache import DEFAULT_CACHE_DIR
from audioqual.losses.rank_n_contrast import RankNContrastLoss
from audioqual.train.engine import Engine, seed_everything

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Held-out quality of an embedding model."""

    rnc_loss: float
    srcc: float  # Spearman(-distance to reference, ViSQOL label); NaN without coded clips with references
    pairs: int


@dataclass
class TrainingResult:
    """Where the checkpoints are and how training went."""

    best_dir: Path
    last_dir: Path
    history: list[dict] = field(default_factory=list)
    best_val_loss: float = math.inf
    steps: int = 0
    train_seconds: float = 0.0

    @property
    def seconds_per_step(self) -> float:
        return self.train_seconds / max(self.steps, 1)


class ClipEmbedder:
    """Makes datasets of clips for one model: waveforms, or cached pooled features (frozen backbone)."""

    def __init__(self, model: DeePAQModel, config: DeePAQTrainingConfig, vocabulary: CodecVocabulary):
        self.model = model
        self.config = config
        self.vocabulary = vocabulary
        self.features: dict[str, np.ndarray] | None = None

    def use_cached_features(self, clips: Sequence[TrainingClip], device: torch.device) -> None:
        """Extract (or reuse) pooled hidden states of every clip and reference once."""
        cache = FeatureCache(self.config.train.feature_cache or DEFAULT_CACHE_DIR)
        by_path = {c.path: c.audio_entry() for c in clips}
        for reference in {c.reference for c in clips if c.reference} - set(by_path):
            by_path[reference] = ManifestEntry(path=reference)
        entries = [by_path[p] for p in sorted(by_path)]
        spec = FeatureSpec(layers=None, pooling="mean", chunk_seconds=self.model.chunk_seconds)
        result = extract_features(entries, self.model.backbone, cache, spec, device=device)
        for item_id, error in result.failures.items():
            log.warning("no features for %s: %s", item_id, error)
        self.features = {e.path: result.get(e.item_id) for e in entries if e.item_id not in result.failures}

    def dataset(self, clips: Sequence[TrainingClip], train: bool) -> Dataset:
        if self.features is None:
            return ClipDataset(
                clips,
                self.vocabulary,
                self.model.sample_rate,
                self.config.data.clip_seconds,
                random_crop=train,
                minimum_samples=self.model.backbone.minimum_samples(),
            )
        usable = [c for c in clips if c.path in self.features]
        if not usable:
            return FeatureDataset([], np.zeros((0, 1, 1), dtype=np.float32), self.vocabulary)
        return FeatureDataset(usable, np.stack([self.features[c.path] for c in usable]), self.vocabulary)

    @torch.no_grad()
    def embed(
        self, model: torch.nn.Module, clips: Sequence[TrainingClip], device: torch.device, batch_size: int = 16
    ) -> dict[str, np.ndarray]:
        """Embeddings of clips (eval mode, crop from the start) keyed by path; unreadable clips are missing."""
        dataset = self.dataset(clips, train=False)
        loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
        out: dict[str, np.ndarray] = {}
        model.eval()
        for batch in loader:
            if not batch:
                continue
            lengths = batch["lengths"].to(device) if "lengths" in batch else None
            embeddings = model(batch["inputs"].to(device), lengths).float().cpu().numpy()
            for index, embedding in zip(batch["index"].tolist(), embeddings):
                out[dataset.clips[index].path] = embedding
        return out


def evaluate(
    model: torch.nn.Module,
    embedder: ClipEmbedder,
    clips: Sequence[TrainingClip],
    loss_fn: RankNContrastLoss,
    batch_size: int,
    device: torch.device,
    seed: int = 0,
) -> Evaluation:
    """RnC loss over fixed random batches of held-out clips, and SRCC of -distance vs ViSQOL label."""
    embeddings = embedder.embed(model, clips, device)
    usable = [c for c in clips if c.path in embeddings]
    if len(usable) < 2:
        raise AudioqualError(f"evaluation needs at least 2 readable clips, got {len(usable)}")
    order = np.random.default_rng(seed).permutation(len(usable))
    losses, weights = [], []
    for start in range(0, len(order), batch_size):
        batch = [usable[i] for i in order[start : start + batch_size]]
        if len(batch) < 2:
            continue
        f = torch.from_numpy(np.stack([embeddings[c.path] for c in batch])).double()
        mos = torch.tensor([c.mos for c in batch], dtype=torch.float64)
        bitrate = torch.tensor([c.bitrate for c in batch], dtype=torch.float64)
        codec = torch.tensor([embedder.vocabulary.id_of(c) for c in batch])
        losses.append(float(loss_fn(f, mos, bitrate, codec)))
        weights.append(len(batch))
    rnc = float(np.average(losses, weights=weights))

    with_reference = [c for c in usable if c.reference and not c.is_clean]
    missing = sorted({c.reference for c in with_reference} - set(embeddings))
    if missing:
        pseudo = [TrainingClip(ManifestEntry(path=p), None, None, math.inf, p, math.nan) for p in missing]
        embeddings.update(embedder.embed(model, pseudo, device))
    pairs = [c for c in with_reference if c.reference in embeddings]
    srcc = math.nan
    if len(pairs) >= 3:
        distances = [float(np.linalg.norm(embeddings[c.path] - embeddings[c.reference])) for c in pairs]
        srcc = float(spearmanr(-np.asarray(distances), [c.mos for c in pairs]).statistic)
    return Evaluation(rnc_loss=rnc, srcc=srcc, pairs=len(pairs))


def build_optimizer(model: DeePAQModel, config: DeePAQTrainingConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay per group: head, LoRA matrices (0.01 in the paper), other backbone weights."""
    groups: dict[str, list[torch.nn.Parameter]] = {"head": [], "lora": [], "backbone": []}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if name.startswith("head."):
            groups["head"].append(parameter)
        elif "lora_" in name:
            groups["lora"].append(parameter)
        else:
            groups["backbone"].append(parameter)
    decay = {
        "head": config.train.head_weight_decay,
        "lora": config.model.lora.weight_decay,
        "backbone": config.train.backbone_weight_decay,
    }
    param_groups = [{"params": p, "weight_decay": decay[k], "name": k} for k, p in groups.items() if p]
    return torch.optim.AdamW(param_groups, lr=config.train.learning_rate)


def load_clips(config: DeePAQTrainingConfig) -> tuple[list[TrainingClip], list[TrainingClip]]:
    """Training and validation clips (explicit validation manifest, or a source-disjoint split)."""
    if not config.data.train_manifest:
        raise AudioqualError("data.train_manifest is not set")
    clips = read_training_manifest(config.data.train_manifest, config.data)
    if config.data.val_manifest:
        return clips, read_training_manifest(config.data.val_manifest, config.data)
    if any(c.split for c in clips):
        train = [c for c in clips if c.split == "train"]
        val = [c for c in clips if c.split in VALIDATION_SPLITS]
        log.info("using the manifest's split column: %d train, %d validation clips", len(train), len(val))
        return train, val
    return split_by_source(clips, config.data.val_fraction, config.train.seed)


def train_deepaq(config: DeePAQTrainingConfig, backbone: Backbone | None = None, progress: bool = True) -> TrainingResult:
    """Train a DeePAQ model (resuming from the checkpoint of an earlier run of the same config); models go to
    <output_dir>/best and <output_dir>/last."""
    train_cfg = config.train
    seed_everything(train_cfg.seed)
    output = Path(train_cfg.output_dir)
    best_dir, last_dir = output / "best", output / "last"
    result = TrainingResult(best_dir=best_dir, last_dir=last_dir)

    train_clips, val_clips = load_clips(config)
    if len(train_clips) < 2 or len(val_clips) < 2:
        raise AudioqualError(f"need at least 2 training and 2 validation clips, got {len(train_clips)}/{len(val_clips)}")
    vocabulary = CodecVocabulary.from_clips(train_clips)
    model = DeePAQModel.from_config(config.model, backbone=backbone)
    engine = Engine(output, fingerprint=run_fingerprint(config, model, train_clips, val_clips), seed=train_cfg.seed,
                    device=train_cfg.device, mixed_precision=train_cfg.mixed_precision)  # fmt: skip
    device = engine.device
    model.to(device)
    trainable, total = count_parameters(model)
    log.info("DeePAQ %s on %s: %d of %d parameters trainable", model.adaptation, model.backbone.name, trainable, total)

    embedder = ClipEmbedder(model, config, vocabulary)
    if model.adaptation == "frozen" and train_cfg.cache_frozen_features:
        embedder.use_cached_features(train_clips + val_clips, device)
    dataset = embedder.dataset(train_clips, train=True)
    generator = torch.Generator().manual_seed(train_cfg.seed)
    optimizer = build_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=train_cfg.lr_decay, patience=train_cfg.lr_patience
    )
    loss_fn = RankNContrastLoss(train_cfg.temperature, train_cfg.bitrate_weight)

    start_epoch, since_best = 0, 0
    state = engine.resume()
    if state is not None:
        _load_trainable(model, state["trainable"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        start_epoch, result.steps = state["epoch"] + 1, state["steps"]
        result.best_val_loss, since_best, result.history = state["best_val_loss"], state["since_best"], state["history"]
        log.info("resumed from %s at epoch %d (step %d)", engine.checkpoint_path, start_epoch, result.steps)

    if not result.history:
        initial = evaluate(model, embedder, val_clips, loss_fn, train_cfg.batch_size, device, train_cfg.seed)
        result.history.append(
            {"epoch": -1, "steps": 0, "val_loss": initial.rnc_loss, "val_srcc": initial.srcc, "untrained": True}
        )
        log.info("untrained model: val loss %.4f, val SRCC %.4f", initial.rnc_loss, initial.srcc)
    trained = engine.wrap(model)
    for epoch in range(start_epoch, train_cfg.epochs):
        if train_cfg.max_steps is not None and result.steps >= train_cfg.max_steps:
            break
        sampler = engine.shard(dataset, epoch)
        loader = DataLoader(
            dataset,
            batch_size=engine.per_rank(train_cfg.batch_size),
            sampler=sampler,
            shuffle=sampler is None,
            drop_last=len(train_clips) > train_cfg.batch_size,
            num_workers=config.data.num_workers if embedder.features is None else 0,
            collate_fn=collate,
            generator=generator,
        )
        trained.train()
        epoch_losses = []
        # one iterator per epoch: given the loader itself, tqdm.auto would open a second one (a second draw
        # from the shuffling generator, and another batch order than the runs before)
        epoch_batches = (batch for batch in loader)
        bar = tqdm(epoch_batches, total=len(loader), desc=f"epoch {epoch}", unit="batch",
                   disable=not progress or None, leave=False)  # fmt: skip
        for batch in bar:
            if len(batch.get("mos", ())) < 2:
                continue
            batch = engine.to_device(batch)
            started = time.perf_counter()
            with engine.autocast():
                embeddings = trained(batch["inputs"], batch.get("lengths"))
            loss = loss_fn(embeddings.float(), batch["mos"], batch["bitrate"], batch["codec"])
            engine.step(loss, optimizer, model.parameters(), train_cfg.grad_clip)
            result.train_seconds += time.perf_counter() - started
            result.steps += 1
            epoch_losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{epoch_losses[-1]:.4f}")
            if result.steps % train_cfg.log_every == 0:
                log.info("step %d loss %.4f lr %.3g", result.steps, epoch_losses[-1], optimizer.param_groups[0]["lr"])
            if train_cfg.max_steps is not None and result.steps >= train_cfg.max_steps:
                break
        evaluation = evaluate(model, embedder, val_clips, loss_fn, train_cfg.batch_size, device, train_cfg.seed)
        scheduler.step(evaluation.rnc_loss)
        record = {
            "epoch": epoch,
            "steps": result.steps,
            "train_loss": float(np.mean(epoch_losses)) if epoch_losses else math.nan,
            "val_loss": evaluation.rnc_loss,
            "val_srcc": evaluation.srcc,
            "lr": optimizer.param_groups[0]["lr"],
        }
        result.history.append(record)
        log.info("epoch %d: %s", epoch, json.dumps(record))
        improved = evaluation.rnc_loss < result.best_val_loss
        if improved:
            result.best_val_loss, since_best = evaluation.rnc_loss, 0
        else:
            since_best += 1
        if engine.is_main:
            metadata = {"codecs": vocabulary.names, "record": record, "config": asdict(config)}
            if improved:
                model.save_pretrained(best_dir, metadata=metadata)
            model.save_pretrained(last_dir, metadata=metadata)
        engine.save_checkpoint({
            "epoch": epoch,
            "steps": result.steps,
            "best_val_loss": result.best_val_loss,
            "since_best": since_best,
            "history": result.history,
            "trainable": {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(),
        })  # fmt: skip
        if train_cfg.early_stop_patience is not None and since_best >= train_cfg.early_stop_patience:
            log.info("no validation improvement for %d epochs: stopping", since_best)
            break
    return result


def run_fingerprint(
    config: DeePAQTrainingConfig, model: DeePAQModel, train: Sequence[TrainingClip], val: Sequence[TrainingClip]
) -> str:
    """Identity of a run for resuming: settings (not how long to train, where or how fast), initial model, clips."""
    settings = asdict(config)
    settings.pop("mapping")
    for key in ("output_dir", "epochs", "max_steps", "early_stop_patience", "device", "feature_cache", "log_every"):
        settings["train"].pop(key)
    settings["data"].pop("num_workers")
    payload = {
        "settings": settings,
        "model": model.fingerprint(),
        "train": [c.audio_entry().item_id for c in train],
        "val": [c.audio_entry().item_id for c in val],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _load_trainable(model: DeePAQModel, tensors: dict[str, torch.Tensor]) -> None:
    parameters = dict(model.named_parameters())
    missing = [n for n, p in parameters.items() if p.requires_grad and n not in tensors]
    if missing:
        raise AudioqualError(f"checkpoint does not match the model: missing {missing[:3]}")
    with torch.no_grad():
        for name, tensor in tensors.items():
            parameters[name].copy_(tensor)
