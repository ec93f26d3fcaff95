"""audioqual: learned, perceptual audio quality assessment.

Python API (imported on first use, so `import audioqual` stays light):
`compare`, `score`, `metric`, `load_model` and their result dataclasses; see audioqual/api.py.
"""

__version__ = "0.1.0"

_API = ("compare", "score", "metric", "load_model", "Comparison", "MetricResult", "NRScore")


def __getattr__(name: str):
    if name in _API:
        from audioqual import api

        return getattr(api, name)
    raise AttributeError(f"module 'audioqual' has no attribute {name!r}")


__all__ = ["__version__", *_API]
