"""The shipped no-reference default model (the one `audioqual score` uses without --model) as a metric.

Its headline is `default_nr_overall` (1-5, higher is better); the aspect means and standard
deviations come along as `default_nr_<aspect>` and `default_nr_<aspect>_std`. What each output
was trained on is in docs/model_card_default_nr.md (surrogates, not listener ratings).
"""

from __future__ import annotations

import numpy as np

from audioqual.io import AudioLoadOptions, ChannelPolicy, prepare_samples
from audioqual.metrics.base import MetricCategory, MetricInfo, PairMetric


class DefaultNRMetric(PairMetric):
    """The exported default no-reference model scoring the test signal (no reference used)."""

    runtime_attributes = ("_model",)

    def __init__(self, model: str | None = None, num_threads: int = 1) -> None:
        super().__init__()
        from audioqual.nr.exported import ExportedNRModel
        from audioqual.nr.shipped import default_nr_dir

        self.model_dir = model or str(default_nr_dir())
        self.num_threads = num_threads
        self._model = ExportedNRModel(self.model_dir, num_threads=num_threads)  # reads export.json; the session opens later
        rate = self._model.sample_rate
        self.info = MetricInfo(
            name="default_nr_overall", higher_is_better=True, sample_rate=rate, channels="downmix",
            min_seconds=int(self._model.config["minimum_samples"]) / rate, category=MetricCategory.INDEPENDENT,
            valid_range="overall 1-5 (higher is better) and aspects PQ/PC/CE/CU 1-10 with standard deviations; any "
                        "audio, resampled to 16 kHz mono, repeat-cropped to its first 8 s",
        )  # fmt: skip

    @property
    def model(self):
        if self._model is None:
            from audioqual.nr.exported import ExportedNRModel

            self._model = ExportedNRModel(self.model_dir, num_threads=self.num_threads)
        return self._model

    def ensure_ready(self) -> None:
        _ = self.model.session

    def score_pair(self, reference: np.ndarray | None, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        options = AudioLoadOptions(sample_rate=self.model.sample_rate, channels=ChannelPolicy.DOWNMIX)
        mono, _ = prepare_samples(test, sample_rate, options, source="<test>")
        row = self.model.score_samples(mono)
        return {"default_nr_overall": row.pop("overall"), **{f"default_nr_{key}": value for key, value in row.items()}}
