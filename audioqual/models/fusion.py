"""NSIM fusion: a full-reference quality model made of patch-aligned band similarities and a small learned fusion.

Each pair is measured by `audioqual.features.nsim.pair_similarity` (per-band
NSIM after patch alignment, plus level excess and deficit). The 32 bands are
pooled into low / mid / high groups; the overall score is a non-negative
weighted sum of their standardised values, fitted by least squares to
listener ratings with a ridge that pulls the weights towards equal weights
(its strength chosen by leave-one-signal-out cross-validation). Non-negative
weights keep the score monotone in every band's similarity: more similar is
never worse. The model is a few numbers in a JSON file (`fusion.json`),
runs on numpy alone (no torch: a fresh process starts fast) and is checked
against a format version when loaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from audioqual.errors import ModelLoadError
from audioqual.features.nsim import MINIMUM_SAMPLES, RATE, PairSimilarity, pair_similarity
from audioqual.io.pair import LoadedAudio, PairLoader, Score
from audioqual.pretrained import Pretrained

CONFIG_FILE = "fusion.json"
CROSS_VALIDATION_FILE = "cross_validation.csv"
FORMAT_VERSION = 1
BAND_GROUPS = {"nsim_low": (0, 11), "nsim_mid": (11, 22), "nsim_high": (22, 32)}
SCORE_RANGE = (1.0, 5.0)


def band_features(similarity: PairSimilarity) -> dict[str, float]:
    """The fused features (band-group mean NSIM) and the aspect measures of one pair."""
    values = {name: float(similarity.band_nsim[lo:hi].mean()) for name, (lo, hi) in BAND_GROUPS.items()}
    values["nsim"] = float(similarity.band_nsim.mean())
    values["interference_db"] = similarity.excess_db
    values["distortion_db"] = similarity.deficit_db
    return values


@dataclass
class FusionModel(Pretrained):
    """Standardise, weight, add: score = offset + sum_i w_i (x_i - mean_i) / std_i, clipped to the rating range."""

    config_file = CONFIG_FILE
    format_version = FORMAT_VERSION
    kind = "NSIM-fusion model"

    features: list[str]
    mean: list[float]
    std: list[float]
    weights: list[float]
    offset: float
    name: str = "nsim-fusion"
    metadata: dict = field(default_factory=dict)

    def raw(self, values: dict[str, float]) -> float:
        """The unclipped fused score of one pair's features."""
        x = np.array([values[name] for name in self.features])
        return float(self.offset + np.dot(self.weights, (x - self.mean) / np.array(self.std)))

    def similarity(self, values: dict[str, float]) -> float:
        """The weighted mean band-group NSIM (weights as the fusion uses them, per unit of each feature)."""
        per_unit = np.array(self.weights) / np.array(self.std)
        x = np.array([values[name] for name in self.features])
        return float(np.dot(per_unit, x) / per_unit.sum()) if per_unit.sum() > 0 else float(x.mean())

    def outputs(self, values: dict[str, float]) -> dict[str, float]:
        """score (rating scale, clipped), score_raw, similarity, distance (1 - similarity) and the aspects."""
        raw = self.raw(values)
        similarity = self.similarity(values)
        return {"score": float(np.clip(raw, *SCORE_RANGE)), "score_raw": raw, "similarity": similarity,
                "distance": 1.0 - similarity, **values}  # fmt: skip

    def _save_files(self, folder: Path) -> dict:
        """Nothing but the config: fusion.json holds the whole model."""
        return {"format_version": FORMAT_VERSION, "kind": "nsim-fusion", "band_groups": BAND_GROUPS, **asdict(self)}

    @classmethod
    def _from_files(cls, directory: Path, config: dict) -> FusionModel:
        path = directory / CONFIG_FILE
        if config.get("kind") != "nsim-fusion":
            raise ModelLoadError(f"{path}: not an NSIM-fusion model")
        if {k: tuple(v) for k, v in config["band_groups"].items()} != BAND_GROUPS:
            raise ModelLoadError(f"{path}: band groups {config['band_groups']} differ from this version's")
        return cls(**{k: config[k] for k in ("features", "mean", "std", "weights", "offset", "name", "metadata")})


