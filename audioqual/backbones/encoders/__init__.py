"""Pretrained audio networks whose weights ship inside a package wheel: usable with no hub access.

Each encoder re-implements its network as torch (or runs the package's ONNX
file with onnxruntime) and reads the weights from the installed package without
importing it; `tests/` prove every port against the original package's outputs.
Select one by name wherever a backbone is asked for (`--backbone musicnn`,
`--backbone musicnn:MSD_vgg` for a variant); `ENCODERS` lists them.
"""

from audioqual.backbones.encoders.base import (
    ENCODERS,
    EncoderLayer,
    PretrainedEncoder,
    is_encoder_name,
    load_encoder,
)

__all__ = ["ENCODERS", "EncoderLayer", "PretrainedEncoder", "is_encoder_name", "load_encoder"]
