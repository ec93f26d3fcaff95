"""Aspect-specific strategy selection and the model that routes each aspect to its winner.

The paper finds that no domain definition suits every aspect (source for PC
and CE, K-means for PQ and CU). Given several trained models and the
validation set, `select_per_aspect` picks, for each aspect, the model with
the best validation SRCC (or MSE), by default at system level (mean of
predictions and scores per system first) when the validation items name
their systems. `AspectRouter` then serves every aspect from its own model.
"""

from __future__ import annotations

import math
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audioqual.errors import AudioqualError
from audioqual.eval.aggregate import system_level
from audioqual.eval.correlation import spearman
from audioqual.nr.model import NoReferenceModel
from audioqual.pretrained import Pretrained

log = logging.getLogger(__name__)
ROUTER_TYPE = "audioqual-nr-router"
MEMBERS_DIR = "members"
METRICS = {"srcc": True, "mse": False}  # metric -> higher is better


def aspect_metric(
    prediction: np.ndarray, target: np.ndarray, metric: str, systems: Sequence[Any] | None = None
) -> float:
    """SRCC or MSE of one aspect, at system level when `systems` is given (NaN when undefined, e.g. constant input)."""
    if metric not in METRICS:
        raise AudioqualError(f"unknown selection metric {metric!r}; use one of {sorted(METRICS)}")
    if systems is not None:
        prediction, target, _ = system_level(prediction, target, systems)
    prediction, target = np.asarray(prediction, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if metric == "mse":
        return float(np.mean((prediction - target) ** 2))
    return float(spearman(prediction, target))


def selection_systems(systems: Sequence[str | None], level: str) -> Sequence[str] | None:
    """The system labels to aggregate by, or None for utterance level (with a warning on fallback)."""
    if level == "utterance":
        return None
    if level != "system":
        raise AudioqualError(f"selection level must be 'system' or 'utterance', got {level!r}")
    if any(s is None for s in systems) or len(set(systems)) < 3:
        log.warning("validation items lack system labels (or name fewer than 3): selecting at utterance level")
        return None
    return list(systems)  # type: ignore[arg-type]


@dataclass
class Selection:
    """Winner per aspect and the full table of validation scores."""

    routing: dict[str, str]
    scores: dict[str, dict[str, float]]  # candidate -> aspect -> metric value
    metric: str
    level: str


def select_per_aspect(
    predictions: Mapping[str, np.ndarray],
    targets: np.ndarray,
    aspects: Sequence[str],
    metric: str = "srcc",
    systems: Sequence[Any] | None = None,
) -> Selection:
    """For each aspect, the candidate whose validation predictions [N, k] score best (ties: first listed)."""
    if not predictions:
        raise AudioqualError("no candidate models to select from")
    higher_is_better = METRICS.get(metric)
    if higher_is_better is None:
        raise AudioqualError(f"unknown selection metric {metric!r}; use one of {sorted(METRICS)}")
    scores = {
        name: {a: aspect_metric(pred[:, i], targets[:, i], metric, systems) for i, a in enumerate(aspects)}
        for name, pred in predictions.items()
    }
    routing = {}
    for aspect in aspects:
        # an undefined score (NaN) ranks last, never first
        ranked = sorted(scores, key=lambda n: (math.isnan(scores[n][aspect]),
                                               -scores[n][aspect] if higher_is_better else scores[n][aspect]))
        routing[aspect] = ranked[0]
    return Selection(routing, scores, metric, "utterance" if systems is None else "system")


class AspectRouter(Pretrained):
    """Several NoReferenceModels; each aspect is answered by the one selected for it."""

    model_type = ROUTER_TYPE
    kind = "no-reference aspect router"

    def __init__(self, members: Mapping[str, NoReferenceModel], routing: Mapping[str, str], info: dict | None = None):
        missing = {m for m in routing.values() if m not in members}
        if missing:
            raise AudioqualError(f"routing names unknown member model(s) {sorted(missing)}")
        for aspect, name in routing.items():
            if aspect not in members[name].aspects:
                raise AudioqualError(f"member {name!r} does not predict aspect {aspect!r}")
        self.members = dict(members)
        self.routing = dict(routing)
        self.info = dict(info or {})

    @property
    def aspects(self) -> list[str]:
        return list(self.routing)

    def _save_files(self, folder: Path, sources: Mapping[str, str | Path] | None = None) -> dict[str, Any]:
        """One saved model per member under members/ (copied from `sources` when given); the config."""
        for name, model in self.members.items():
            target = folder / MEMBERS_DIR / name
            if sources and name in sources:
                shutil.copytree(sources[name], target)
            else:
                model.save_pretrained(target)
        return {"model_type": ROUTER_TYPE, "routing": self.routing, "members": sorted(self.members), "info": self.info}

    @classmethod
    def _from_files(cls, directory: Path, config: dict[str, Any], map_location: str = "cpu") -> AspectRouter:
        """Every member model, on `map_location`."""
        members = {
            name: NoReferenceModel.from_pretrained(directory / MEMBERS_DIR / name, map_location)
            for name in config["members"]
        }
        return cls(members, config["routing"], config.get("info"))
