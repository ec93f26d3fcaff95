"""What a renderer returns, and the level/trim finishing every rendered file gets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioqual.errors import AudioqualError

PEAK_DBFS = -1.0
SILENCE_RELATIVE = 1e-3  # leading/trailing audio below this fraction of the peak is trimmed


@dataclass(frozen=True)
class RenderedItem:
    """One rendered clean file and what it is."""

    path: Path
    kind: str  # "music" or "speech"
    title: str
    details: dict
    seconds: float

    def manifest_row(self) -> dict:
        """Row for the clean-audio manifest."""
        return {"path": str(self.path), "id": self.path.stem, "kind": self.kind, "title": self.title,
                "seconds": round(self.seconds, 3), **self.details}  # fmt: skip


def finish(audio: np.ndarray, rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Trim leading/trailing near-silence, cut to max_seconds; end with a 50 ms fade-out, peak to -1 dBFS."""
    level = np.abs(audio).max(axis=0)
    peak = float(level.max()) if level.size else 0.0
    if peak <= 0:
        raise AudioqualError("rendering produced silence")
    loud = np.flatnonzero(level > SILENCE_RELATIVE * peak)
    audio = audio[:, loud[0] : loud[-1] + 1]
    if max_seconds is not None:
        audio = audio[:, : int(max_seconds * rate)]
    fade = min(audio.shape[1], int(0.05 * rate))
    audio[:, audio.shape[1] - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return audio * np.float32(10 ** (PEAK_DBFS / 20) / np.abs(audio).max())
