"""Export a trained MultiGauss no-reference model with its encoder to ONNX (read by audioqual.nr.exported).

The graph takes the encoder's front-end features (resemblyzer: the mel power
spectrogram of the crop; DistillMOS: its compressed complex spectrogram) and
returns the head's means [1, k] and covariance factor [1, k, k]. Exporting needs
the `onnx` package (pip install onnx); scoring an exported model does not need
torch at all.
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


class _EncoderHead(nn.Module):
    """front-end features -> the encoder's layer (`states`) -> MultiGauss head -> (mean, factor)."""

    def __init__(self, encoder: nn.Module, states, model: NoReferenceModel):
        super().__init__()
        self.encoder, self.states, self.model = encoder, states, model  # the encoder registered for its weights

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        prediction = self.model.head(self.states(features)).prediction
        return prediction.mean, prediction.cov_factor


def _resemblyzer_graph(backbone: Backbone, layer: int, crop: int) -> tuple:
    """(layer states [1, D, T] of the mel input, an example input, the numpy front end's settings)."""
    from audioqual.backbones.encoders import resemblyzer as rz

    if layer > 4:
        raise AudioqualError("export supports resemblyzer's frame layers (lstm.0-2, linear, embedding)")
    settings = {"n_fft": rz.N_FFT, "hop": rz.HOP, "target_dbfs": rz.TARGET_DBFS,
                "mel_basis": backbone.mel_basis.cpu().numpy().astype(np.float64).tolist()}  # fmt: skip
    example = torch.zeros(1, 1 + crop // rz.HOP, rz.N_MELS)
    return (lambda mels: backbone._run(mels)[layer].transpose(1, 2)), example, settings


def _distillmos_graph(backbone: Backbone, layer: int, crop: int) -> tuple:
    """(layer states [1, D, T] of the compressed spectrogram, an example input, the front end's settings)."""
    from audioqual.backbones.encoders import distillmos as dm

    if layer > dm.TRANSFORMER_LAYERS + 1 or crop != dm.SEQ_LEN:
        raise AudioqualError(f"export supports DistillMOS's frame layers (cnn .. transformer_encoder.layers.6) on one "
                             f"{dm.SEQ_LEN / dm.SAMPLE_RATE:g} s crop (crop_seconds), not layer {layer} on {crop} samples")
    settings = {"window": dm.WIN, "hop": dm.HOP, "compression": dm.COMPRESSION}
    example = torch.zeros(1, 2, dm.WIN // 2 + 1, dm.SEQ_LEN // dm.HOP)
    return (lambda spec: backbone.spectrogram_states(spec, layer)[layer].transpose(1, 2)), example, settings


GRAPHS = {"resemblyzer": _resemblyzer_graph, "distillmos": _distillmos_graph}


def export_onnx(model: NoReferenceModel, backbone: Backbone, directory: str | Path) -> Path:
    """Write model.onnx and export.json into `directory` (replaced atomically); returns the directory."""
    try:
        import onnx  # noqa: F401 - torch's exporter needs it
    except ImportError as err:
        raise AudioqualError("exporting to ONNX needs the onnx package: pip install onnx") from err
    name = getattr(backbone, "encoder_name", "")
    spec = model.input_spec
    if name not in GRAPHS or spec.kind != "features":
        raise AudioqualError(f"ONNX export supports feature heads on {', '.join(GRAPHS)}, not {name or spec.backbone!r}")
    layer = spec.layer % backbone.num_hidden_states
    crop = int(round(spec.crop_seconds * backbone.sample_rate))
    layer_states, example, front_end = GRAPHS[name](backbone, layer, crop)

    def states(features: torch.Tensor) -> torch.Tensor:  # zero-padded to the widest layer, as extraction stacks them
        state = layer_states(features)
        return torch.nn.functional.pad(state, (0, 0, 0, backbone.hidden_size - state.shape[1]))

    wrapper = _EncoderHead(backbone, states, model).eval()
    directory = Path(directory)
    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused transformer layer has no ONNX form; its ops do
    try:
        with torch.no_grad():
            factor_upper = bool(model.head(states(example)).prediction.factor_upper)
            torch.onnx.export(wrapper, (example,), str(staging / ONNX_FILE), dynamo=False, opset_version=17,
                              input_names=["features"], output_names=["mean", "factor"])  # fmt: skip
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    write_json(staging / EXPORT_FILE, {
        "format_version": FORMAT_VERSION,
        "kind": "audioqual-nr-onnx",
        "aspects": list(model.aspects),
        "sample_rate": backbone.sample_rate,
        "crop_seconds": spec.crop_seconds,
        "minimum_samples": backbone.minimum_samples(),
        "factor_upper": factor_upper,
        "aspect_scale": list(AES_SCALE),
        "overall_scale": list(OVERALL_SCALE),
        "encoder": {"name": name, "layer": layer, "layer_name": backbone.layer_names[layer],
                    "fingerprint": backbone.fingerprint(), "front_end": front_end},
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
