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


def test_fad_is_advertised_where_it_is_reachable(capsys):
    """FAD compares two sets: it is the `fad` command, not a pair metric (issue 19, item 18).

    The end-to-end check of its value is tests/test_fad.py::test_fad_command_end_to_end_matches_the_closed_form.
    """
    from audioqual.cli.main import COMMANDS, _command_module
    from audioqual.metrics.registry import registered

    pair_list = COMMANDS["metric"].split(" over ")[0]
    assert "FAD" not in pair_list and "fad" not in registered()
    assert "fad" in COMMANDS and _command_module("fad") is not None
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "`audioqual fad " in readme
