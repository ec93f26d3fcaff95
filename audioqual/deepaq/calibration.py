"""Fit a model's distance -> subjective-scale mapping on labelled (test, reference, score) rows.

Full-reference rows need `test` and `reference`; with a non-matching
reference set only `test` is read. Rows that cannot be scored are skipped
with a warning and listed in the result.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from audioqual.data.manifest import read_manifest
from audioqual.deepaq.config import MappingConfig
from audioqual.deepaq.mapping import DistanceMapping, fit_distance_mapping
from audioqual.deepaq.model import DeePAQModel
from audioqual.deepaq.reference_set import build_reference_set
from audioqual.deepaq.scorer import DeePAQScorer
from audioqual.errors import AudioqualError, ManifestError
from audioqual.features import FeatureCache

log = logging.getLogger(__name__)


def labelled_distances(
    scorer: DeePAQScorer, config: MappingConfig, cache: FeatureCache | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """(distances, subjective scores, failures by test path) of a labelled manifest."""
    if not config.manifest:
        raise AudioqualError("mapping.manifest is not set")
    manifest = Path(config.manifest)
    entries = read_manifest(manifest, path_key=config.test_field)
    references = build_reference_set(scorer, config.nmr_refs, cache).embeddings if config.nmr_refs else None
    distances, scores, failures = [], [], {}
    for index, entry in enumerate(tqdm(entries, desc="mapping data", unit="pair", disable=None), start=1):
        where = f"{manifest} row {index}"
        try:
            score = float(entry.metadata.get(config.score_field, math.nan))
        except (TypeError, ValueError) as err:
            raise ManifestError(f"{where}: {config.score_field} is not a number") from err
        if not math.isfinite(score):
            raise ManifestError(f"{where}: no finite {config.score_field!r} score")
        try:
            if references is not None:
                result = scorer.compare_to_set(entry.path, references)
            else:
                reference = entry.resolve_path(config.reference_field)
                if not reference:
                    raise ManifestError(f"{where}: no {config.reference_field!r} path")
                result = scorer.compare_files(reference, entry.path)
        except AudioqualError as err:
            failures[entry.path] = str(err)
            log.warning("mapping data: skipping %s", err)
            continue
        distances.append(result.distance)
        scores.append(score)
    return np.asarray(distances), np.asarray(scores), failures


def calibrate(
    model: DeePAQModel, config: MappingConfig, device: str | None = None, cache: FeatureCache | None = None
) -> DistanceMapping:
    """Fit the configured mappings and attach them to the model (save the model to keep them)."""
    scorer = DeePAQScorer(model, device=device)
    distances, scores, failures = labelled_distances(scorer, config, cache)
    info = {
        "mode": "nmr" if config.nmr_refs else "full",
        "source": str(config.manifest),
        "score_field": config.score_field,
        "skipped": len(failures),
    }
    model.mapping = fit_distance_mapping(distances, scores, tuple(config.kinds), info)
    return model.mapping
