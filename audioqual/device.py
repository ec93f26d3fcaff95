"""Device selection shared by feature extraction, training, scoring and analyses."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device | None) -> torch.device:
    """ "auto" (or nothing) -> CUDA when available, else CPU; anything else as torch names it."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
