"""Metric objects with a torchmetrics-style update/compute interface, classified by what they compare."""

from audioqual.metrics.base import MetricCategory, MetricInfo, PairMetric

__all__ = ["MetricCategory", "MetricInfo", "PairMetric"]
