"""Feature extraction and the on-disk feature cache."""

from audioqual.features.cache import DEFAULT_CACHE_DIR, CacheKey, FeatureCache, file_content_hash
from audioqual.features.extract import (
    ExtractionResult,
    FeatureSpec,
    extract_features,
    load_options_for,
    repeat_crop,
)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "CacheKey",
    "ExtractionResult",
    "FeatureCache",
    "FeatureSpec",
    "extract_features",
    "file_content_hash",
    "load_options_for",
    "repeat_crop",
]
