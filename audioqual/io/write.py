"""Writing audio files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def save_audio(path: str | Path, samples: np.ndarray, sample_rate: int, subtype: str | None = None) -> Path:
    """Write (channels, frames) or (frames,) samples; format follows the suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(samples)
    data = data.T if data.ndim == 2 else data
    sf.write(str(path), data, sample_rate, subtype=subtype)
    return path
