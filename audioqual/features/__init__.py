"""Feature extraction, the on-disk feature cache, and signal-level pair features (NSIM).

The extraction names load torch; they are imported on first use, so that the
numpy-only parts (the cache, `audioqual.features.nsim`) start fast.
"""

from importlib import import_module

from audioqual.features.cache import DEFAULT_CACHE_DIR, CacheKey, FeatureCache, file_content_hash

_EXTRACTION = ("ExtractionResult", "FeatureSpec", "extract_features", "load_options_for", "repeat_crop")

__all__ = ["DEFAULT_CACHE_DIR", "CacheKey", "FeatureCache", "file_content_hash", *_EXTRACTION]


def __getattr__(name: str):
    if name in _EXTRACTION:
        return getattr(import_module("audioqual.features.extract"), name)
    raise AttributeError(f"module 'audioqual.features' has no attribute {name!r}")
