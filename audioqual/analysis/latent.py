"""Bottleneck h, predictions and labels of a trained no-reference model on a rated split.

Every analysis of seed 000 Sec. IV (UMAP, quality terrain, linear probing,
strategy comparison, K ablation) starts from the same table: run the model
over the items of a rating manifest and keep, per item, the bottleneck h,
the predicted mean of each aspect, the subjective scores, the domain label
and the system. Inputs are prepared the way the model was trained (cached
frozen-backbone features for feature heads, audio for waveform heads);
items that cannot be read are left out and reported, the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from audioqual.backbones import Backbone
from audioqual.data.aes import RatedItem, read_aes_manifest
from audioqual.data.manifest import ManifestEntry
from audioqual.device import resolve_device
from audioqual.errors import AudioqualError, ModelLoadError
from audioqual.features import DEFAULT_CACHE_DIR, FeatureCache
from audioqual.nr.data import FeatureDataset, WaveformDataset, pad_collate
from audioqual.nr.features import crop_frame_features, utterance_embeddings
from audioqual.nr.model import NoReferenceModel
from audioqual.nr.scoring import model_backbone
from audioqual.nr.selection import AspectRouter
from audioqual.pretrained import load_pretrained

log = logging.getLogger(__name__)
UNKNOWN_DOMAIN = "unknown"


@dataclass
class LatentSet:
    """Per item of a split: h [N, H], predicted means [N, k], scores [N, k] (NaN if unrated), domain, system."""

    name: str
    item_ids: list[str]
    h: np.ndarray
    predictions: np.ndarray
    aspects: list[str]
    targets: np.ndarray
    domains: list[str]
    systems: list[str | None]
    failures: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.item_ids)

    def aspect_index(self, aspect: str) -> int:
        """Column of `aspect` in predictions / targets."""
        if aspect not in self.aspects:
            raise AudioqualError(f"model {self.name!r} has no aspect {aspect!r} (it predicts {', '.join(self.aspects)})")
        return self.aspects.index(aspect)


@dataclass
class InputOptions:
    """Where features come from when a model is run over a split."""

    cache_dir: str | None = None
    device: str = "auto"
    batch_size: int = 8
    backbone: str | None = None  # override of the backbone recorded in the model
    progress: bool = True


def read_split(
    manifest: str | Path,
    aspects: Sequence[str],
    *,
    domain_field: str = "source",
    system_field: str = "system",
    path_rewrite: Mapping[str, str] | None = None,
) -> list[RatedItem]:
    """Items of a rating manifest, with the scores of `aspects` where the rows carry them."""
    items = read_aes_manifest(
        manifest,
        aspects,
        source_field=domain_field,
        system_field=system_field,
        path_rewrite=path_rewrite,
        require_scores=False,
    )
    if not items:
        raise AudioqualError(f"{manifest}: no items")
    return items


def item_scores(items: Sequence[RatedItem], aspects: Sequence[str]) -> np.ndarray:
    """Subjective scores [N, k] of `aspects`, NaN where an item has none."""
    return np.asarray([[i.scores.get(a, np.nan) for a in aspects] for i in items], dtype=np.float64).reshape(
        len(items), len(aspects)
    )


def load_model(path: str | Path, member: str | None = None, device: str = "cpu") -> NoReferenceModel:
    """A saved NoReferenceModel; for an aspect router, its member `member` (or its only member)."""
    model = load_pretrained(path, (NoReferenceModel, AspectRouter), device)
    if isinstance(model, NoReferenceModel):
        if member:
            raise AudioqualError(f"{path}: a single model has no members (drop --member)")
        return model
    members = list(model.members)
    if member is None and len(members) == 1:
        member = members[0]
    if member not in members:
        raise AudioqualError(
            f"{path} is an aspect router; each member has its own h: choose one with --member "
            f"({', '.join(members)})"
        )
    return model.members[member]


def model_inputs(
    model: NoReferenceModel,
    entries: Sequence[ManifestEntry],
    options: InputOptions,
    backbone: Backbone | None = None,
) -> tuple[Dataset, object, list[int], dict[str, str]]:
    """Dataset of the model's inputs for `entries`, its collate function, the kept entry indices, failures."""
    spec = model.input_spec
    if spec.kind == "waveform":
        dataset = WaveformDataset(entries, spec.sample_rate, crop_seconds=spec.crop_seconds)
        return dataset, pad_collate, list(range(len(entries))), {}
    backbone = backbone or model_backbone(model, options.backbone)
    features = crop_frame_features(
        entries,
        backbone,
        FeatureCache(options.cache_dir or DEFAULT_CACHE_DIR),
        layer=spec.layer,
        seconds=spec.crop_seconds,
        batch_size=options.batch_size,
        device=options.device,
        progress=options.progress,
    )
    kept = [i for i, e in enumerate(entries) if e.item_id not in features.failures]
    if kept and (features.channels, features.frames) != (spec.channels, spec.frames):
        raise ModelLoadError(
            f"features are [{features.channels}, {features.frames}] but the model was trained on "
            f"[{spec.channels}, {spec.frames}]"
        )
    dataset = FeatureDataset(features, [entries[i].item_id for i in kept])
    return dataset, None, kept, dict(features.failures)


