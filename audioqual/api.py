"""The Python API: `import audioqual as aq`, then `aq.compare`, `aq.score`, `aq.metric`, `aq.load_model`.

Inputs are file paths or arrays (samples as (frames,) or (channels, frames),
with `sample_rate=`); results are plain dataclasses. Files and arrays go
through the same loading and checks as the commands, so a file scored here
gets the value `audioqual compare` / `audioqual metric` write.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from audioqual.errors import AudioqualError, ModelLoadError
from audioqual.metrics.base import PairMetric
from audioqual.metrics.pairs import Pair, PairAudio, score_one

Audio = Union[str, os.PathLike, np.ndarray]
"""A file path, or samples (frames,) / (channels, frames) given with `sample_rate=`."""



@dataclass(frozen=True)
class MetricResult:
    """One metric's result for a pair: its headline value and every output."""

    name: str  # the headline output, e.g. "peaq_odg"
    value: float
    higher_is_better: bool
    outputs: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Comparison:
    """Full-reference result: embedding distance (larger = more degraded) and its mapped score(s)."""

    distance: float
    score: float | None  # on the scale of the model's mapping; None when it has none
    scores: dict[str, float] = field(default_factory=dict)  # every mapping: "score_cubic", ...


@dataclass(frozen=True)
class NRScore:
    """No-reference result: per-aspect mean opinion score and its standard deviation (None for point heads)."""

    aspects: dict[str, float]
    std: dict[str, float | None]


class Metric:
    """A ready metric: call it on (reference, test) paths or arrays."""

    def __init__(self, metric: PairMetric):
        self.metric = metric
        self.info = metric.info

    def __call__(self, reference: Audio | None, test: Audio, sample_rate: int | None = None) -> MetricResult:
        """Score `test` against `reference` (None for a no-reference metric)."""
        outputs = _score(self.metric, reference, test, sample_rate)
        return MetricResult(self.info.name, outputs[self.info.name], self.info.higher_is_better, outputs)


def metric(name: str, **options: Any) -> Metric:
    """A registered metric (`audioqual metric --list`) or `module:Class`, built with its options."""
    from audioqual.metrics.registry import create

    built = create(name, **options)
    built.ensure_ready()
    return Metric(built)


class FullReferenceModel:
    """A loaded full-reference model (the default one, or a DeePAQ model directory)."""

    def __init__(self, model: str | Path | None = None, device: str | None = None):
        from audioqual.metrics.default_model import DefaultModelMetric

        self.metric = DefaultModelMetric(None if model is None else str(model), device=device)

    def compare(self, reference: Audio, test: Audio, sample_rate: int | None = None) -> Comparison:
        """Score `test` against `reference` as `audioqual compare` does."""
        outputs = {key.removeprefix("default_"): value
                   for key, value in _score(self.metric, reference, test, sample_rate).items()}
        distance = outputs.pop("distance")
        return Comparison(distance, outputs.get("score"), outputs)


class NoReferenceModel:
    """A loaded no-reference model: the shipped default (None), an exported model or a `train nr` directory."""

    def __init__(self, model: str | Path | None = None, device: str = "auto"):
        from audioqual.nr.exported import ExportedNRModel, is_exported
        from audioqual.nr.shipped import default_nr_dir

        directory = default_nr_dir() if model is None else Path(model)
        if is_exported(directory):
            self.scorer = ExportedNRModel(directory)  # numpy + onnxruntime: no torch
        else:
            from audioqual.nr.scoring import Scorer, load_scorer

            self.scorer = Scorer(load_scorer(directory), device=device, progress=False)

    def score(self, audio: Audio, sample_rate: int | None = None) -> NRScore:
        """Per-aspect MOS of one file or array."""
        from audioqual.data.manifest import ManifestEntry
        from audioqual.io import save_audio

        with tempfile.TemporaryDirectory() as tmp:
            path = audio
            if isinstance(audio, np.ndarray):
                path = save_audio(Path(tmp) / "input.wav", np.atleast_2d(audio).astype(np.float32),
                                  _rate(sample_rate), subtype="FLOAT")
            entry = ManifestEntry(str(path))
            failures = self.scorer.prepare([entry])
            if failures:
                raise AudioqualError(next(iter(failures.values())))
            row = self.scorer.score_one(entry)
        aspects = [key for key in row if not key.endswith("_std")]
        return NRScore({a: row[a] for a in aspects}, {a: row.get(f"{a}_std") for a in aspects})


_LOADED: dict[tuple, FullReferenceModel | NoReferenceModel] = {}


def load_model(name_or_dir: str | Path | None = "default", device: str | None = None
               ) -> FullReferenceModel | NoReferenceModel:
    """A model name ("default" or None: the default full-reference model; "default-v1") or a model directory
    (NSIM fusion, DeePAQ or no-reference).

    Models are kept loaded: a second call with the same arguments returns the same object.
    """
    from audioqual.models.registry import NAMED_MODELS

    key = (None if name_or_dir in (None, "default") else str(name_or_dir), device)
    if key not in _LOADED:
        directory = None if key[0] is None or key[0] in NAMED_MODELS else Path(key[0])
        if directory is None or any((directory / name).is_file() for name in ("deepaq.json", "fusion.json")):
            _LOADED[key] = FullReferenceModel(key[0], device)
        elif (directory / "config.json").is_file() or (directory / "export.json").is_file():
            _LOADED[key] = NoReferenceModel(directory, device or "auto")
        else:
            raise ModelLoadError(f"{name_or_dir}: not a model directory (no fusion.json, deepaq.json or config.json); "
                                 f"give a model name ({', '.join(NAMED_MODELS)}) or the folder of a trained model")
    return _LOADED[key]


def compare(reference: Audio, test: Audio, sample_rate: int | None = None,
            model: str | Path | FullReferenceModel | None = None) -> Comparison:
    """Full-reference quality of `test` against `reference` with the default model (or `model`)."""
    loaded = model if isinstance(model, FullReferenceModel) else load_model(model)
    if not isinstance(loaded, FullReferenceModel):
        raise ModelLoadError(f"{model}: a no-reference model cannot compare; use aq.score")
    return loaded.compare(reference, test, sample_rate)


def score(audio: Audio, sample_rate: int | None = None, model: str | Path | NoReferenceModel | None = None
          ) -> NRScore:
    """No-reference per-aspect scores (and `overall`) of a file or array, with the shipped default or `model`."""
    if model is None:
        key = ("default-nr", None)
        if key not in _LOADED:
            _LOADED[key] = NoReferenceModel()
        loaded = _LOADED[key]
    else:
        loaded = model if isinstance(model, NoReferenceModel) else load_model(model)
    if not isinstance(loaded, NoReferenceModel):
        raise ModelLoadError(f"{model}: a full-reference model needs a reference; use aq.compare")
    return loaded.score(audio, sample_rate)


def _rate(sample_rate: int | None) -> int:
    if sample_rate is None:
        raise AudioqualError("arrays need sample_rate=")
    return int(sample_rate)


def _score(metric: PairMetric, reference: Audio | None, test: Audio, sample_rate: int | None) -> dict[str, float]:
    """score_one on paths or arrays (arrays enter as already decoded samples at `sample_rate`)."""
    decoded, names = {}, []
    for name, audio in (("<reference>", reference), ("<test>", test)):
        if isinstance(audio, np.ndarray):
            decoded[name] = (np.atleast_2d(audio), _rate(sample_rate))
            names.append(name)
        else:
            names.append(None if audio is None else os.fspath(audio))
    pair = Pair(names[0], names[1])
    return score_one(metric, pair, PairAudio(pair, decoded))
