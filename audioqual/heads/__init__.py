"""Prediction heads on top of backbone features."""
