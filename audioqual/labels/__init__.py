"""Surrogate labels (seed 003): ViSQOL v3 MOS of coded clips against their clean references."""

from audioqual.labels.job import LabelConfig, LabelResult, default_output, label_manifest
from audioqual.labels.summary import bitrate_trends, condition_table, format_summary

__all__ = [
    "LabelConfig",
    "LabelResult",
    "bitrate_trends",
    "condition_table",
    "default_output",
    "format_summary",
    "label_manifest",
]
