"""Per-row no-reference scoring job for distributed engines (each worker loads the model once)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audioqual.data.manifest import ManifestEntry
from audioqual.errors import AudioqualError
from audioqual.nr.scoring import Scorer, load_scorer


@dataclass(frozen=True)
class ScoreRowJob:
    """Picklable factory: manifest row -> per-aspect means and standard deviations."""

    model: str
    cache_dir: str | None = None
    device: str = "auto"
    backbone: str | None = None
    covariance: bool = False

    def __call__(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        scorer = Scorer(
            load_scorer(self.model), cache_dir=self.cache_dir, device=self.device, backbone=self.backbone, progress=False
        )

        def process(row: dict[str, Any]) -> dict[str, Any]:
            entry = ManifestEntry(path=row["path"], start_time=row.get("start_time"), end_time=row.get("end_time"))
            failures = scorer.prepare([entry])
            if failures:
                raise AudioqualError(next(iter(failures.values())))
            return scorer.score_one(entry, self.covariance)

        return process
