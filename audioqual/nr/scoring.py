"""Scoring audio with a trained no-reference model: one path for every head and for routers.

`load_scorer` opens a saved `NoReferenceModel` or `AspectRouter` directory;
`Scorer` prepares each member model's input (cached backbone features, or
whole clips for heads that take waveforms and carry their own encoder), runs
the members and assembles, per file, each aspect's mean and standard
deviation (and on request the covariance). `score_entries` runs it as a
crash-safe batch job: a bad file is recorded with its error and the job goes
on; a re-run resumes. The batch runner itself is torch-free (`audioqual.nr.batch`), shared
with exported models.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from audioqual.backbones import Backbone
from audioqual.data.manifest import ManifestEntry
from audioqual.errors import ModelLoadError
from audioqual.features import DEFAULT_CACHE_DIR, FeatureCache
from audioqual.nr.data import WaveformDataset
from audioqual.nr.features import FrameFeatures, crop_frame_features, resolve_device
from audioqual.nr.model import NoReferenceModel
from audioqual.nr.registry import head_factory
from audioqual.nr.selection import AspectRouter
from audioqual.pretrained import load_pretrained

log = logging.getLogger(__name__)


def load_scorer(path: str | Path, map_location: str = "cpu") -> AspectRouter:
    """A saved model directory as an AspectRouter (a single model routes all its aspects to itself)."""
    model = load_pretrained(path, (AspectRouter, NoReferenceModel), map_location)
    if isinstance(model, NoReferenceModel):
        return AspectRouter({"model": model}, {a: "model" for a in model.aspects})
    return model


@torch.no_grad()
def predict_dataset(
    model: NoReferenceModel, dataset: Dataset, batch_size: int = 64, collate_fn=None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Means [N, k], standard deviations [N, k] and covariances [N, k, k] (None for point heads)."""
    model.eval()
    device = next(model.parameters()).device
    means, stds, covs = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn):
        lengths = batch.get("lengths")
        out = model(batch["inputs"].to(device), None if lengths is None else lengths.to(device))
        means.append(out.prediction.mean.float().cpu().numpy())
        std, cov = out.prediction.std(), out.prediction.covariance()
        if std is not None:
            stds.append(std.float().cpu().numpy())
            covs.append(cov.float().cpu().numpy())
    return np.concatenate(means), np.concatenate(stds) if stds else None, np.concatenate(covs) if covs else None


@dataclass
class _MemberInput:
    features: FrameFeatures | None = None
    waveforms: WaveformDataset | None = None
    index: dict[str, int] | None = None


class Scorer:
    """Scores entries with every member of a router and assembles per-aspect results."""

    def __init__(
        self,
        router: AspectRouter,
        *,
        cache_dir: str | Path | None = None,
        device: str = "auto",
        batch_size: int = 8,
        backbone: str | None = None,
        progress: bool = True,
    ):
        self.router = router
        self.device = resolve_device(device)
        self.cache = FeatureCache(cache_dir or DEFAULT_CACHE_DIR)
        self.batch_size = batch_size
        self.backbone_override = backbone
        self.progress = progress
        for model in router.members.values():
            model.to(self.device).eval()
        self._inputs: dict[str, _MemberInput] = {}

    def prepare(self, entries: Sequence[ManifestEntry]) -> dict[str, str]:
        """Extract what every member needs for `entries`; returns item_id -> error for failed items."""
        failures: dict[str, str] = {}
        backbones: dict[str, Backbone] = {}
        for name, model in self.router.members.items():
            spec = model.input_spec
            if spec.kind == "features":
                if spec.backbone not in backbones:
                    backbones[spec.backbone] = self._backbone(model)
                backbone = backbones[spec.backbone]
                features = crop_frame_features(
                    entries,
                    backbone,
                    self.cache,
                    layer=spec.layer,
                    seconds=spec.crop_seconds,
                    batch_size=self.batch_size,
                    device=self.device,
                    progress=self.progress,
                )
                failures.update(features.failures)
                self._inputs[name] = _MemberInput(features=features)
            else:
                dataset = WaveformDataset(entries, spec.sample_rate, crop_seconds=spec.crop_seconds)
                self._inputs[name] = _MemberInput(
                    waveforms=dataset, index={e.item_id: i for i, e in enumerate(entries)}
                )
        return failures

    def _backbone(self, model: NoReferenceModel) -> Backbone:
        return model_backbone(model, self.backbone_override)

    @torch.no_grad()
    def score_one(self, entry: ManifestEntry, covariance: bool = False) -> dict[str, Any]:
        """Per-aspect mean and std of one prepared entry (plus covariance if asked)."""
        results = {}
        for name, model in self.router.members.items():
            if name not in self.router.routing.values():
                continue
            member = self._inputs[name]
            if member.features is not None:
                x = torch.from_numpy(np.ascontiguousarray(member.features.get(entry.item_id)))[None]
                out = model(x.to(self.device))
            else:
                audio = member.waveforms.load(member.index[entry.item_id])
                out = model(audio[None].to(self.device), torch.tensor([audio.shape[0]], device=self.device))
            results[name] = out.prediction
        row: dict[str, Any] = {}
        for aspect, name in self.router.routing.items():
            prediction = results[name]
            index = self.router.members[name].aspects.index(aspect)
            row[aspect] = float(prediction.mean[0, index])
            std = prediction.std()
            row[f"{aspect}_std"] = None if std is None else float(std[0, index])
        if covariance:
            row["covariance"] = self._covariance(results)
        return row

    def _covariance(self, results: dict[str, Any]) -> list[list[float]] | None:
        """Covariance over the router's aspects; across different member models the blocks are independent (0)."""
        aspects = self.router.aspects
        matrix = np.zeros((len(aspects), len(aspects)))
        for i, a in enumerate(aspects):
            for j, b in enumerate(aspects):
                name = self.router.routing[a]
                if self.router.routing[b] != name:
                    continue
                cov = results[name].covariance()
                if cov is None:
                    return None
                member_aspects = self.router.members[name].aspects
                matrix[i, j] = float(cov[0, member_aspects.index(a), member_aspects.index(b)])
        return matrix.tolist()


def model_backbone(model: NoReferenceModel, override: str | None = None) -> Backbone:
    """The backbone a model's features come from (or `override`), checked against the recorded fingerprint."""
    spec = model.input_spec
    backbone = head_factory(model.head_name).open_backbone(override or spec.backbone)
    if spec.backbone_fingerprint and backbone.fingerprint() != spec.backbone_fingerprint:
        raise ModelLoadError(
            f"backbone {override or spec.backbone!r} is not the one this model was trained on "
            f"({spec.backbone_name}, fingerprint {spec.backbone_fingerprint}); pass the original with --backbone"
        )
    return backbone
