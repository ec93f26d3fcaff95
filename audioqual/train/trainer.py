"""A small, resumable training loop for models that return (prediction, h, domain logits).

Plain torch: AdamW, gradient clipping, best state by validation task loss,
and a checkpoint after every epoch (model, optimiser, RNG states, history)
written atomically, so a killed run resumes where it stopped and ends with
exactly the weights an uninterrupted run would have. Shuffling uses a
generator seeded by (seed, epoch), which keeps resumed runs identical.

Multi-GPU / multi-node: launch with torchrun; with WORLD_SIZE > 1 the loop
joins the process group (NCCL on GPUs, Gloo on CPUs), wraps the model in
DistributedDataParallel and shards batches with DistributedSampler (the
configured batch size is the global one). Rank 0 validates and writes.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler
from tqdm.auto import tqdm

from audioqual.device import resolve_device
from audioqual.errors import AudioqualError
from audioqual.train.config import OptimConfig

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "checkpoint.pt"


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


@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_context() -> DistributedContext:
    """Join the torchrun process group when WORLD_SIZE > 1."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return DistributedContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
        self.fingerprint = fingerprint
        self.collate_fn = collate_fn
        self.progress = progress
        self.context = distributed_context()
        if self.context.world_size > 1 and torch.cuda.is_available():
            self.device = torch.device("cuda", self.context.local_rank)
        else:
            self.device = resolve_device(optim.device)

    @property
    def checkpoint_path(self) -> Path:
        return self.output_dir / CHECKPOINT_FILE

    def fit(self, stop_after_epoch: int | None = None) -> TrainResult:
        """Train for optim.epochs (resuming from a checkpoint if one exists); best state loaded at the end.

        `stop_after_epoch` ends the run early after that epoch, as an interruption would.
        """
        if len(self.train_set) == 0:
            raise AudioqualError("the training set is empty")
        seed_everything(self.seed)
        model = self.model.to(self.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.optim.lr, weight_decay=self.optim.weight_decay)
        start_epoch, history = 1, []
        best_loss, best_epoch, best_state = math.inf, 0, None
        resumed = None
        if self.checkpoint_path.exists():
            state = self._load_checkpoint()
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_epoch, history = state["epoch"] + 1, [EpochRecord(**r) for r in state["history"]]
            best_loss, best_epoch, best_state = state["best_loss"], state["best_epoch"], state["best_state"]
            _set_rng_state(state["rng"])
            resumed = state["epoch"]
            log.info("resuming %s after epoch %d", self.output_dir, resumed)

        trained = model
        if self.context.world_size > 1:
            trained = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
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
            if self.context.is_main:
                self._save_checkpoint(model, optimizer, epoch, history, best_loss, best_epoch, best_state)
            if self.context.world_size > 1:
                dist.barrier()
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
        per_rank = max(self.optim.batch_size // self.context.world_size, 1)
        if shuffle and self.context.world_size > 1:
            sampler = DistributedSampler(
                dataset, self.context.world_size, self.context.rank, shuffle=True, seed=self.seed
            )
            sampler.set_epoch(epoch)
        elif shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1000003 + epoch)
            sampler = RandomSampler(dataset, generator=generator)
        else:
            sampler = None
        return DataLoader(
            dataset,
            batch_size=per_rank if shuffle else self.optim.batch_size,
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
            batch = _to_device(batch, self.device)
            output = trained(batch["inputs"], batch.get("lengths"))
            losses = model.losses(output, batch["targets"], batch.get("domains"))
            if not torch.isfinite(losses.total):
                raise AudioqualError(f"training diverged at epoch {epoch}: loss is {losses.total.item()}")
            optimizer.zero_grad(set_to_none=True)
            losses.total.backward()
            if self.optim.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), self.optim.grad_clip)
            optimizer.step()
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
            batch = _to_device(batch, self.device)
            output = model(batch["inputs"], batch.get("lengths"))
            loss = model.task_loss(output, batch["targets"])
            total += loss.item() * batch["targets"].shape[0]
            count += batch["targets"].shape[0]
        return total / max(count, 1)

    def _save_checkpoint(self, model, optimizer, epoch, history, best_loss, best_epoch, best_state) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "fingerprint": self.fingerprint,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "history": [r.__dict__ for r in history],
            "best_loss": best_loss,
            "best_epoch": best_epoch,
            "best_state": best_state,
            "rng": _rng_state(),
        }
        tmp = self.checkpoint_path.with_name(f".{CHECKPOINT_FILE}.tmp-{os.getpid()}")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    def _load_checkpoint(self) -> dict[str, Any]:
        try:
            state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        except (OSError, RuntimeError, EOFError) as err:
            raise AudioqualError(
                f"{self.checkpoint_path}: cannot read checkpoint ({err}); delete it to start over"
            ) from err
        if state.get("fingerprint") != self.fingerprint:
            raise AudioqualError(
                f"{self.checkpoint_path}: checkpoint belongs to a different configuration or data; "
                "use another output_dir or delete it to start over"
            )
        return state


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    moved: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            moved[key] = value.to(device, non_blocking=True)
        elif isinstance(value, dict):
            moved[key] = {k: v.to(device) for k, v in value.items()}
        else:
            moved[key] = value
    return moved


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
