"""The full-reference models a user can name, and one loader for every kind of them.

`default` is the model `audioqual compare` uses without --model (the NSIM-fusion
v2, docs/model_card_default_fr_v2.md); `default-v1` is the earlier DeePAQ
default (docs/model_card_default_fr.md). Any other value is a model directory
(or a hub id of a DeePAQ model): a folder with fusion.json is an NSIM-fusion
model, anything else DeePAQ.
"""

from __future__ import annotations

import os
from pathlib import Path

from audioqual.errors import ModelLoadError

PACKAGE_DIR = Path(__file__).resolve().parent
NAMED_MODELS = {
    "default": PACKAGE_DIR / "default_fr_v2",
    "default-v2": PACKAGE_DIR / "default_fr_v2",
    "default-v1": PACKAGE_DIR / "default_fr",
}
ENVIRONMENT_VARIABLE = "AUDIOQUAL_FR_MODEL"


def resolve_fr_model(model: str | Path | None = None) -> str | Path:
    """The directory (or hub id) a model name stands for; None: $AUDIOQUAL_FR_MODEL, else the default."""
    if model is None:
        model = os.environ.get(ENVIRONMENT_VARIABLE) or "default"
    return NAMED_MODELS.get(str(model), model)


def load_fr_scorer(model: str | Path | None = None, backbone: str | Path | None = None, device: str | None = None):
    """A scorer with compare_files / compare_loaded / compare_to_set for a named model or a directory."""
    from audioqual.models.fusion import CONFIG_FILE, FusionModel, FusionScorer

    source = resolve_fr_model(model)
    packaged = {str(path) for path in NAMED_MODELS.values()}
    if str(source) in packaged and not Path(source).is_dir():
        raise ModelLoadError(f"the packaged model {model or 'default'!r} is missing (looked in {source}): reinstall "
                             "audioqual, or pass a model directory with --model DIR")
    if (Path(source) / CONFIG_FILE).is_file():
        return FusionScorer(FusionModel.from_pretrained(source))
    from audioqual.deepaq import load_model
    from audioqual.deepaq.scorer import DeePAQScorer

    return DeePAQScorer(load_model(source, backbone), device=device)
