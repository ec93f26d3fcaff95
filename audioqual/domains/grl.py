"""Gradient reversal layer (Ganin & Lempitsky, 2015).

Identity in the forward pass; in the backward pass the incoming gradient is
multiplied by -scale. Placed between the shared representation h and a domain
classifier, it lets the classifier learn to recognise the domain while the
encoder below receives the opposite gradient and learns to hide it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class _ScaleGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad_output * ctx.scale, None


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """x unchanged forward; gradient multiplied by `scale` backward (fairseq's GradMultiply)."""
    return _ScaleGradient.apply(x, float(scale))


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """x unchanged forward; gradient multiplied by -scale backward."""
    return scale_gradient(x, -float(scale))


class GradientReversal(nn.Module):
    """Module form of `reverse_gradient` with a settable `scale` (lambda)."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        if scale < 0:
            raise ValueError(f"gradient reversal scale must be >= 0, got {scale}")
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