@torch.no_grad()
def forward_dataset(
    model: NoReferenceModel, dataset: Dataset, collate_fn=None, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """h [M, H] and predicted means [M, k] of the readable items, plus {index: error} of the others.

    One pass with the model in eval mode (the same h as `audioqual.nr.probe.bottleneck`); an item
    whose audio cannot be loaded is recorded and skipped instead of stopping the run.
    """
    model.eval()
    device = next(model.parameters()).device
    collate = collate_fn or default_collate
    hs, means, failures = [], [], {}
    for start in range(0, len(dataset), batch_size):
        items = []
        for index in range(start, min(start + batch_size, len(dataset))):
            try:
                items.append(dataset[index])
            except AudioqualError as err:
                failures[index] = str(err)
        if not items:
            continue
        batch = collate(items)
        lengths = batch.get("lengths")
        out = model(batch["inputs"].to(device), None if lengths is None else lengths.to(device))
        hs.append(out.h.float().cpu().numpy())
        means.append(out.prediction.mean.float().cpu().numpy())
    width = getattr(model.head, "bottleneck_dim", 0)
    if not hs:
        return np.zeros((0, width)), np.zeros((0, len(model.aspects))), failures
    return np.concatenate(hs), np.concatenate(means), failures


def branch_domains(
    model: NoReferenceModel,
    branch: str,
    entries: Sequence[ManifestEntry],
    options: InputOptions,
    backbone: Backbone | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Domain of each entry under one of the model's K-means branches: the nearest saved centroid."""
    if branch not in model.domains:
        known = ", ".join(model.domains) or "none"
        raise AudioqualError(f"model has no domain branch {branch!r} (branches: {known})")
    assignment = model.domains[branch]
    if assignment.centroids is None:
        raise AudioqualError(
            f"branch {branch!r} ({assignment.strategy}) has no centroids to assign new items; "
            "colour by a manifest field instead (--domain-field)"
        )
    full_clip = bool(assignment.extra.get("full_clip", True))
    embeddings, failures = utterance_embeddings(
        entries,
        backbone or model_backbone(model, options.backbone),
        FeatureCache(options.cache_dir or DEFAULT_CACHE_DIR),
        layer=int(assignment.extra.get("layer", -1)),
        crop_seconds=None if full_clip else model.input_spec.crop_seconds,
        batch_size=options.batch_size,
        device=resolve_device(options.device),
        progress=options.progress,
    )
    labels = []
    ok = [e.item_id for e in entries if e.item_id in embeddings]
    assigned = dict(zip(ok, assignment.assign(np.stack([embeddings[i] for i in ok])))) if ok else {}
    for entry in entries:
        labels.append(assignment.names[assigned[entry.item_id]] if entry.item_id in assigned else UNKNOWN_DOMAIN)
    return labels, failures


def collect_latents(
    model: NoReferenceModel,
    items: Sequence[RatedItem],
    *,
    name: str,
    options: InputOptions | None = None,
    domains: Sequence[str] | None = None,
    backbone: Backbone | None = None,
) -> LatentSet:
    """Run `model` over `items`; keep h, predictions, the items' scores of the model's aspects, domains, systems.

    Domains are the items' `source` (the manifest's domain field) unless `domains` gives one label per item.
    """
    options = options or InputOptions()
    model.to(resolve_device(options.device))
    entries = [i.entry for i in items]
    if model.input_spec.kind == "features" and backbone is None:
        backbone = model_backbone(model, options.backbone)
    dataset, collate, kept, failures = model_inputs(model, entries, options, backbone)
    h, predictions, load_failures = forward_dataset(model, dataset, collate)
    for index, error in load_failures.items():
        failures[entries[kept[index]].item_id] = error
    rows = [k for n, k in enumerate(kept) if n not in load_failures]  # entry index of each row of h
    if domains is None:
        domains = [i.source or UNKNOWN_DOMAIN for i in items]
    elif len(domains) != len(items):
        raise AudioqualError(f"{len(domains)} domain labels for {len(items)} items")
    keep = np.asarray([entries[k].item_id not in failures for k in rows], dtype=bool)
    kept = [k for k, ok in zip(rows, keep) if ok]
    h, predictions = h[keep], predictions[keep]
    if failures:
        for item_id, error in list(failures.items())[:5]:
            log.warning("left out %s: %s", item_id, error)
        if len(failures) > 5:
            log.warning("... %d item(s) left out in all", len(failures))
    if not kept:
        raise AudioqualError(f"no item of the split could be run through model {name!r}")
    targets = item_scores(items, model.aspects)
    return LatentSet(
        name=name,
        item_ids=[entries[k].item_id for k in kept],
        h=h,
        predictions=predictions,
        aspects=list(model.aspects),
        targets=targets[kept],
        domains=[domains[k] for k in kept],
        systems=[items[k].system for k in kept],
        failures=failures,
    )
