"""The default full-reference model (the one `audioqual compare` uses without --model) as a PairMetric.

This class is the one place that builds it for the metric registry, the
suite runner and the Python API: `audioqual.deepaq.load_model()` and
`DeePAQScorer`. The pair is scored as `compare` scores it: downmixed,
resampled to the model's rate, trimmed to the shorter of the two, then
the embedding distance mapped to the model's subjective scale.
"""

from __future__ import annotations

import numpy as np

from audioqual.io import AudioLoadOptions, ChannelPolicy, prepare_samples
from audioqual.metrics.base import MetricInfo, PairMetric


class DefaultModelMetric(PairMetric):
    """Default model: headline "default_score" (its mapped scale), also "default_distance" and per-mapping scores.

    A model without a full-reference mapping has "default_distance" as its headline (lower is better).
    """

    def __init__(self, model: str | None = None, device: str | None = None) -> None:
        super().__init__()
        from audioqual.deepaq import load_model
        from audioqual.deepaq.scorer import DeePAQScorer

        self.scorer = DeePAQScorer(load_model(model), device=device)
        mapping = self.scorer.model.mapping
        mapped = mapping is not None and mapping.info.get("mode", "full") == "full"
        rate = self.scorer.sample_rate
        self.info = MetricInfo(
            name="default_score" if mapped else "default_distance",
            higher_is_better=mapped,
            sample_rate=rate,
            channels="downmix",
            min_seconds=self.scorer.minimum_samples / rate,
            valid_range=(f"{'score on the scale of its mapping' if mapped else 'embedding distance >= 0'}; "
                         f"inputs downmixed and resampled to {rate} Hz, trimmed to the shorter one"),
        )

    def score_pair(self, reference: np.ndarray, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        from audioqual.io.pair import LoadedAudio

        options = AudioLoadOptions(sample_rate=self.scorer.sample_rate, channels=ChannelPolicy.DOWNMIX)
        ref, _ = prepare_samples(reference, sample_rate, options, source="<reference>")
        tst, _ = prepare_samples(test, sample_rate, options, source="<test>")
        ref_audio, tst_audio = LoadedAudio("<reference>", ref[0], sample_rate), LoadedAudio("<test>", tst[0], sample_rate)
        ref_mono, tst_mono, _ = self.scorer.align(ref_audio, tst_audio)
        distance = float(np.linalg.norm(self.scorer.embed(tst_mono) - self.scorer.embed(ref_mono)))
        scores = {"default_distance": distance}
        scores.update({f"default_{key}": value for key, value in self.scorer.map_distance(distance, "full").items()})
        return scores
