"""Per-row full-reference comparison job (any model kind; non-matching references with DeePAQ) for distributed engines (each worker loads the model once)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CompareRowJob:
    """Picklable factory: {"test", "reference"} -> score row (full reference, or against `nmr_refs`)."""

    model: str | None = None
    backbone: str | None = None
    device: str | None = None
    nmr_refs: str | None = None
    cache_dir: str | None = None

    def __call__(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        from audioqual.models.registry import load_fr_scorer

        scorer = load_fr_scorer(self.model, self.backbone, self.device)
        references = None
        if self.nmr_refs is not None:
            from audioqual.deepaq.reference_set import build_reference_set
            from audioqual.features import FeatureCache

            cache = FeatureCache(self.cache_dir) if self.cache_dir else FeatureCache()
            references = build_reference_set(scorer, self.nmr_refs, cache).embeddings

        def process(item: dict[str, Any]) -> dict[str, Any]:
            segment = (item.get("start_time"), item.get("end_time"))
            if references is not None:
                return scorer.compare_to_set(item["test"], references, *segment).row()
            return scorer.compare_files(item["reference"], item["test"], *segment).row()

        return process
