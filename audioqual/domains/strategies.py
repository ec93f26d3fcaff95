"""Domain definition strategies: which domain each training item belongs to.

- `source`: an explicit metadata field (dataset of origin); names sorted, ids 0..D-1.
- `kmeans:K`: K-means (Euclidean, scikit-learn, n_init=10, fixed seed) on
  utterance embeddings (the time-mean of the backbone's last layer).
  Cluster ids are renumbered by first appearance in item order, and the
  centroids are kept, so new items can be assigned to the nearest one.
- `random:K`: a seeded permutation split into K near-equal groups (control).
- `none`: no domain branch.

A `DomainAssignment` is saved with the model (JSON), so a run can be
reproduced or resumed with exactly the same labels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audioqual.arrays import finite_rows
from audioqual.errors import AudioqualError

KINDS = ("source", "kmeans", "random", "none")
PAPER_WEIGHTS = {"source": 0.5, "kmeans": 0.1, "random": 0.1}
"""Seed 000, Sec. III-B: lambda = 0.5 for DAT-Source, 0.1 for DAT-Kmeans and DAT-Random."""
PAPER_K = 8


class DomainStrategyError(AudioqualError):
    """A domain strategy is malformed or cannot be applied to the data."""


@dataclass(frozen=True)
class StrategySpec:
    """A parsed strategy string: `source`, `kmeans:K`, `random:K` or `none`."""

    kind: str
    k: int | None = None

    @classmethod
    def parse(cls, text: str) -> StrategySpec:
        kind, _, arg = str(text).strip().lower().partition(":")
        if kind not in KINDS:
            raise DomainStrategyError(f"unknown domain strategy {text!r} (use source, kmeans:K, random:K or none)")
        if kind in ("source", "none"):
            if arg:
                raise DomainStrategyError(f"domain strategy {kind!r} takes no ':K' argument (got {text!r})")
            return cls(kind)
        k = PAPER_K
        if arg:
            try:
                k = int(arg)
            except ValueError as err:
                raise DomainStrategyError(f"{text!r}: K must be an integer") from err
        if k < 2:
            raise DomainStrategyError(f"{text!r}: K must be at least 2")
        return cls(kind, k)

    @property
    def name(self) -> str:
        """Short identifier, e.g. `source`, `kmeans8`."""
        return self.kind if self.k is None else f"{self.kind}{self.k}"

    @property
    def paper_weight(self) -> float:
        """The paper's lambda for this strategy (0 for `none`)."""
        return PAPER_WEIGHTS.get(self.kind, 0.0)

    def __str__(self) -> str:
        return self.kind if self.k is None else f"{self.kind}:{self.k}"


