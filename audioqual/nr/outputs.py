"""What every quality head returns, re-exported from `audioqual.heads.base` where it lives."""

from audioqual.heads.base import AspectPrediction, HeadOutput

__all__ = ["AspectPrediction", "HeadOutput"]
