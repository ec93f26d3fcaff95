"""DNSMOS P.835 (Reddy, Gopal & Cutler, ICASSP 2022) as an encoder: its hidden layers per 9.01 s window.

Microsoft's DNSMOS P.835 network (speechmos 0.0.1.1 wheel, MIT licence;
`dnsmos_models/sig_bak_ovr.onnx`, or `pdnsmos_models/sig_bak_ovr.onnx` for the
personalised-DNSMOS variant) was trained on crowd-sourced ITU-T P.835 ratings
(signal, background, overall quality) of noisy and noise-suppressed speech of
the DNS Challenge. It is run with onnxruntime on the file of the installed
package, exactly like the DNSMOS metric (`audioqual.baselines.dnsmos`, whose
`clip_windows` and `speechmos_model_path` are used here):

- 16 kHz mono samples as they are (no scaling);
- a clip shorter than 9.01 s is concatenated with itself until it is at least
  9.01 s long (speechmos's rule), so any non-empty clip gives one window:
  `minimum_samples()` is 1;
- 9.01 s windows with a 1 s hop; one frame per window, so layers come at
  1 frame per second.

The network maps each window to a 161-bin log power spectrogram (900 frames of
20 ms, 10 ms hop), seven conv+ReLU blocks (three with 2x2 max pooling), a
global max pooling, two dense+ReLU layers and a dense layer with three raw
outputs (SIG, BAK, OVRL, before speechmos's polynomial MOS mapping). Each
window gives one vector per layer: the log power spectrum's time mean
(`logpow`), each conv block's per-channel maximum over time and frequency (the
reduction the network itself applies after its last block; for `conv2d_6` it
is the network's own `global_max_pooling2d`), and the dense layers as they are.
"""

from __future__ import annotations

import numpy as np
import torch

from audioqual.backbones.encoders.base import EncoderLayer
from audioqual.backbones.encoders.onnx_graph import OnnxEncoder
from audioqual.baselines.dnsmos import (
    DNSMOS_RATE,
    HOP_SECONDS,
    clip_windows,
    speechmos_model_path,
)
from audioqual.errors import AudioqualError, ModelLoadError

PREFIX = "mos_estimator_logpow/"
INPUT_NAME = "input_1"
RAW_OUTPUT = "Identity:0"  # [windows, 3]: raw SIG, BAK, OVRL
# layer name -> (graph tensor, width, reduction over the window: "time_mean", "max" over time and frequency, None)
LAYER_TENSORS: dict[str, tuple[str, int, str | None]] = {
    "logpow": (
        PREFIX + "truediv:0",
        161,
        "time_mean",
    ),  # [N, 900, 161] log10 power spectrogram
    "conv2d": (PREFIX + "conv2d/Relu:0", 128, "max"),  # [N, C, 900, 161]
    "conv2d_1": (PREFIX + "conv2d_1/Relu:0", 64, "max"),
    "conv2d_2": (PREFIX + "conv2d_2/Relu:0", 64, "max"),
    "conv2d_3": (PREFIX + "conv2d_3/Relu:0", 32, "max"),
    "conv2d_4": (PREFIX + "conv2d_4/Relu:0", 32, "max"),  # [N, C, 450, 80]
    "conv2d_5": (PREFIX + "conv2d_5/Relu:0", 32, "max"),  # [N, C, 225, 40]
    "global_max_pooling2d": (
        PREFIX + "global_max_pooling2d/Max:0",
        64,
        None,
    ),  # conv2d_6 [N, 64, 112, 20], maxed
    "dense": (PREFIX + "dense/Relu:0", 128, None),
    "dense_1": (PREFIX + "dense_1/Relu:0", 64, None),
    "sig_bak_ovr": (RAW_OUTPUT, 3, None),  # dense_3: raw SIG, BAK, OVRL
}
WINDOWS_PER_RUN = 2  # the first conv block alone holds 74 MB per window


class DNSMOSEncoder(OnnxEncoder):
    """DNSMOS P.835's layers, one frame per 9.01 s window (1 s hop)."""

    encoder_name = "dnsmos"
    distribution = "speechmos"
    variants = ("p835", "p835-personalized")
    default_variant = "p835"
    extra_outputs = tuple(
        tensor for tensor, _, _ in LAYER_TENSORS.values() if tensor != RAW_OUTPUT
    )

    @classmethod
    def from_package(cls, variant: str) -> DNSMOSEncoder:
        try:
            path = speechmos_model_path(personalized=variant == "p835-personalized")
        except AudioqualError as err:
            raise ModelLoadError(str(err)) from err
        if not path.is_file():
            raise ModelLoadError(
                f"{path}: missing from the installed speechmos package (pip install --no-deps speechmos)"
            )
        layers = [
            EncoderLayer(name, dim) for name, (_, dim, _) in LAYER_TENSORS.items()
        ]
        return cls(variant, DNSMOS_RATE, layers, 1.0 / HOP_SECONDS, path).eval()

    def minimum_samples(self) -> int:
        """One sample: shorter clips than a 9.01 s window are repeated to fill it, as speechmos does."""
        return 1

    def window_states(self, windows: np.ndarray) -> list[np.ndarray]:
        """Each layer's [windows, D] vectors for [windows, 144160] float32 windows."""
        tensors = [tensor for tensor, _, _ in LAYER_TENSORS.values()]
        per_layer: list[list[np.ndarray]] = [[] for _ in LAYER_TENSORS]
        for start in range(0, len(windows), WINDOWS_PER_RUN):
            outputs = self.run_graph(
                {INPUT_NAME: windows[start : start + WINDOWS_PER_RUN]}, tensors
            )
            for index, (tensor, _, reduction) in enumerate(LAYER_TENSORS.values()):
                value = outputs[tensor]
                if reduction == "time_mean":
                    value = value.mean(axis=1)
                elif reduction == "max":
                    value = value.max(axis=(2, 3))
                per_layer[index].append(value)
        return [np.concatenate(parts).astype(np.float32) for parts in per_layer]

    def layer_states(self, waveforms: torch.Tensor) -> list[torch.Tensor]:
        clips = waveforms.detach().to("cpu", torch.float32).numpy()
        states = [self.window_states(clip_windows(clip)) for clip in clips]
        return [torch.from_numpy(np.stack([s[i] for s in states])).to(waveforms.device)
                for i in range(len(LAYER_TENSORS))]  # fmt: skip
