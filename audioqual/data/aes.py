"""AES-Natural style rating manifests (audiobox-aesthetics labels) for no-reference training.

A row names an audio file (`path`, or `data_path` as in the released
AES-Natural JSONL) and carries one score per aspect, either as a number (a
mean) or as a list of per-rater scores, which is averaged. Aspects may be
written short (`PQ`) or long (`Production_Quality`). The `source` field gives
the dataset of origin (for DAT-Source); when absent it is recognised from the
path (LibriTTS, EARS, MUSDB18, ...). The `system` field names the generating
system, for system-level evaluation. Any other aspect list works as long as
its names appear in the rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audioqual.data.manifest import PATH_KEYS, ManifestEntry, read_manifest
from audioqual.errors import ManifestError

AES_ASPECTS = ("PQ", "PC", "CE", "CU")
ASPECT_ALIASES: dict[str, tuple[str, ...]] = {
    "PQ": ("PQ", "Production_Quality", "production_quality"),
    "PC": ("PC", "Production_Complexity", "production_complexity"),
    "CE": ("CE", "Content_Enjoyment", "content_enjoyment"),
    "CU": ("CU", "Content_Usefulness", "content_usefulness"),
}
AES_SOURCES = (
    "LibriTTS",
    "cv-corpus-13.0-2023-03-09",
    "EARS",
    "MUSDB18",
    "musiccaps",
    "unbalanced_train_segments",
    "PAM",
)
"""Dataset folders of the AES-Natural release (its README), used to infer `source` from a path."""


@dataclass
class RatedItem:
    """One rated clip: the audio entry, mean score per aspect, per-rater scores when given."""

    entry: ManifestEntry
    scores: dict[str, float]
    ratings: dict[str, list[float]] = field(default_factory=dict)
    source: str | None = None
    system: str | None = None

    @property
    def item_id(self) -> str:
        return self.entry.item_id

    def target(self, aspects: Sequence[str]) -> np.ndarray:
        """Scores in the order of `aspects` (float32)."""
        return np.asarray([self.scores[a] for a in aspects], dtype=np.float32)


def read_aes_manifest(
    path: str | Path,
    aspects: Sequence[str] | None = AES_ASPECTS,
    *,
    source_field: str = "source",
    system_field: str = "system",
    path_rewrite: Mapping[str, str] | None = None,
    require_scores: bool = True,
) -> list[RatedItem]:
    """Read a JSONL/CSV rating manifest; each aspect's per-rater list becomes its mean.

    `path_rewrite` maps path prefixes (e.g. the release's "/your_path/") to local
    folders. With `require_scores`, a row missing an aspect is an error naming
    the file and row; otherwise missing aspects are left out of `scores`.
    """
    path = Path(path)
    entries = read_manifest(path, path_key=_path_key(path))
    items = []
    for row_no, entry in enumerate(entries, start=1):
        where = f"{path}: row {row_no}"
        if path_rewrite:
            entry.path = _rewrite(entry.path, path_rewrite)
        scores: dict[str, float] = {}
        ratings: dict[str, list[float]] = {}
        for aspect in aspects or ():
            key = _aspect_key(entry.metadata, aspect)
            if key is None:
                if require_scores:
                    raise ManifestError(f"{where}: no score for aspect {aspect!r} ({', '.join(_aliases(aspect))})")
                continue
            mean, per_rater = _score(entry.metadata[key], f"{where}: {key}")
            scores[aspect] = mean
            if per_rater is not None:
                ratings[aspect] = per_rater
        source = entry.metadata.get(source_field)
        items.append(
            RatedItem(
                entry=entry,
                scores=scores,
                ratings=ratings,
                source=str(source) if source not in (None, "") else infer_source(entry.path),
                system=_optional_str(entry.metadata.get(system_field)),
            )
        )
    ids = [item.item_id for item in items]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise ManifestError(f"{path}: item {duplicate!r} appears more than once (give rows an 'id' field)")
    return items


def infer_source(audio_path: str) -> str | None:
    """The AES-Natural dataset name found among the path's folders, if any."""
    parts = [p.lower() for p in Path(audio_path).parts]
    for name in AES_SOURCES:
        if name.lower() in parts:
            return name
    return None


def _aliases(aspect: str) -> tuple[str, ...]:
    return ASPECT_ALIASES.get(aspect.upper(), (aspect,))


def _aspect_key(metadata: Mapping[str, Any], aspect: str) -> str | None:
    return next((k for k in _aliases(aspect) if k in metadata and metadata[k] not in (None, "")), None)


def _score(value: Any, where: str) -> tuple[float, list[float] | None]:
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise ManifestError(f"{where}: cannot parse rater list {value!r}") from err
    if isinstance(value, (list, tuple)):
        raters = [_number(v, where) for v in value if v is not None]
        raters = [v for v in raters if not math.isnan(v)]
        if not raters:
            raise ManifestError(f"{where}: rater list has no scores")
        return float(np.mean(raters)), raters
    number = _number(value, where)
    if math.isnan(number):
        raise ManifestError(f"{where}: score is NaN")
    return number, None


def _number(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ManifestError(f"{where}: score {value!r} is not a number") from err
    if math.isinf(number):
        raise ManifestError(f"{where}: score {value!r} is infinite")
    return number


def _path_key(path: Path) -> str | None:
    """`data_path` when the manifest uses it (the AES-Natural release) and has no usual path key."""
    if not path.exists():
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            first = next((line for line in handle if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return None
    if path.suffix.lower() == ".csv":
        columns = [c.strip() for c in first.split(",")]
    else:
        try:
            row = json.loads(first)
        except json.JSONDecodeError:
            return None
        columns = list(row) if isinstance(row, dict) else []
    if "data_path" in columns and not any(k in columns for k in PATH_KEYS):
        return "data_path"
    return None


def _rewrite(audio_path: str, rewrite: Mapping[str, str]) -> str:
    for old, new in rewrite.items():
        if audio_path.startswith(old):
            return str(Path(new) / audio_path[len(old) :].lstrip("/"))
    return audio_path


def _optional_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
