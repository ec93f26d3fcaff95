"""Training pipeline of `audioqual train nr` (its options and --help text: audioqual/cli/train_cmd.py).

Read the rating manifests -> load the backbone -> extract (or reuse cached) features -> define domains
for every adversarial branch -> build head + branches -> train (resumable) -> save the best model with
its domain labels and validation metrics; with `runs`, several variants and an aspect-specific router.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import distributed as dist

from audioqual.backbones import Backbone
from audioqual.config import to_dict
from audioqual.data.aes import RatedItem, read_aes_manifest
from audioqual.data.manifest import finite_or_null
from audioqual.domains.branch import BranchSpec
from audioqual.domains.strategies import DomainAssignment, DomainStrategyError, assign_domains
from audioqual.errors import AudioqualError
from audioqual.features import DEFAULT_CACHE_DIR, FeatureCache
from audioqual.heads.registry import head_factory
from audioqual.nr.data import FeatureDataset, WaveformDataset, pad_collate
from audioqual.nr.features import FrameFeatures, crop_frame_features, utterance_embeddings
from audioqual.nr.model import InputSpec, NoReferenceModel
from audioqual.nr.scoring import predict_dataset
from audioqual.nr.selection import AspectRouter, aspect_metric, select_per_aspect, selection_systems
from audioqual.train.nr_config import DomainConfig, NRTrainConfig
from audioqual.train.engine import DistributedContext, distributed_context, seed_everything
from audioqual.train.trainer import Trainer, TrainResult

log = logging.getLogger(__name__)
MODEL_DIR = "model"
METRICS_FILE = "metrics.json"


@dataclass
class PreparedData:
    """Items, inputs and backbone shared by every run trained from one config."""

    train_items: list[RatedItem]
    valid_items: list[RatedItem]
    input_spec: InputSpec
    backbone: Backbone
    cache: FeatureCache
    features: FrameFeatures | None = None
    failures: dict[str, str] = field(default_factory=dict)
    embeddings: dict[str, np.ndarray] | None = None


@dataclass
class RunOutcome:
    """Where a trained model went and how it did on the validation set."""

    name: str
    model_dir: Path
    result: TrainResult
    metrics: dict[str, Any]
    valid_predictions: np.ndarray


def train_nr(config: NRTrainConfig, progress: bool = True, stop_after_epoch: int | None = None) -> Path:
    """Train as configured; returns the directory of the final model (single model or router).

    Under torchrun, rank 0 extracts features (and K-means embeddings) into the
    cache while the other ranks wait, then every rank reads them from there.
    """
    output = Path(config.output_dir)
    context = distributed_context()
    if context.is_main:
        output.mkdir(parents=True, exist_ok=True)
        (output / "config.yaml").write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")
        prepared = prepare_data(config, progress, context)
    if context.world_size > 1:
        dist.barrier()
    if not context.is_main:
        prepared = prepare_data(config, False, context)
    if not config.runs:
        outcome = train_single(config, prepared, output, progress, stop_after_epoch)
        return outcome.model_dir
    outcomes = []
    for run in config.runs:
        if not run.name:
            raise AudioqualError("every entry of `runs` needs a name")
        options = {**config.head.options, **run.head_options}
        variant = dataclasses.replace(
            config,
            name=run.name,
            output_dir=str(output / "runs" / run.name),
            domains=list(run.domains),
            head=dataclasses.replace(config.head, options=options),
            optim=dataclasses.replace(
                config.optim, weight_decay=config.optim.weight_decay if run.weight_decay is None else run.weight_decay
            ),
            runs=[],
        )
        outcomes.append(train_single(variant, prepared, Path(variant.output_dir), progress, stop_after_epoch))
    if not context.is_main:
        return output / MODEL_DIR
    return combine_runs(config, prepared, outcomes, output / MODEL_DIR)


def prepare_data(
    config: NRTrainConfig, progress: bool = True, context: DistributedContext | None = None
) -> PreparedData:
    """Read manifests, load the backbone, extract (or reuse) the head's inputs and K-means embeddings."""
    data = config.data
    if not data.train:
        raise AudioqualError("config data.train is empty: name the training manifest")
    read = dict(source_field=data.source_field, system_field=data.system_field, path_rewrite=data.path_rewrite)
    train_items = read_aes_manifest(data.train, data.aspects, **read)
    if data.valid:
        valid_items = read_aes_manifest(data.valid, data.aspects, **read)
    else:
        train_items, valid_items = split_items(train_items, data.valid_fraction, config.seed)
    overlap = {i.item_id for i in train_items} & {i.item_id for i in valid_items}
    if overlap:
        raise AudioqualError(f"{len(overlap)} item(s) are in both the training and validation sets")

    factory = head_factory(config.head.name)
    kind = factory.input_kind
    backbone = factory.open_backbone(config.features.backbone)
    cache = FeatureCache(config.features.cache_dir or DEFAULT_CACHE_DIR)
    device = config.features.device
    if context is not None and context.world_size > 1 and device == "auto" and torch.cuda.is_available():
        device = f"cuda:{context.local_rank}"
    # waveform heads see whole clips (crop_seconds None) and cut their own windows
    spec = InputSpec(
        kind=kind,
        backbone=config.features.backbone,
        backbone_name=backbone.name,
        backbone_fingerprint=backbone.fingerprint(),
        sample_rate=backbone.sample_rate,
    )
    prepared = PreparedData(train_items, valid_items, spec, backbone, cache)
    if kind == "features":
        features = crop_frame_features(
            [i.entry for i in train_items + valid_items],
            backbone,
            cache,
            layer=config.features.layer,
            seconds=config.features.crop_seconds,
            batch_size=config.features.batch_size,
            device=device,
            progress=progress,
        )
        prepared.features = features
        prepared.failures.update(features.failures)
        prepared.input_spec = dataclasses.replace(
            spec,
            layer=config.features.layer,
            crop_seconds=config.features.crop_seconds,
            channels=features.channels,
            frames=features.frames,
        )
    _drop_failed(prepared)
    if any(d.spec().kind == "kmeans" and not d.labels_file for d in _all_domains(config)):
        _embeddings(prepared, config, progress, device)
    return prepared


