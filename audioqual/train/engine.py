"""The one training engine: launch, devices, precision, seeding and resumable checkpoints for every loop.

Each recipe keeps its own loop body (the no-reference heads: train/trainer.py;
DeePAQ: deepaq/training.py; the v1 front end: models/frontend.py) and asks
the engine for what they share:

- one launch story: a plain process, or the same command under torchrun for
  several GPUs or nodes; with WORLD_SIZE > 1 the engine joins the process
  group (NCCL on GPUs, Gloo on CPUs), `wrap` puts the model in
  DistributedDataParallel, `shard` gives each rank its part of the data, and
  only rank 0 writes;
- seeding of python, numpy and torch, and the full RNG state (CUDA included)
  stored with every checkpoint and restored on resume;
- `checkpoint.pt` in the output folder, written atomically after each unit of
  work and tagged with a fingerprint of what the run depends on: rerunning the
  same command resumes from it (a killed run ends with the weights of an
  uninterrupted one), and a checkpoint of another configuration is refused;
- mixed precision: bf16 or fp16 autocast, fp16 with a gradient scaler.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler

from audioqual.device import resolve_device
from audioqual.errors import AudioqualError

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "checkpoint.pt"
PRECISIONS = {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class DistributedContext:
    """This process's place in a torchrun launch (rank 0 of 1 without one)."""

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


def rng_state() -> dict[str, Any]:
    """The python, numpy, torch and (when present) CUDA generator states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Engine:
    """Devices, process group, precision and the checkpoint of one training run in `output_dir`."""

    def __init__(
        self,
        output_dir: str | Path,
        *,
        fingerprint: str = "",
        seed: int = 0,
        device: str | None = "auto",
        mixed_precision: str = "no",
    ):
        if mixed_precision not in PRECISIONS:
            raise AudioqualError(f"mixed_precision must be one of {sorted(PRECISIONS)}, got {mixed_precision!r}")
        self.output_dir = Path(output_dir)
        self.fingerprint = fingerprint
        self.seed = seed
        self.context = distributed_context()
        if self.context.world_size > 1 and torch.cuda.is_available():
            self.device = torch.device("cuda", self.context.local_rank)
        else:
            self.device = resolve_device(device)
        self.precision = PRECISIONS[mixed_precision]
        use_scaler = self.precision is torch.float16 and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None

    @property
    def is_main(self) -> bool:
        return self.context.is_main

    @property
    def checkpoint_path(self) -> Path:
        return self.output_dir / CHECKPOINT_FILE

    def seed_everything(self) -> None:
        """Seed every generator with the run's seed."""
        seed_everything(self.seed)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model to train: in DistributedDataParallel under torchrun, else itself."""
        if self.context.world_size == 1:
            return model
        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def shard(self, dataset: Dataset, epoch: int) -> DistributedSampler | None:
        """This rank's shuffled part of `dataset` for `epoch` under torchrun; None in a single process."""
        if self.context.world_size == 1:
            return None
        sampler = DistributedSampler(dataset, self.context.world_size, self.context.rank, shuffle=True, seed=self.seed)
        sampler.set_epoch(epoch)
        return sampler

    def per_rank(self, batch_size: int) -> int:
        """Each rank's share of a global batch size."""
        return max(batch_size // self.context.world_size, 1)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision autocast as configured (nothing for full precision)."""
        if self.precision is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.precision)

    def step(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        parameters: Iterable[torch.nn.Parameter],
        max_norm: float | None = None,
    ) -> None:
        """Zero the gradients, back-propagate `loss`, clip the gradient norm to `max_norm`, step the optimiser."""
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            if max_norm:
                torch.nn.utils.clip_grad_norm_(parameters, max_norm)
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        if max_norm:
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        self.scaler.step(optimizer)
        self.scaler.update()

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The batch's tensors (and dicts of tensors) on the engine's device."""
        moved: dict[str, Any] = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                moved[key] = value.to(self.device, non_blocking=True)
            elif isinstance(value, dict):
                moved[key] = {k: v.to(self.device) for k, v in value.items()}
            else:
                moved[key] = value
        return moved

    def resume(self) -> dict[str, Any] | None:
        """The run's last checkpoint with the RNG states restored from it, or None when there is none yet."""
        if not self.checkpoint_path.exists():
            return None
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
        set_rng_state(state["rng"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        return state

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Write `state` with the fingerprint and RNG states atomically (rank 0), then wait for every rank."""
        if self.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            full = {**state, "fingerprint": self.fingerprint, "rng": rng_state()}
            if self.scaler is not None:
                full["scaler"] = self.scaler.state_dict()
            tmp = self.checkpoint_path.with_name(f".{CHECKPOINT_FILE}.tmp-{os.getpid()}")
            torch.save(full, tmp)
            os.replace(tmp, self.checkpoint_path)
        self.barrier()

    def barrier(self) -> None:
        """Wait for every rank (nothing to wait for in a single process)."""
        if self.context.world_size > 1:
            dist.barrier()

