"""Listening-test evaluation: correlations, system-level aggregation, significance."""
