"""Export a trained MultiGauss no-reference model with its encoder to ONNX (read by audioqual.nr.exported).

The graph takes the encoder's front-end features (resemblyzer: the mel power
spectrogram of the 8 s crop) and returns the head's means [1, k] and covariance
factor [1, k, k]. Exporting needs the `onnx` package (pip install onnx); scoring
an exported model does not need torch at all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audioqual.arrays import repeat_crop
from audioqual.backbones import Backbone
from audioqual.data.files import write_json
from audioqual.errors import AudioqualError
from audioqual.nr.exported import EXPORT_FILE, FORMAT_VERSION, ONNX_FILE, ExportedNRModel
from audioqual.nr.model import NoReferenceModel

AES_SCALE = (1.0, 10.0)
OVERALL_SCALE = (1.0, 5.0)


class _ResemblyzerHead(nn.Module):
    """mel features -> resemblyzer layer -> MultiGauss head -> (mean, factor)."""

    def __init__(self, encoder: nn.Module, model: NoReferenceModel, layer: int):
        super().__init__()
        self.encoder, self.model, self.layer = encoder, model, layer

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        states = self.encoder._run(features)[self.layer]
        prediction = self.model.head(states.transpose(1, 2)).prediction
        return prediction.mean, prediction.cov_factor


def export_onnx(model: NoReferenceModel, backbone: Backbone, directory: str | Path) -> Path:
    """Write model.onnx and export.json into `directory` (replaced atomically); returns the directory."""
    try:
        import onnx  # noqa: F401 - torch's exporter needs it
    except ImportError as err:
        raise AudioqualError("exporting to ONNX needs the onnx package: pip install onnx") from err
    name = getattr(backbone, "encoder_name", "")
    spec = model.input_spec
    if name != "resemblyzer" or spec.kind != "features":
        raise AudioqualError(f"ONNX export supports feature heads on resemblyzer, not {name or spec.backbone!r}")
    layer = spec.layer % backbone.num_hidden_states
    if layer > 4:
        raise AudioqualError("export supports resemblyzer's frame layers (lstm.0-2, linear, embedding)")
    from audioqual.backbones.encoders import resemblyzer as rz

    wrapper = _ResemblyzerHead(backbone, model, layer).eval()
    crop = int(round(spec.crop_seconds * rz.SAMPLE_RATE))
    example = torch.zeros(1, 1 + crop // rz.HOP, rz.N_MELS)
    directory = Path(directory)
    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with torch.no_grad():
        factor_upper = bool(model.head(backbone._run(example)[layer].transpose(1, 2)).prediction.factor_upper)
        torch.onnx.export(wrapper, (example,), str(staging / ONNX_FILE), dynamo=False, opset_version=17,
                          input_names=["features"], output_names=["mean", "factor"])  # fmt: skip
    write_json(staging / EXPORT_FILE, {
        "format_version": FORMAT_VERSION,
        "kind": "audioqual-nr-onnx",
        "aspects": list(model.aspects),
        "sample_rate": rz.SAMPLE_RATE,
        "crop_seconds": spec.crop_seconds,
        "minimum_samples": backbone.minimum_samples(),
        "factor_upper": factor_upper,
        "aspect_scale": list(AES_SCALE),
        "overall_scale": list(OVERALL_SCALE),
        "encoder": {"name": name, "layer": layer, "layer_name": backbone.layer_names[layer],
                    "fingerprint": backbone.fingerprint(),
                    "front_end": {"n_fft": rz.N_FFT, "hop": rz.HOP, "target_dbfs": rz.TARGET_DBFS,
                                  "mel_basis": backbone.mel_basis.cpu().numpy().astype(np.float64).tolist()}},
        "metadata": model.metadata,
    })  # fmt: skip
    if directory.exists():
        shutil.rmtree(directory)
    staging.replace(directory)
    return directory


def check_export(model: NoReferenceModel, backbone: Backbone, directory: str | Path, clips: list[np.ndarray]
                 ) -> float:  # fmt: skip
    """Largest absolute difference of means and covariances between torch and the export on mono clips."""
    exported = ExportedNRModel(directory)
    worst = 0.0
    for clip in clips:
        cropped = repeat_crop(clip.astype(np.float32), exported.crop)
        with torch.no_grad():
            states = backbone(torch.from_numpy(cropped)[None]).hidden_states[model.input_spec.layer]
            prediction = model(states.transpose(1, 2)).prediction
        mean, cov = exported.predict(clip)
        worst = max(worst, float(np.abs(mean - prediction.mean[0].numpy()).max()),
                    float(np.abs(cov - prediction.covariance()[0].numpy()).max()))  # fmt: skip
    return worst
