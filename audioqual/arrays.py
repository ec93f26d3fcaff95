"""Checks of the numeric matrices that analyses and domain strategies take as input."""

from __future__ import annotations

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
