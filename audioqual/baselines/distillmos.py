"""DistillMOS (Stahl and Gamper, ICASSP 2025) as a no-reference baseline metric.

The network is audioqual's port of the wheel's checkpoint
(`audioqual.backbones.encoders.distillmos`, checked against the original's
outputs in tests/golden); its `mos` layer is exactly the original's clip MOS
(1-5): crops of 7.68 s every <= 1 s, each normalised to its peak, averaged.
"""

from __future__ import annotations

import numpy as np

from audioqual.io import AudioLoadOptions, ChannelPolicy, prepare_samples
from audioqual.metrics.base import MetricCategory, MetricInfo, PairMetric

RATE = 16000


class DistillMOSMetric(PairMetric):
    """DistillMOS MOS of the test signal (no reference used)."""

    info = MetricInfo(name="distillmos", higher_is_better=True, sample_rate=RATE, channels=ChannelPolicy.DOWNMIX.value,
                      valid_range="MOS 1-5 (higher is better); speech at any rate, resampled to 16 kHz, downmixed; "
                                  "no-reference: the reference of a pair is ignored",
                      category=MetricCategory.INDEPENDENT)  # fmt: skip

    runtime_attributes = ("_encoder",)

    def __init__(self, num_threads: int | None = None) -> None:
        super().__init__()
        self.num_threads = num_threads
        self._encoder = None

    @property
    def encoder(self):
        if self._encoder is None:
            from audioqual.backbones.encoders.distillmos import DistillMOSEncoder

            self._encoder = DistillMOSEncoder.from_package()
        return self._encoder

    def ensure_ready(self) -> None:
        _ = self.encoder

    def score_pair(self, reference: np.ndarray | None, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        return self.score(test, sample_rate)

    def score(self, samples: np.ndarray, sample_rate: int, source: str = "<test>") -> dict[str, float]:
        """DistillMOS of one (channels, frames) or (frames,) signal at `sample_rate`."""
        import torch

        options = AudioLoadOptions(sample_rate=RATE, channels=ChannelPolicy.DOWNMIX, allow_silence=True)
        mono, _ = prepare_samples(samples, sample_rate, options, source=source)
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        with torch.no_grad():
            states = self.encoder.layer_states(torch.from_numpy(np.ascontiguousarray(mono[:1], dtype=np.float32)))
        return {"distillmos": float(states[-1].reshape(-1)[0])}
