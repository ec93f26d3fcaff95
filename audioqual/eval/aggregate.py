"""System (condition) level aggregation: average predictions and scores per system first.

Seed 000 (following the AudioMOS challenge protocol) computes system-level
statistics by averaging predictions and subjective scores over all stimuli
of the same system, then correlating the averages.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from audioqual.errors import AudioqualError


def group_indices(labels: Sequence[Hashable]) -> tuple[list[Hashable], np.ndarray]:
    """Distinct labels (in order of first appearance) and each item's group index."""
    index: dict[Hashable, int] = {}
    inverse = np.empty(len(labels), dtype=np.int64)
    for i, label in enumerate(labels):
        inverse[i] = index.setdefault(label, len(index))
    return list(index), inverse


def group_means(values: np.ndarray, inverse: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of `values` within each group (groups given by `inverse`)."""
    values = np.asarray(values, dtype=np.float64)
    counts = np.bincount(inverse, minlength=n_groups)
    if (counts == 0).any():
        raise AudioqualError("every group needs at least one item")
    return np.bincount(inverse, weights=values, minlength=n_groups) / counts


def system_level(
    predictions: np.ndarray, targets: np.ndarray, systems: Sequence[Hashable]
) -> tuple[np.ndarray, np.ndarray, list[Hashable]]:
    """Per-system mean prediction, mean subjective score, and the system labels."""
    predictions = np.asarray(predictions, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if not (len(predictions) == len(targets) == len(systems)):
        raise AudioqualError(
            f"system_level: {len(predictions)} predictions, {len(targets)} scores, {len(systems)} system labels"
        )
    labels, inverse = group_indices(systems)
    return group_means(predictions, inverse, len(labels)), group_means(targets, inverse, len(labels)), labels
