"""The no-reference quality model: a quality head plus optional domain-adversarial branches.

`NoReferenceModel` maps its input (cached SSL features or waveforms, as the
head declares) to per-aspect predictions, the bottleneck h and the domain
logits of each adversarial branch, and computes L_total = L_task + L_adv.
`save_pretrained` writes a directory (config.json, model.safetensors, the
domain labels / K-means centroids of every branch, and the id and
fingerprint of the backbone the features came from); `from_pretrained` reads
it back in a fresh process (audioqual.pretrained: atomic, versioned, checked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from audioqual.config import from_dict
from audioqual.domains.branch import AdversarialLoss, BranchSpec, DomainAdversary
from audioqual.domains.strategies import DomainAssignment
from audioqual.errors import ModelLoadError
from audioqual.nr.outputs import AspectPrediction
from audioqual.nr.registry import InputInfo, head_factory
from audioqual.pretrained import Pretrained

MODEL_TYPE = "audioqual-nr"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
DOMAINS_DIR = "domains"


@dataclass
class InputSpec:
    """What the model consumes and how it was produced at training time."""

    kind: str  # "features" or "waveform"
    backbone: str  # backbone id or directory the model was trained with
    backbone_name: str = ""
    backbone_fingerprint: str = ""  # hash of the backbone weights (features must come from the same one)
    sample_rate: int = 16000
    layer: int | None = None  # hidden state the features come from (features heads)
    crop_seconds: float | None = None  # clips repetitively padded / cropped to this (None: whole clip)
    channels: int | None = None
    frames: int | None = None

    def input_info(self, aspects: Sequence[str]) -> InputInfo:
        """What the head is told about its input and the aspects (names, in output order) it predicts."""
        names = tuple(str(a) for a in aspects)
        return InputInfo(len(names), self.channels, self.frames, self.sample_rate, self.backbone, names)


@dataclass
class NROutput:
    """Aspect prediction, bottleneck h, and logits of every domain branch."""

    prediction: AspectPrediction
    h: torch.Tensor
    domain_logits: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class LossBreakdown:
    """L_total = L_task + L_adv and its parts."""

    total: torch.Tensor
    task: torch.Tensor
    adversarial: AdversarialLoss | None = None


class NoReferenceModel(nn.Module, Pretrained):
    """Quality head + domain adversary; knows its aspects, input and domain labels."""

    config_file = CONFIG_FILE
    model_type = MODEL_TYPE
    format_version = FORMAT_VERSION
    kind = "no-reference model"

    def __init__(
        self,
        head: nn.Module,
        *,
        head_name: str,
        head_options: Mapping[str, Any],
        aspects: Sequence[str],
        input_spec: InputSpec,
        branches: Sequence[BranchSpec] = (),
        domains: Mapping[str, DomainAssignment] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        self.head = head
        self.head_name = head_name
        self.head_options = dict(head_options)
        self.aspects = list(aspects)
        self.input_spec = input_spec
        self.branches = list(branches)
        self.adversary = DomainAdversary(head.bottleneck_dim, self.branches) if self.branches else None
        self.domains = dict(domains or {})
        self.metadata = dict(metadata or {})

    @classmethod
    def build(
        cls,
        head_name: str,
        head_options: Mapping[str, Any],
        aspects: Sequence[str],
        input_spec: InputSpec,
        branches: Sequence[BranchSpec] = (),
        **extras: Any,
    ) -> NoReferenceModel:
        """Build the head from the registry, validating its options; `extras`: the constructor's domains, metadata."""
        factory = head_factory(head_name)
        if factory.input_kind != input_spec.kind:
            raise ValueError(f"head {head_name!r} takes {factory.input_kind} input, not {input_spec.kind}")
        options = from_dict(factory.config_cls, dict(head_options), where=f"head {head_name} options")
        head = factory.build(options, input_spec.input_info(aspects))
        return cls(
            head,
            head_name=head_name,
            head_options=asdict(options),
            aspects=aspects,
            input_spec=input_spec,
            branches=branches,
            **extras,
        )

    def fit_targets(self, targets: np.ndarray) -> None:
        """Let the head fit what it derives from the training targets [N, k] (aspect order), if anything.

        Called once before training. Heads without a `fit_targets` method need
        nothing (MultiGauss has a fixed output scaling); the aesthetics head fits
        its per-aspect target normalisation unless a checkpoint fixed it.
        """
        fit = getattr(self.head, "fit_targets", None)
        if callable(fit):
            fit(np.asarray(targets))

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> NROutput:
        out = self.head(inputs) if lengths is None else self.head(inputs, lengths)
        logits = self.adversary(out.h) if self.adversary is not None else {}
        return NROutput(out.prediction, out.h, logits)

    def task_loss(self, output: NROutput, targets: torch.Tensor) -> torch.Tensor:
        """The head's own loss (MultiGauss: Gaussian NLL)."""
        return self.head.task_loss(output, targets)

    def losses(
        self, output: NROutput, targets: torch.Tensor, domain_labels: Mapping[str, torch.Tensor] | None = None
    ) -> LossBreakdown:
        """L_task from the head; plus sum_b lambda_b CE_b when there are branches."""
        task = self.task_loss(output, targets)
        if self.adversary is None:
            return LossBreakdown(total=task, task=task)
        adversarial = self.adversary.loss(output.domain_logits, domain_labels or {})
        return LossBreakdown(total=task + adversarial.total, task=task, adversarial=adversarial)

    def config_dict(self) -> dict[str, Any]:
        return {
            "model_type": MODEL_TYPE,
            "format_version": FORMAT_VERSION,
            "head": self.head_name,
            "head_options": self.head_options,
            "aspects": self.aspects,
            "input": asdict(self.input_spec),
            "branches": [asdict(b) for b in self.branches],
            "domains": {name: f"{DOMAINS_DIR}/{name}.json" for name in self.domains},
            "metadata": self.metadata,
        }

    def _save_files(self, folder: Path) -> dict[str, Any]:
        """model.safetensors and domains/<branch>.json; the config."""
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE))
        for name, assignment in self.domains.items():
            assignment.save(folder / DOMAINS_DIR / f"{name}.json")
        return self.config_dict()

    @classmethod
    def _from_files(
        cls, directory: Path, config: dict[str, Any], map_location: str | torch.device = "cpu"
    ) -> NoReferenceModel:
        """The model in eval mode on `map_location`."""
        try:
            spec = InputSpec(**config["input"])
            branches = [BranchSpec(**{**b, "hidden": tuple(b["hidden"])}) for b in config.get("branches", [])]
            domains = {
                name: DomainAssignment.load(directory / relative)
                for name, relative in config.get("domains", {}).items()
            }
            model = cls.build(
                config["head"],
                config["head_options"],
                config["aspects"],
                spec,
                branches,
                domains=domains,
                metadata=config.get("metadata"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ModelLoadError(f"{directory}: malformed {CONFIG_FILE} ({type(err).__name__}: {err})") from err
        weights = directory / WEIGHTS_FILE
        if not weights.exists():
            raise ModelLoadError(f"{directory}: no {WEIGHTS_FILE}")
        try:
            model.load_state_dict(load_file(str(weights), device=str(map_location)))
        except (RuntimeError, OSError) as err:
            raise ModelLoadError(f"{weights}: weights do not fit the configured model ({err})") from err
        return model.to(map_location).eval()

