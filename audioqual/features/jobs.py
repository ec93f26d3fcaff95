"""Per-row extraction job for distributed engines (each worker loads the backbone once)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audioqual.backbones import Backbone
from audioqual.data.manifest import ManifestEntry
from audioqual.errors import AudioqualError
from audioqual.features.cache import FeatureCache
from audioqual.features.extract import FeatureSpec, extract_features


@dataclass(frozen=True)
class ExtractRowJob:
    """Picklable factory of a row processor: row dict -> {"features": cache file}."""

    backbone: str
    cache: str
    spec: FeatureSpec
    device: str = "cpu"

    def __call__(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        backbone = Backbone.from_pretrained(self.backbone).to(self.device)
        cache = FeatureCache(self.cache)

        def process(row: dict[str, Any]) -> dict[str, Any]:
            entry = ManifestEntry(path=row["path"], start_time=row.get("start_time"), end_time=row.get("end_time"))
            result = extract_features([entry], backbone, cache, self.spec, device=self.device, progress=False)
            if entry.item_id in result.failures:
                raise AudioqualError(result.failures[entry.item_id])
            return {"features": str(cache.path_for(result.digests[entry.item_id]))}

        return process