def _all_domains(config: NRTrainConfig) -> list[DomainConfig]:
    return list(config.domains) + [d for run in config.runs for d in run.domains]


def split_items(items: list[RatedItem], fraction: float, seed: int) -> tuple[list[RatedItem], list[RatedItem]]:
    """Seeded random train / validation split."""
    if not 0.0 < fraction < 1.0:
        raise AudioqualError(f"data.valid_fraction must be between 0 and 1, got {fraction}")
    order = np.random.default_rng(seed).permutation(len(items))
    n_valid = max(1, int(round(fraction * len(items))))
    valid = set(order[:n_valid].tolist())
    return [x for i, x in enumerate(items) if i not in valid], [x for i, x in enumerate(items) if i in valid]


def _drop_failed(prepared: PreparedData) -> None:
    if not prepared.failures:
        return
    for item_id, error in prepared.failures.items():
        log.warning("left out %s: %s", item_id, error)
    prepared.train_items = [i for i in prepared.train_items if i.item_id not in prepared.failures]
    prepared.valid_items = [i for i in prepared.valid_items if i.item_id not in prepared.failures]
    if not prepared.train_items:
        raise AudioqualError("no training item could be read; see the warnings above")


def domain_branches(
    domains: list[DomainConfig], prepared: PreparedData, config: NRTrainConfig, progress: bool = True
) -> tuple[list[BranchSpec], dict[str, DomainAssignment]]:
    """Branch specs and training-set domain labels for every configured domain strategy."""
    ids = [i.item_id for i in prepared.train_items]
    branches, assignments = [], {}
    for domain in domains:
        spec = domain.spec()
        if spec.kind == "none":
            continue
        seed = config.seed if domain.seed is None else domain.seed
        if domain.labels_file:
            assignment = DomainAssignment.load(domain.labels_file)
            if assignment.strategy != str(spec):
                raise DomainStrategyError(f"{domain.labels_file}: holds {assignment.strategy} labels, not {spec}")
            assignment = dataclasses.replace(assignment, item_ids=ids, labels=assignment.labels_for(ids))
        elif spec.kind == "kmeans":
            embeddings = _embeddings(prepared, config, progress)
            assignment = assign_domains(spec, ids, embeddings=np.stack([embeddings[i] for i in ids]), seed=seed)
            assignment.extra = {"layer": config.features.kmeans_layer, "full_clip": config.features.kmeans_full_clip}
        else:
            assignment = assign_domains(spec, ids, sources=[i.source for i in prepared.train_items], seed=seed)
        if spec.name in assignments:
            raise AudioqualError(f"domain strategy {spec} is configured twice")
        assignments[spec.name] = assignment
        branches.append(
            BranchSpec(
                spec.name,
                assignment.num_domains,
                domain.resolved_weight(),
                domain.resolved_grl_scale(),
                tuple(domain.hidden),
            )
        )
    return branches, assignments


