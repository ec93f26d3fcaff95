"""Cutting sources into fixed-length clips (4 s in seed 003)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClipSpan:
    """One clip of a source: [start, stop) in samples at the source's working rate."""

    index: int
    start: int
    stop: int

    @property
    def frames(self) -> int:
        """Length in samples."""
        return self.stop - self.start


def plan_clips(
    n_frames: int, rate: int, clip_seconds: float, hop_seconds: float | None = None, max_clips: int | None = None
) -> list[ClipSpan]:
    """Consecutive clips of `clip_seconds`, one every `hop_seconds`; a remainder shorter than a clip is dropped."""
    length = int(round(clip_seconds * rate))
    hop = int(round((hop_seconds or clip_seconds) * rate))
    if length <= 0 or hop <= 0:
        raise ValueError(f"clip length {length} and hop {hop} must be positive sample counts")
    starts = range(0, n_frames - length + 1, hop)
    spans = [ClipSpan(i, s, s + length) for i, s in enumerate(starts)]
    return spans if max_clips is None else spans[:max_clips]


def with_context(span: ClipSpan, n_frames: int, context: int) -> tuple[int, int]:
    """[start, stop) of the span widened by `context` samples each side, within the source."""
    return max(0, span.start - context), min(n_frames, span.stop + context)


def rms_db(samples: np.ndarray) -> float:
    """RMS level in dBFS (-inf for digital silence)."""
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    return 10.0 * np.log10(power) if power > 0 else float("-inf")
