"""Every config in configs/ loads into its config class, and DeePAQ configs read the label `audioqual label` writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from audioqual.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def _config_class(path: Path):
    if path.name.startswith("nr_"):
        from audioqual.nr.config import NRTrainConfig

        return NRTrainConfig
    if path.name == "default_fr_frontend.yaml":
        from audioqual.models.frontend import FrontendConfig

        return FrontendConfig
    from audioqual.deepaq.config import DeePAQTrainingConfig

    return DeePAQTrainingConfig


def test_every_config_is_covered():
    assert len(CONFIGS) >= 18


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_loads(path):
    config = load_config(_config_class(path), path, [])
    data = getattr(config, "data", None)
    label_field = getattr(data, "label_field", None) or getattr(config, "label_field", None)
    if label_field is not None:
        from audioqual.baselines.visqol import ViSQOLMetric

        assert label_field == ViSQOLMetric().info.name, f"{path.name} reads a label `audioqual label` does not write"


def test_metric_help_claims_only_registered_pair_metrics(capsys):
    """FAD compares two sets, not pairs: `metric --help` must not offer it as a pair metric (issue 19, item 18)."""
    from audioqual.cli.main import COMMANDS
    from audioqual.metrics.registry import registered

    summary = COMMANDS["metric"].split("(FAD")[0]
    assert "FAD" not in summary and "fad" not in registered()
