"""Coded and degraded variants of clean audio: the surrogate-label training data of seed 003 (DeePAQ)."""

from audioqual.degrade.config import DegradeConfig, EffectsConfig
from audioqual.degrade.pipeline import DegradeResult, run_degrade

__all__ = ["DegradeConfig", "DegradeResult", "EffectsConfig", "run_degrade"]
