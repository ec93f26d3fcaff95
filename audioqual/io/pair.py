"""A reference/test pair as a full-reference model sees it: decoded, at the model's rate, checked, matched.

Shared by every full-reference scorer (DeePAQ, the NSIM-fusion default):
decoding a file or its segment to mono at the model's rate, refusing clips
shorter than the model needs (naming the file), and trimming the longer of
two signals with a note saying so. `Score` is the row they all return.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audioqual.errors import AudioInputError
from audioqual.io import AudioLoadOptions, load_audio, resample

log = logging.getLogger(__name__)


@dataclass
class LoadedAudio:
    """Mono samples at the model's rate, and the file's own rate."""

    path: str
    samples: np.ndarray  # [T] float32
    original_rate: int


@dataclass
class Score:
    """One scored test signal: the distance, mapped scores, and any input adjustment made."""

    distance: float
    scores: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def row(self) -> dict:
        """Flat output columns: distance, score (default mapping), score_<kind>, warning."""
        row: dict = {"distance": self.distance, **self.scores}
        row["warning"] = "; ".join(self.warnings)
        return row


class PairLoader:
    """Decoding, length checks and trimming for a model at `sample_rate` needing `minimum_samples`."""

    sample_rate: int
    minimum_samples: int
    non_matching_reference = False  # True where compare_to_set scores against a set of other recordings
    load_options = AudioLoadOptions(sample_rate=None, channels="downmix")

    def load(self, path: str | Path, start_time: float | None = None, end_time: float | None = None) -> LoadedAudio:
        """Decode a file (or its segment) to mono at the model's rate (raises AudioInputError naming the file)."""
        samples, rate = load_audio(path, self.load_options, start_time, end_time)
        samples = resample(samples, rate, self.sample_rate)[0]
        return LoadedAudio(str(path), np.ascontiguousarray(samples, dtype=np.float32), rate)

    def check_length(self, samples: np.ndarray, path: str | Path) -> np.ndarray:
        """The samples, or AudioInputError naming the file when shorter than the model's receptive field."""
        if samples.shape[0] < self.minimum_samples:
            raise AudioInputError(
                path, f"too short: {samples.shape[0] / self.sample_rate * 1000:.1f} ms ({samples.shape[0]} samples at "
                f"{self.sample_rate} Hz); the model needs at least {self.minimum_samples / self.sample_rate * 1000:.1f} ms"
            )
        return samples

    def align(self, reference: LoadedAudio, test: LoadedAudio) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Reference and test samples of equal length (the shorter one's), with notes on what was changed."""
        warnings: list[str] = []
        self.check_length(reference.samples, reference.path)  # before trimming: the error names the short file
        self.check_length(test.samples, test.path)
        if reference.original_rate != test.original_rate:
            warnings.append(
                f"reference is {reference.original_rate} Hz and test {test.original_rate} Hz: "
                f"both resampled to {self.sample_rate} Hz"
            )
        ref, tst = reference.samples, test.samples
        if ref.shape[0] != tst.shape[0]:
            length = min(ref.shape[0], tst.shape[0])
            warnings.append(
                f"reference is {ref.shape[0] / self.sample_rate:.3f} s and test {tst.shape[0] / self.sample_rate:.3f} s "
                f"long: both trimmed to {length / self.sample_rate:.3f} s"
            )
            ref, tst = ref[:length], tst[:length]
        for message in warnings:
            log.warning("%s vs %s: %s", test.path, reference.path, message)
        ref = self.check_length(ref, reference.path)
        tst = self.check_length(tst, test.path)
        return ref, tst, warnings