def fit_weights(x: np.ndarray, y: np.ndarray, shrinkage: float) -> tuple[np.ndarray, float]:
    """Non-negative weights on standardised columns, pulled towards equal weights by `shrinkage`.

    Minimises ||Z w - (y - mean y)||^2 + shrinkage * n * ||w - w0||^2 over w >= 0, where w0 is the equal-weight
    vector scaled to fit y alone. Returns (weights, offset = mean y).
    """
    from scipy.optimize import lsq_linear

    z = (x - x.mean(axis=0)) / x.std(axis=0)
    centred = y - y.mean()
    equal = z.mean(axis=1)
    prior = np.full(z.shape[1], (equal @ centred) / (equal @ equal) / z.shape[1])
    penalty = np.sqrt(shrinkage * len(y))
    system = np.vstack([z, penalty * np.eye(z.shape[1])])
    target = np.concatenate([centred, penalty * prior])
    return lsq_linear(system, target, bounds=(0.0, np.inf)).x, float(y.mean())


def cross_validate(x: np.ndarray, y: np.ndarray, groups: Sequence[str], shrinkage: float) -> np.ndarray:
    """Leave-one-group-out predictions (each group's stimuli predicted by a fit on all other groups)."""
    groups = np.asarray(groups)
    predictions = np.zeros(len(y))
    for group in dict.fromkeys(groups):
        held = groups == group
        weights, offset = fit_weights(x[~held], y[~held], shrinkage)
        mean, std = x[~held].mean(axis=0), x[~held].std(axis=0)
        predictions[held] = offset + ((x[held] - mean) / std) @ weights
    return predictions


SHRINKAGES = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def choose_shrinkage(x: np.ndarray, y: np.ndarray, groups: Sequence[str],
                     shrinkages: Sequence[float] = SHRINKAGES) -> tuple[float, list[dict]]:
    """The shrinkage with the best leave-one-group-out SRCC (stimulus + mean within-group), and the table."""
    from scipy.stats import spearmanr

    table = []
    for shrinkage in shrinkages:
        predicted = cross_validate(x, y, groups, shrinkage)
        within = [spearmanr(predicted[g], y[g]).statistic for g in _group_masks(groups) if g.sum() >= 3]
        table.append({"shrinkage": shrinkage, "stimulus_srcc": float(spearmanr(predicted, y).statistic),
                      "within_srcc": float(np.nanmean(within))})  # fmt: skip
    best = max(table, key=lambda row: row["stimulus_srcc"] + row["within_srcc"])
    return best["shrinkage"], table


