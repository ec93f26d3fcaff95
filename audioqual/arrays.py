"""Small numpy helpers shared across the package (torch-free): matrix checks and the MultiGauss repeat-crop."""

from __future__ import annotations

import math

import numpy as np

from audioqual.errors import AudioqualError


def finite_rows(
    values: np.ndarray, what: str, min_rows: int, error: type[AudioqualError] = AudioqualError, dtype: type = np.float64
) -> np.ndarray:
    """`values` as a [N, D] array of finite numbers with N >= `min_rows`; otherwise `error` naming `what`."""
    data = np.asarray(values, dtype=dtype)
    if data.ndim != 2:
        raise error(f"{what} must have shape [N, D], got {data.shape}")
    if len(data) < min_rows:
        raise error(f"{what}: {len(data)} items, at least {min_rows} needed")
    if not np.isfinite(data).all():
        raise error(f"{what} contain NaN or infinity")
    return data


def repeat_crop(samples: np.ndarray, length: int) -> np.ndarray:
    """The clip repeated until it has `length` samples, then its first `length` (MultiGauss's crop)."""
    if samples.shape[-1] == 0:
        raise ValueError("cannot repeat an empty clip")
    repeats = math.ceil(length / samples.shape[-1])
    return np.tile(samples, repeats)[..., :length] if repeats > 1 else samples[..., :length]
