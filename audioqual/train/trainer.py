"""The training loop of the no-reference heads: models that return (prediction, h, domain logits).

AdamW, gradient clipping, best state by validation task loss, and a
checkpoint after every epoch (model, optimiser, history) through the shared
engine (audioqual.train.engine: atomic, with RNG states, resumed by rerunning
the same command), so a killed run ends with exactly the weights an
uninterrupted run would have. Shuffling uses a generator seeded by
(seed, epoch), which keeps resumed runs identical. Under torchrun the
configured batch size is the global one; rank 0 validates and writes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler
from tqdm.auto import tqdm

from audioqual.errors import AudioqualError
from audioqual.train.config import OptimConfig
from audioqual.train.engine import Engine

log = logging.getLogger(__name__)


@dataclass
class EpochRecord:
    """Losses of one epoch."""

    epoch: int
    train_loss: float
    train_task_loss: float
    train_adv_loss: float
    valid_loss: float | None
    domain_accuracy: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    """Outcome of `Trainer.fit`; the model holds the best state afterwards."""

    best_epoch: int
    best_valid_loss: float | None
    history: list[EpochRecord]
    resumed_from_epoch: int | None = None


class Trainer:
    """Train `model` on dict batches {"inputs", "targets", "domains", optional "lengths"}."""

    def __init__(
        self,
        model: torch.nn.Module,
        train_set: Dataset,
        valid_set: Dataset | None,
        optim: OptimConfig,
        output_dir: str | Path,
        *,
        seed: int = 0,
        fingerprint: str = "",
        collate_fn: Callable[[Sequence[Any]], Any] | None = None,
        progress: bool = True,
    ):
        self.model = model
        self.train_set = train_set
        self.valid_set = valid_set
        self.optim = optim
        self.output_dir = Path(output_dir)
        self.seed = seed
        self.collate_fn = collate_fn
        self.progress = progress
        self.engine = Engine(output_dir, fingerprint=fingerprint, seed=seed, device=optim.device)
        self.context = self.engine.context
        self.device = self.engine.device

    @property
    def checkpoint_path(self) -> Path:
        return self.engine.checkpoint_path

    def fit(self, stop_after_epoch: int | None = None) -> TrainResult:
        """Train for optim.epochs (resuming from a checkpoint if one exists); best state loaded at the end.

        `stop_after_epoch` ends the run early after that epoch, as an interruption would.
        """
        if len(self.train_set) == 0:
            raise AudioqualError("the training set is empty")
        self.engine.seed_everything()
        model = self.model.to(self.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.optim.lr, weight_decay=self.optim.weight_decay)
        start_epoch, history = 1, []
        best_loss, best_epoch, best_state = math.inf, 0, None
        resumed = None
        state = self.engine.resume()
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_epoch, history = state["epoch"] + 1, [EpochRecord(**r) for r in state["history"]]
            best_loss, best_epoch, best_state = state["best_loss"], state["best_epoch"], state["best_state"]
            resumed = state["epoch"]
            log.info("resuming %s after epoch %d", self.output_dir, resumed)

        trained = self.engine.wrap(model)
        for epoch in range(start_epoch, self.optim.epochs + 1):
            record = self._train_epoch(trained, model, optimizer, epoch)
            if self.valid_set is not None and self.context.is_main:
                record.valid_loss = self.validate(model)
            history.append(record)
            current = record.valid_loss if record.valid_loss is not None and self.optim.select_best else -epoch
            if current < best_loss:
                best_loss, best_epoch = current, epoch
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            log.info(
                "epoch %d: train %.4f (task %.4f, adv %.4f) valid %s",
                epoch,
                record.train_loss,
                record.train_task_loss,
                record.train_adv_loss,
                "-" if record.valid_loss is None else f"{record.valid_loss:.4f}",
            )
            self.engine.save_checkpoint({
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "history": [r.__dict__ for r in history],
                "best_loss": best_loss,
                "best_epoch": best_epoch,
                "best_state": best_state,
            })  # fmt: skip
            if stop_after_epoch is not None and epoch >= stop_after_epoch:
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return TrainResult(
            best_epoch=best_epoch,
            best_valid_loss=None if self.valid_set is None else best_loss,
            history=history,
            resumed_from_epoch=resumed,
        )

    def _loader(self, dataset: Dataset, epoch: int, shuffle: bool) -> DataLoader:
        sampler = self.engine.shard(dataset, epoch) if shuffle else None
        if shuffle and sampler is None:
            generator = torch.Generator().manual_seed(self.seed * 1000003 + epoch)
            sampler = RandomSampler(dataset, generator=generator)
        return DataLoader(
            dataset,
            batch_size=self.engine.per_rank(self.optim.batch_size) if shuffle else self.optim.batch_size,
            sampler=sampler,
            num_workers=self.optim.num_workers,
            collate_fn=self.collate_fn,
        )

    def _train_epoch(self, trained, model, optimizer, epoch: int) -> EpochRecord:
        trained.train()
        totals = {"loss": 0.0, "task": 0.0, "adv": 0.0, "n": 0}
        accuracy: dict[str, list[float]] = {}
        loader = self._loader(self.train_set, epoch, shuffle=True)
        for batch in tqdm(loader, desc=f"epoch {epoch}", unit="batch", leave=False, disable=not self.progress or None):
            batch = self.engine.to_device(batch)
            output = trained(batch["inputs"], batch.get("lengths"))
            losses = model.losses(output, batch["targets"], batch.get("domains"))
            if not torch.isfinite(losses.total):
                raise AudioqualError(f"training diverged at epoch {epoch}: loss is {losses.total.item()}")
            self.engine.step(losses.total, optimizer, model.parameters(), self.optim.grad_clip)
            size = batch["targets"].shape[0]
            totals["loss"] += losses.total.item() * size
            totals["task"] += losses.task.item() * size
            if losses.adversarial is not None:
                totals["adv"] += losses.adversarial.total.item() * size
                for name, value in losses.adversarial.accuracy.items():
                    accuracy.setdefault(name, []).append(value)
            totals["n"] += size
        n = max(totals["n"], 1)
        return EpochRecord(
            epoch=epoch,
            train_loss=totals["loss"] / n,
            train_task_loss=totals["task"] / n,
            train_adv_loss=totals["adv"] / n,
            valid_loss=None,
            domain_accuracy={k: float(np.mean(v)) for k, v in accuracy.items()},
        )

    @torch.no_grad()
    def validate(self, model) -> float:
        """Mean task loss over the validation set (model in eval mode)."""
        model.eval()
        total, count = 0.0, 0
        for batch in self._loader(self.valid_set, 0, shuffle=False):
            batch = self.engine.to_device(batch)
            output = model(batch["inputs"], batch.get("lengths"))
            loss = model.task_loss(output, batch["targets"])
            total += loss.item() * batch["targets"].shape[0]
            count += batch["targets"].shape[0]
        return total / max(count, 1)
