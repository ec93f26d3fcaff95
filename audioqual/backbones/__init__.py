"""Audio encoders behind one interface: SSL models of transformers and pretrained networks from wheels."""

from audioqual.backbones.backbone import ARCHITECTURES, Backbone, detect_arch
from audioqual.backbones.base import BackboneInfo, BackboneOutput, LayeredEncoder

__all__ = ["ARCHITECTURES", "Backbone", "BackboneInfo", "BackboneOutput", "LayeredEncoder", "detect_arch"]