def _embeddings(
    prepared: PreparedData, config: NRTrainConfig, progress: bool, device: str | None = None
) -> dict[str, np.ndarray]:
    if prepared.embeddings is None:
        embeddings, failures = utterance_embeddings(
            [i.entry for i in prepared.train_items],
            prepared.backbone,
            prepared.cache,
            layer=config.features.kmeans_layer,
            crop_seconds=None if config.features.kmeans_full_clip else config.features.crop_seconds,
            batch_size=config.features.batch_size,
            device=device or config.features.device,
            progress=progress,
        )
        if failures:
            raise AudioqualError(
                f"K-means embeddings failed for {len(failures)} item(s), e.g. {next(iter(failures.values()))}"
            )
        prepared.embeddings = embeddings
    return prepared.embeddings


def _targets(items: list[RatedItem], aspects: list[str]) -> np.ndarray:
    """Ratings [N, k] in `aspects` order."""
    return np.stack([i.target(aspects) for i in items])


def _datasets(prepared: PreparedData, aspects: list[str], assignments: dict[str, DomainAssignment]):
    train_ids = [i.item_id for i in prepared.train_items]
    train_targets = _targets(prepared.train_items, aspects)
    valid_targets = _targets(prepared.valid_items, aspects) if prepared.valid_items else None
    labels = {name: a.labels_for(train_ids) for name, a in assignments.items()}
    if prepared.input_spec.kind == "features":
        train = FeatureDataset(prepared.features, train_ids, train_targets, labels)
        valid = FeatureDataset(prepared.features, [i.item_id for i in prepared.valid_items], valid_targets)
        collate = None
    else:
        spec = prepared.input_spec
        train = WaveformDataset(
            [i.entry for i in prepared.train_items], spec.sample_rate, train_targets, labels, spec.crop_seconds
        )
        valid = WaveformDataset(
            [i.entry for i in prepared.valid_items], spec.sample_rate, valid_targets, None, spec.crop_seconds
        )
        collate = pad_collate
    return train, (valid if prepared.valid_items else None), collate


