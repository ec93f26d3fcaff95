"""Self-supervised audio encoders behind one interface."""

from audioqual.backbones.backbone import ARCHITECTURES, Backbone, BackboneInfo, BackboneOutput, detect_arch

__all__ = ["ARCHITECTURES", "Backbone", "BackboneInfo", "BackboneOutput", "detect_arch"]
