"""Audiobox-Aesthetics (Meta) on the project's WavLM backbone, with domain-adversarial fine-tuning.

- `model.AestheticsModel`: learned layer weights over all WavLM hidden states,
  one MLP per aspect, target normalisation, official 10 s chunked inference.
- `official`: Meta's checkpoint formats and the WavLM key mapping to transformers.
- `convert`: whole-model import from / export to Meta's format.
- `head.FACTORY`: the head for `audioqual.nr` (train with `head.name: aesthetics`, or
  `audioqual train nr --backbone aesthetics` to start from Meta's released model).
"""

from audioqual.aesthetics.convert import export_official, model_from_official, official_axis
from audioqual.aesthetics.head import FACTORY, HEAD_NAME, AestheticsOptions, build_head, import_official, load_backbone
from audioqual.aesthetics.model import AestheticsModel
from audioqual.aesthetics.official import OFFICIAL_AXES, read_official

__all__ = [
    "FACTORY",
    "HEAD_NAME",
    "OFFICIAL_AXES",
    "AestheticsModel",
    "AestheticsOptions",
    "build_head",
    "export_official",
    "import_official",
    "load_backbone",
    "model_from_official",
    "official_axis",
    "read_official",
]