@dataclass
class DomainAssignment:
    """Domain label of every training item under one strategy, plus what is needed to reuse it."""

    strategy: str
    item_ids: list[str]
    labels: np.ndarray
    names: list[str]
    seed: int
    centroids: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_domains(self) -> int:
        return len(self.names)

    def labels_for(self, item_ids: Sequence[str]) -> np.ndarray:
        """Labels of the given training items, in that order."""
        index = {item: i for i, item in enumerate(self.item_ids)}
        missing = [item for item in item_ids if item not in index]
        if missing:
            raise DomainStrategyError(
                f"{len(missing)} item(s) have no {self.strategy} domain label, e.g. {missing[0]!r}"
            )
        return self.labels[[index[item] for item in item_ids]]

    def assign(self, embeddings: np.ndarray) -> np.ndarray:
        """Nearest-centroid labels for new embeddings [N, D] (K-means strategies only)."""
        if self.centroids is None:
            raise DomainStrategyError(f"strategy {self.strategy} has no centroids to assign new items with")
        return nearest_centroid(np.asarray(embeddings, dtype=np.float64), self.centroids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "names": list(self.names),
            "item_ids": list(self.item_ids),
            "labels": [int(v) for v in self.labels],
            "centroids": None if self.centroids is None else self.centroids.tolist(),
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainAssignment:
        centroids = data.get("centroids")
        return cls(
            strategy=data["strategy"],
            item_ids=[str(i) for i in data["item_ids"]],
            labels=np.asarray(data["labels"], dtype=np.int64),
            names=[str(n) for n in data["names"]],
            seed=int(data["seed"]),
            centroids=None if centroids is None else np.asarray(centroids, dtype=np.float64),
            extra=dict(data.get("extra") or {}),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> DomainAssignment:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError) as err:
            raise DomainStrategyError(f"{path}: cannot read domain labels ({err})") from err


def assign_domains(
    strategy: str | StrategySpec,
    item_ids: Sequence[str],
    *,
    sources: Sequence[Any] | None = None,
    embeddings: np.ndarray | None = None,
    seed: int = 0,
) -> DomainAssignment | None:
    """Domain labels of the training items under `strategy` (None for `none`)."""
    spec = strategy if isinstance(strategy, StrategySpec) else StrategySpec.parse(strategy)
    item_ids = [str(i) for i in item_ids]
    if len(set(item_ids)) != len(item_ids):
        raise DomainStrategyError("item ids must be unique to define domains")
    if spec.kind == "none":
        return None
    if spec.kind == "source":
        if sources is None or len(sources) != len(item_ids):
            raise DomainStrategyError("the source strategy needs one source value per item")
        labels, names = source_labels(sources)
        return DomainAssignment(str(spec), item_ids, labels, names, seed)
    if spec.kind == "random":
        labels = random_labels(len(item_ids), spec.k, seed)
        return DomainAssignment(str(spec), item_ids, labels, [f"random{i}" for i in range(spec.k)], seed)
    if embeddings is None or len(embeddings) != len(item_ids):
        raise DomainStrategyError("the kmeans strategy needs one embedding per item")
    labels, centroids = kmeans_labels(embeddings, spec.k, seed)
    return DomainAssignment(str(spec), item_ids, labels, [f"cluster{i}" for i in range(spec.k)], seed, centroids)


def source_labels(sources: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """Integer ids of source names (sorted names -> 0..D-1); a missing source is an error."""
    values = [None if s is None else str(s) for s in sources]
    if any(v in (None, "") for v in values):
        raise DomainStrategyError("some items have no source value; the source strategy needs it for every item")
    names = sorted(set(values))
    if len(names) < 2:
        raise DomainStrategyError(f"the source strategy needs at least 2 sources, found {names}")
    index = {name: i for i, name in enumerate(names)}
    return np.asarray([index[v] for v in values], dtype=np.int64), names


def random_labels(n: int, k: int, seed: int) -> np.ndarray:
    """Seeded random split of n items into k groups of near-equal size."""
    if n < k:
        raise DomainStrategyError(f"cannot split {n} items into {k} random domains")
    order = np.random.default_rng(seed).permutation(n)
    labels = np.empty(n, dtype=np.int64)
    for group, members in enumerate(np.array_split(order, k)):
        labels[members] = group
    return labels


def kmeans_labels(embeddings: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """K-means (Euclidean) labels and centroids, renumbered by first appearance."""
    from sklearn.cluster import KMeans

    data = finite_rows(embeddings, f"K-means embeddings for {k} clusters", k, DomainStrategyError)
    fitted = KMeans(n_clusters=k, random_state=seed, n_init=10).fit(data)
    raw = fitted.labels_.astype(np.int64)
    order = list(dict.fromkeys(raw.tolist()))
    order += [c for c in range(k) if c not in order]
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    return remap[raw], fitted.cluster_centers_[order]


def nearest_centroid(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (Euclidean) for each row."""
    distances = (embeddings**2).sum(1, keepdims=True) - 2.0 * embeddings @ centroids.T + (centroids**2).sum(1)[None, :]
    return distances.argmin(1).astype(np.int64)
