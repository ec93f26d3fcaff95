"""Cubic polynomial mapping of raw predictions onto the subjective scale.

Seed 003 maps embedding distances to MOS/MUSHRA with y = a*x + b*x^2 + c*x^3 + d
fitted by least squares before computing PCC. The fit is done on the
stimuli being evaluated (in-sample, as in ITU-T P.1401 practice); inputs are
standardised first so the normal equations stay well conditioned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audioqual.errors import AudioqualError

CUBIC_MIN_POINTS = 5
"""A cubic has 4 parameters; fewer than 5 points would interpolate them exactly."""


@dataclass(frozen=True)
class CubicMapping:
    """y = d + a*z + b*z^2 + c*z^3 with z = (x - center) / scale."""

    coefficients: tuple[float, float, float, float]  # d, a, b, c (ascending powers of z)
    center: float
    scale: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.center) / self.scale
        d, a, b, c = self.coefficients
        return d + z * (a + z * (b + z * c))


def fitting_points(x: np.ndarray, y: np.ndarray, mapping: str, inputs: str) -> tuple[np.ndarray, np.ndarray]:
    """`x` and `y` as flat float64 arrays a least-squares mapping can be fitted to; errors name `mapping`, `inputs`."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise AudioqualError(f"{mapping} mapping: {x.size} {inputs} but {y.size} subjective scores")
    if x.size < CUBIC_MIN_POINTS:
        raise AudioqualError(f"{mapping} mapping needs at least {CUBIC_MIN_POINTS} points, got {x.size}")
    if x.std() == 0.0:
        raise AudioqualError(f"{mapping} mapping: {inputs} are constant")
    return x, y


def fit_cubic(x: np.ndarray, y: np.ndarray) -> CubicMapping:
    """Least-squares cubic from predictions `x` to subjective scores `y`."""
    x, y = fitting_points(x, y, "cubic", "predictions")
    center = float(x.mean())
    scale = float(x.std())
    z = (x - center) / scale
    design = np.stack([np.ones_like(z), z, z**2, z**3], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
    return CubicMapping(tuple(float(c) for c in coefficients), center, scale)
