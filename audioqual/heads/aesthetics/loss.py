"""Task loss of the aesthetics model: MAE + MSE on normalised targets.

Audiobox-Aesthetics (Tjandra et al., 2025) trains each axis by regression on
z-scored targets with MAE and MSE losses; its training code is not public, so
the combination below (unweighted sum, summed over aspects) is our reading.
Per aspect a with target normalisation (mean_a, std_a):

    e_a = (prediction_a - target_a) / std_a          (= z-prediction - z-target)
    L   = mean over the batch of  sum_a ( |e_a| + e_a^2 )

Summing over aspects trains every per-aspect head as with its own loss.
"""

from __future__ import annotations

import torch


def mae_mse_loss(prediction: torch.Tensor, target: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """sum over aspects of |e| + e^2, averaged over the batch; e = (prediction - target) / std, all [B, k]."""
    if prediction.shape != target.shape or prediction.dim() != 2:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must both be [B, k]")
    error = (prediction.float() - target.float()) / std.float()
    return (error.abs() + error.pow(2)).sum(dim=1).mean()
