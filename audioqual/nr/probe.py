"""Linear probing of the bottleneck h: how much domain identity it still carries.

The paper (Table II) fits a linear classifier on h and reports its domain
accuracy: lower means DAT removed more of the source signature. Here: a
standardised multinomial logistic regression, accuracy by stratified k-fold
cross-validation on the given items.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from audioqual.errors import AudioqualError


@torch.no_grad()
def bottleneck(model: torch.nn.Module, dataset: Dataset, batch_size: int = 64, collate_fn=None) -> np.ndarray:
    """h of every item of `dataset` [N, H] (model in eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    rows = []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn):
        lengths = batch.get("lengths")
        out = model(batch["inputs"].to(device), None if lengths is None else lengths.to(device))
        rows.append(out.h.float().cpu().numpy())
    return np.concatenate(rows)


def linear_probe_accuracy(features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of a linear classifier predicting `labels` from `features`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels)
    _, counts = np.unique(labels, return_counts=True)
    if len(counts) < 2:
        raise AudioqualError("linear probing needs at least two classes")
    folds = min(folds, int(counts.min()))
    if folds < 2:
        raise AudioqualError("every class needs at least two items for cross-validated probing")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(probe, np.asarray(features, dtype=np.float64), labels, cv=splitter).mean())
