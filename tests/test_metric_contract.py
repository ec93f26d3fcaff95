"""One contract for every registered metric, as torchmetrics' MetricTester checks every metric the same way.

For each registry entry: its class states the category (VERSA's classification) the registry lists;
a heavily noised test scores worse than a slightly noised one in the direction `higher_is_better`
says; the same audio given at another sample rate scores the same (it is resampled to the metric's
rate) or is refused, naming the rate, never misread; a pickled copy, as a Ray actor or worker
process gets, scores as the original does; and `update`/`compute` return what direct calls
return. A distributional metric (FAD) keeps the contract over sets of files, per-song FAD being
its direct call; it runs in one process, so it is not pickled.

The signals are made at 16 kHz and resampled to each rate, so every rate carries the same audio.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

import numpy as np
import pytest
from conftest import speech_like, with_noise

from audioqual.errors import AudioqualError
from audioqual.io import resample
from audioqual.metrics import registry
from audioqual.metrics.base import MetricCategory, MetricInfo
from audioqual.metrics.registry import MetricSpec, MetricUnavailableError

SECONDS = 1.5
LONGER_SECONDS = {"embedding-distance": 3.0}  # its default encoder (musicnn) needs about 3 s
DIRECTION_NOT_CHECKED_HERE = {
    "distillmos": "a speech-MOS network trained on recorded speech rates the synthetic speech-like signal (and espeak "
                  "speech) as non-speech, noise or not; its outputs are checked against the original package's in "
                  "tests/golden and its direction on real speech in tests/test_default_nr_model.py",
}
SOURCE_RATE = 16000
SLIGHT_SNR, HEAVY_SNR = 60.0, 20.0  # dB: every metric tells these apart
RATE_TOLERANCE = 0.25  # a score at another input rate stays within this share of the slight-heavy gap


def _signals(rate: int, seed: int = 0, seconds: float = SECONDS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reference, slightly noised, heavily noised), each (1, frames) at `rate`."""
    reference = speech_like(seconds, SOURCE_RATE, seed)[None]
    signals = (reference, with_noise(reference, SLIGHT_SNR, seed + 1), with_noise(reference, HEAVY_SNR, seed + 1))
    return tuple(resample(signal, SOURCE_RATE, rate) for signal in signals)


def _other_rate(rate: int) -> int:
    return 32000 if rate == 44100 else 44100


@pytest.mark.parametrize("name", list(registry.registered()))
def test_registered_metric_keeps_the_contract(name: str, tmp_path: Path) -> None:
    spec = registry.registered()[name]
    if spec.category is MetricCategory.DISTRIBUTIONAL:
        _check_set_metric(spec, tmp_path)
    else:
        _check_pair_metric(spec)


def _check_pair_metric(spec: MetricSpec) -> None:
    try:
        metric = registry.create(spec.name)
        metric.ensure_ready()
    except (MetricUnavailableError, AudioqualError) as err:
        pytest.skip(f"{spec.name} cannot run here: {err}")
    info = metric.info
    _check_category(spec, info)
    rate = info.sample_rate or 48000
    seconds = LONGER_SECONDS.get(spec.name, SECONDS)
    reference, slight, heavy = _signals(rate, seconds=seconds)
    if not info.requires_reference:
        reference = None  # as batch runs call an independent metric
    slight_score = metric.update(reference, slight, rate)[info.name]
    heavy_score = metric.update(reference, heavy, rate)[info.name]
    if spec.name not in DIRECTION_NOT_CHECKED_HERE:
        assert slight_score != heavy_score and (slight_score > heavy_score) == info.higher_is_better, (
            f"{spec.name}: {slight_score} at {SLIGHT_SNR} dB SNR, {heavy_score} at {HEAVY_SNR} dB"
        )
    np.testing.assert_allclose(metric.compute()[info.name], [slight_score, heavy_score])

    copy = pickle.loads(pickle.dumps(metric))
    assert copy.score_pair(reference, slight, rate)[info.name] == pytest.approx(slight_score, rel=1e-5, abs=1e-7)

    other = _other_rate(rate)
    other_reference, other_slight, _ = _signals(other, seconds=seconds)
    try:
        at_other_rate = metric.score_pair(other_reference if reference is not None else None, other_slight, other)
    except AudioqualError as err:  # refusing another rate is honest too, if it says which
        assert str(other) in str(err)
        return
    assert abs(at_other_rate[info.name] - slight_score) <= RATE_TOLERANCE * abs(slight_score - heavy_score)


def _check_category(spec: MetricSpec, info: MetricInfo) -> None:
    assert info.category is spec.category, f"{spec.name}: the registry says {spec.category}, the class {info.category}"
    assert info.requires_reference == spec.requires_reference


def _check_set_metric(spec: MetricSpec, tmp_path: Path) -> None:
    """FAD on a tiny random backbone with sets of three files."""
    from audioqual.backbones.tiny import tiny_backbone
    from audioqual.data.manifest import ManifestEntry
    from audioqual.features import FeatureCache
    from audioqual.io import save_audio

    module, _, attribute = spec.target.partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    _check_category(spec, cls.info)
    backbone = tiny_backbone("hubert")
    metric = cls(backbone, cache=FeatureCache(tmp_path / "cache"))

    def write_set(kind: str, rate: int) -> list[ManifestEntry]:
        entries = []
        for seed in range(3):
            signals = dict(zip(("reference", "slight", "heavy"), _signals(rate, seed)))
            path = save_audio(tmp_path / f"{kind}_{rate}_{seed}.wav", signals[kind][0], rate, subtype="FLOAT")
            entries.append(ManifestEntry(path=str(path)))
        return entries

    rate = backbone.sample_rate
    references, slight, heavy = (write_set(kind, rate) for kind in ("reference", "slight", "heavy"))
    slight_fad, heavy_fad = metric.compute(slight, references), metric.compute(heavy, references)
    assert slight_fad != heavy_fad and (slight_fad > heavy_fad) == cls.info.higher_is_better
    per_song = metric.per_song(heavy, references)
    assert per_song[heavy[0].item_id] == pytest.approx(metric.compute(heavy[:1], references), rel=1e-9)

    at_other_rate = metric.compute(write_set("slight", _other_rate(rate)), references)
    assert abs(at_other_rate - slight_fad) <= RATE_TOLERANCE * abs(slight_fad - heavy_fad)
