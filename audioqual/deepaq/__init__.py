"""DeePAQ (seed 003): a backbone + projection-head quality embedding trained with Rank-N-Contrast.

Full-reference score: embedding distance between test and reference;
non-matching reference: mean distance to a set of clean references; both
optionally mapped to a subjective scale. See docs/deepaq.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from audioqual.errors import ModelLoadError

PACKAGED_MODEL = Path(__file__).resolve().parents[1] / "models" / "default_fr"
"""The DeePAQ model shipped with the package, named `default-v1` (docs/model_card_default_fr.md); the default of
`audioqual compare` is now the NSIM-fusion model (audioqual.models.registry)."""
DEFAULT_MODEL = Path(os.environ.get("AUDIOQUAL_DEEPAQ_MODEL") or PACKAGED_MODEL)
"""The DeePAQ model `load_model()` loads without a path: env AUDIOQUAL_DEEPAQ_MODEL, else the packaged v1."""


def load_model(model: str | Path | None = None, backbone: str | Path | None = None):
    """Load a saved DeePAQ model, or the installed default; a clear error when there is none."""
    from audioqual.deepaq.model import DeePAQModel

    if model is None:
        if not (DEFAULT_MODEL / "deepaq.json").is_file():
            raise ModelLoadError(
                f"no default DeePAQ model is installed (looked in {DEFAULT_MODEL}). Rebuild the packaged one with "
                "scripts/train_default_model.sh, or train one with `audioqual train deepaq --config "
                "configs/deepaq_lora.yaml` and pass its directory with --model DIR, or point "
                "AUDIOQUAL_DEEPAQ_MODEL at a model directory"
            )
        model = DEFAULT_MODEL
    return DeePAQModel.from_pretrained(model, backbone_source=backbone)


__all__ = ["DEFAULT_MODEL", "PACKAGED_MODEL", "load_model"]