def train_single(
    config: NRTrainConfig,
    prepared: PreparedData,
    output: Path,
    progress: bool = True,
    stop_after_epoch: int | None = None,
) -> RunOutcome:
    """Train one model (one set of domain branches) and save it under output/model."""
    seed_everything(config.seed)
    aspects = list(config.data.aspects)
    branches, assignments = domain_branches(config.domains, prepared, config, progress)
    seed_everything(config.seed)
    model = NoReferenceModel.build(
        config.head.name,
        config.head.options,
        aspects,
        prepared.input_spec,
        branches,
        domains=assignments,
        metadata={"name": config.name, "seed": config.seed, "train_items": len(prepared.train_items)},
    )
    model.fit_targets(_targets(prepared.train_items, aspects))  # e.g. the aesthetics head's target normalisation
    train, valid, collate = _datasets(prepared, aspects, assignments)
    trainer = Trainer(
        model,
        train,
        valid,
        config.optim,
        output / "train",
        seed=config.seed,
        fingerprint=_fingerprint(config, prepared, assignments),
        collate_fn=collate,
        progress=progress,
    )
    result = trainer.fit(stop_after_epoch=stop_after_epoch)
    model_dir = model.save_pretrained(output / MODEL_DIR) if trainer.context.is_main else output / MODEL_DIR
    predictions = np.zeros((0, len(aspects)))
    metrics: dict[str, Any] = {
        "name": config.name,
        "best_epoch": result.best_epoch,
        "best_valid_loss": result.best_valid_loss,
    }
    if valid is not None:
        predictions, _, _ = predict_dataset(model, valid, config.optim.batch_size, collate)
        metrics["valid"] = validation_metrics(predictions, prepared, aspects)
    metrics["history"] = [r.__dict__ for r in result.history]
    metrics["left_out"] = prepared.failures
    if trainer.context.is_main:
        # undefined statistics (e.g. SRCC of a constant prediction) are written as null, never as a number
        metrics_json = json.dumps(finite_or_null(metrics), indent=2, default=float, allow_nan=False)
        (output / METRICS_FILE).write_text(metrics_json + "\n", encoding="utf-8")
    return RunOutcome(config.name, model_dir, result, metrics, predictions)


def validation_metrics(predictions: np.ndarray, prepared: PreparedData, aspects: list[str]) -> dict[str, Any]:
    """Utterance- and (when systems are named) system-level SRCC and MSE per aspect."""
    targets = _targets(prepared.valid_items, aspects)
    systems = selection_systems([i.system for i in prepared.valid_items], "system")
    table: dict[str, Any] = {}
    for index, aspect in enumerate(aspects):
        row = {
            "utterance_srcc": aspect_metric(predictions[:, index], targets[:, index], "srcc"),
            "utterance_mse": aspect_metric(predictions[:, index], targets[:, index], "mse"),
        }
        if systems is not None:
            row["system_srcc"] = aspect_metric(predictions[:, index], targets[:, index], "srcc", systems)
            row["system_mse"] = aspect_metric(predictions[:, index], targets[:, index], "mse", systems)
        table[aspect] = row
    return table


def combine_runs(config: NRTrainConfig, prepared: PreparedData, outcomes: list[RunOutcome], directory: Path) -> Path:
    """Pick the best run per aspect on the validation set and save the aspect router."""
    if not prepared.valid_items:
        raise AudioqualError("aspect-specific selection needs a validation set")
    aspects = list(config.data.aspects)
    targets = np.stack([i.target(aspects) for i in prepared.valid_items])
    systems = selection_systems([i.system for i in prepared.valid_items], config.selection.level)
    selection = select_per_aspect(
        {o.name: o.valid_predictions for o in outcomes}, targets, aspects, config.selection.metric, systems
    )
    winners = sorted(set(selection.routing.values()))
    members = {
        name: NoReferenceModel.from_pretrained(o.model_dir) for o in outcomes for name in [o.name] if name in winners
    }
    info = {"metric": selection.metric, "level": selection.level, "validation": selection.scores}
    router = AspectRouter(members, selection.routing, info)
    router.save_pretrained(directory, sources={o.name: o.model_dir for o in outcomes if o.name in winners})
    log.info("aspect-specific selection (%s, %s level): %s", selection.metric, selection.level, selection.routing)
    return directory


def _fingerprint(config: NRTrainConfig, prepared: PreparedData, assignments: dict[str, DomainAssignment]) -> str:
    """Identity of a run for resuming: config (but not epochs / output dir), items and domain labels."""
    settings = to_dict(config)
    settings.pop("output_dir")
    for key in ("epochs", "num_workers", "device"):
        settings["optim"].pop(key)
    for key in ("cache_dir", "batch_size", "device"):
        settings["features"].pop(key)
    payload = {
        "settings": settings,
        "input": dataclasses.asdict(prepared.input_spec),
        "train": [i.item_id for i in prepared.train_items],
        "valid": [i.item_id for i in prepared.valid_items],
        "domains": {k: a.labels.tolist() for k, a in assignments.items()},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]
