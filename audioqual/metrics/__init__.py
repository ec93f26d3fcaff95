"""Metric objects with a torchmetrics-style update/compute interface."""

from audioqual.metrics.base import MetricInfo, PairMetric

__all__ = ["MetricInfo", "PairMetric"]
