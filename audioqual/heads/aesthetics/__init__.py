"""Audiobox-Aesthetics (Meta) on the project's WavLM backbone, with domain-adversarial fine-tuning.

- `model.AestheticsModel`: learned layer weights over all WavLM hidden states,
  one MLP per aspect, target normalisation, official 10 s chunked inference.
- `official`: Meta's checkpoint formats and the WavLM key mapping to transformers.
- `convert`: whole-model import from / export to Meta's format.
- `head.FACTORY`: the head for `audioqual.nr` (train with `head.name: aesthetics`, or
  `audioqual train nr --backbone aesthetics` to start from Meta's released model).

Saving Meta's model as a no-reference model directory: `audioqual.nr.official_aesthetics.import_official`.
"""

from audioqual.heads.aesthetics.convert import export_official, model_from_official, official_axis
from audioqual.heads.aesthetics.head import FACTORY, HEAD_NAME, AestheticsOptions, build_head, load_backbone
from audioqual.heads.aesthetics.model import AestheticsModel
from audioqual.heads.aesthetics.official import OFFICIAL_AXES, read_official

__all__ = [
    "FACTORY",
    "HEAD_NAME",
    "OFFICIAL_AXES",
    "AestheticsModel",
    "AestheticsOptions",
    "build_head",
    "export_official",
    "load_backbone",
    "model_from_official",
    "official_axis",
    "read_official",
]