def nested_predictions(x: np.ndarray, y: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Honest out-of-sample predictions: each group predicted by a model whose shrinkage and weights never saw it."""
    groups = np.asarray(groups)
    predictions = np.zeros(len(y))
    for group in dict.fromkeys(groups):
        held = groups == group
        shrinkage, _ = choose_shrinkage(x[~held], y[~held], groups[~held])
        weights, offset = fit_weights(x[~held], y[~held], shrinkage)
        mean, std = x[~held].mean(axis=0), x[~held].std(axis=0)
        predictions[held] = offset + ((x[held] - mean) / std) @ weights
    return predictions


def fit_fusion(x: np.ndarray, y: np.ndarray, groups: Sequence[str], features: Sequence[str]
               ) -> tuple[FusionModel, dict]:
    """Choose the shrinkage by leave-one-group-out cross-validation, then fit on all stimuli."""
    shrinkage, table = choose_shrinkage(x, y, groups)
    weights, offset = fit_weights(x, y, shrinkage)
    model = FusionModel(list(features), x.mean(axis=0).tolist(), x.std(axis=0).tolist(), weights.tolist(), offset)
    return model, {"cross_validation": table, "chosen": next(r for r in table if r["shrinkage"] == shrinkage)}


def _group_masks(groups: Sequence[str]) -> list[np.ndarray]:
    groups = np.asarray(groups)
    return [groups == g for g in dict.fromkeys(groups)]


class FusionScorer(PairLoader):
    """Scores reference/test files or arrays with an NSIM-fusion model (48 kHz, mono, numpy only)."""

    sample_rate = RATE
    minimum_samples = MINIMUM_SAMPLES

    def __init__(self, model: FusionModel | None = None):
        self.model = model  # None: a loader only, as when measuring a listening test to fit a model

    def compare_samples(self, reference: np.ndarray, test: np.ndarray, warnings: list[str] | None = None) -> Score:
        """Score mono 48 kHz samples; lengths may differ (patch alignment follows the test)."""
        outputs = self.model.outputs(band_features(pair_similarity(reference, test)))
        distance = outputs.pop("distance")
        return Score(distance, outputs, list(warnings or []))

    def compare_files(self, reference: str | Path, test: str | Path, start_time: float | None = None,
                      end_time: float | None = None) -> Score:
        """Full-reference score of one test file against its reference file (the same segment of both)."""
        ref, tst = self.load(reference, start_time, end_time), self.load(test, start_time, end_time)
        return self.compare_loaded(ref, tst)

    def compare_loaded(self, reference: LoadedAudio, test: LoadedAudio) -> Score:
        """Score decoded audio: both checked for length, a note where rates or lengths differ."""
        self.check_length(reference.samples, reference.path)
        self.check_length(test.samples, test.path)
        warnings = []
        if reference.original_rate != test.original_rate:
            warnings.append(f"reference is {reference.original_rate} Hz and test {test.original_rate} Hz: "
                            f"both resampled to {self.sample_rate} Hz")
        if reference.samples.shape[0] != test.samples.shape[0]:
            warnings.append(f"reference is {reference.samples.shape[0] / self.sample_rate:.3f} s and test "
                            f"{test.samples.shape[0] / self.sample_rate:.3f} s long: compared patch by patch")
        return self.compare_samples(reference.samples, test.samples, warnings)


def train_from_listening_test(manifest: str | Path, output: str | Path, score_column: str = "mean",
                              group_column: str = "signal") -> tuple[FusionModel, dict]:
    """Measure every pair of a listening-test manifest, fit the fusion to its ratings and save the model.

    Leave-one-`group_column`-out cross-validation (by default one source signal at a time) chooses the
    shrinkage. The honest figure is written beside the model (cross_validation.csv): each stimulus predicted
    by a model (shrinkage and weights) fitted without any stimulus of its signal.
    """
    from audioqual.data.manifest import read_manifest

    scorer = FusionScorer()
    entries = read_manifest(manifest, path_key="test")
    rows, ratings, groups = [], [], []
    for entry in entries:
        reference = scorer.load(entry.resolve_path("reference"), entry.start_time, entry.end_time)
        test = scorer.load(entry.path, entry.start_time, entry.end_time)
        rows.append(band_features(pair_similarity(reference.samples, test.samples)))
        ratings.append(float(entry.metadata[score_column]))
        groups.append(str(entry.metadata.get(group_column, entry.path)))
    features = list(BAND_GROUPS)
    x = np.array([[row[name] for name in features] for row in rows])
    model, report = fit_fusion(x, np.array(ratings), groups, features)
    model.metadata = {"trained_on": Path(manifest).name, "items": len(rows), "score_column": score_column,
                      "cross_validation_groups": group_column, **report}  # fmt: skip
    model.save_pretrained(output)
    held_out = nested_predictions(x, np.array(ratings), groups)
    from audioqual.data.files import write_csv

    folder = Path(manifest).resolve().parent
    write_csv(Path(output) / CROSS_VALIDATION_FILE, ["test", "score_cross_validated"],
              [(os.path.relpath(e.path, folder), float(value)) for e, value in zip(entries, held_out)])
    return model, report
