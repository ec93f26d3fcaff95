"""The default full-reference model (the one `audioqual compare` uses without --model) as a PairMetric.

This class is the one place that builds it for the metric registry, the
suite runner and the Python API, through `audioqual.models.registry`. The
pair is scored as `compare` scores it: downmixed and resampled to the model's
rate, then the model's own comparison (NSIM fusion: patch alignment; DeePAQ:
trimmed to the shorter signal, embedding distance mapped to its scale).
"""

from __future__ import annotations

import numpy as np

from audioqual.io import AudioLoadOptions, ChannelPolicy, prepare_samples
from audioqual.metrics.base import MetricInfo, PairMetric


class DefaultModelMetric(PairMetric):
    """Default model: headline "default_score" (its rating scale), also "default_distance" and its other outputs.

    A DeePAQ model without a full-reference mapping has "default_distance" as its headline (lower is better).
    """

    def __init__(self, model: str | None = None, device: str | None = None) -> None:
        super().__init__()
        from audioqual.models.registry import load_fr_scorer

        self.scorer = load_fr_scorer(model, device=device)
        mapped = True  # an NSIM-fusion model always outputs its score
        if self.scorer.non_matching_reference:  # DeePAQ: a score only where a full-reference mapping was fitted
            mapping = self.scorer.model.mapping
            mapped = mapping is not None and mapping.info.get("mode", "full") == "full"
        rate = self.scorer.sample_rate
        self.info = MetricInfo(
            name="default_score" if mapped else "default_distance",
            higher_is_better=mapped,
            sample_rate=rate,
            channels="downmix",
            min_seconds=self.scorer.minimum_samples / rate,
            valid_range=(f"{'score on the model rating scale' if mapped else 'embedding distance >= 0'}; "
                         f"inputs downmixed and resampled to {rate} Hz"),
        )

    def score_pair(self, reference: np.ndarray, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        from audioqual.io.pair import LoadedAudio

        options = AudioLoadOptions(sample_rate=self.scorer.sample_rate, channels=ChannelPolicy.DOWNMIX)
        ref, _ = prepare_samples(reference, sample_rate, options, source="<reference>")
        tst, _ = prepare_samples(test, sample_rate, options, source="<test>")
        score = self.scorer.compare_loaded(LoadedAudio("<reference>", ref[0], sample_rate),
                                           LoadedAudio("<test>", tst[0], sample_rate))
        outputs = {"default_distance": score.distance}
        outputs.update({f"default_{key}": value for key, value in score.scores.items()})
        return outputs
