"""Domain branch: GRL -> stacked dense layers -> D-way logits, trained with cross-entropy.

`DomainAdversary` holds one or more branches on the same bottleneck h (one per
domain definition, e.g. source and K-means at once) and combines their losses:

    L_adv = sum_b lambda_b * CE_b(d_b, domain_b),   L_total = L_task + L_adv.

It knows nothing about the quality head: any model that exposes a bottleneck
h of fixed width can use it. Items whose domain is unknown carry label -1 and
are left out of that branch's cross-entropy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from audioqual.domains.grl import GradientReversal

IGNORE_LABEL = -1


@dataclass(frozen=True)
class BranchSpec:
    """One adversarial branch: its domain count, loss weight lambda and GRL scale."""

    name: str
    num_domains: int
    weight: float
    grl_scale: float
    hidden: tuple[int, ...] = (64, 32)

    def __post_init__(self) -> None:
        if self.num_domains < 2:
            raise ValueError(f"domain branch {self.name!r} needs at least 2 domains, got {self.num_domains}")
        if self.weight < 0 or self.grl_scale < 0:
            raise ValueError(f"domain branch {self.name!r}: weight and grl_scale must be >= 0")


class DomainClassifier(nn.Module):
    """GRL followed by dense ReLU layers and a linear D-way output."""

    def __init__(self, in_features: int, num_domains: int, hidden: Sequence[int] = (64, 32), grl_scale: float = 1.0):
        super().__init__()
        self.grl = GradientReversal(grl_scale)
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, num_domains))
        self.layers = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.layers(self.grl(h))


@dataclass
class AdversarialLoss:
    """Weighted sum over branches plus each branch's own cross-entropy and accuracy."""

    total: torch.Tensor
    cross_entropy: dict[str, torch.Tensor] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)


class DomainAdversary(nn.Module):
    """One DomainClassifier per branch on the shared bottleneck h."""

    def __init__(self, in_features: int, branches: Sequence[BranchSpec]):
        super().__init__()
        if not branches:
            raise ValueError("DomainAdversary needs at least one branch")
        names = [b.name for b in branches]
        if len(set(names)) != len(names):
            raise ValueError(f"domain branch names must be unique, got {names}")
        self.specs = {b.name: b for b in branches}
        self.classifiers = nn.ModuleDict(
            {b.name: DomainClassifier(in_features, b.num_domains, b.hidden, b.grl_scale) for b in branches}
        )

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: classifier(h) for name, classifier in self.classifiers.items()}

    def loss(self, logits: Mapping[str, torch.Tensor], labels: Mapping[str, torch.Tensor]) -> AdversarialLoss:
        """sum_b lambda_b * CE_b over the branches (labels -1 ignored)."""
        total = next(iter(logits.values())).new_zeros(())
        result = AdversarialLoss(total=total)
        for name, spec in self.specs.items():
            if name not in labels:
                raise KeyError(f"no domain labels for branch {name!r}")
            target = labels[name].long()
            valid = target != IGNORE_LABEL
            if not bool(valid.any()):
                continue
            ce = F.cross_entropy(logits[name][valid], target[valid])
            result.cross_entropy[name] = ce.detach()
            result.accuracy[name] = float((logits[name][valid].argmax(-1) == target[valid]).float().mean())
            total = total + spec.weight * ce
        result.total = total
        return result
