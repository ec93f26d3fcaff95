"""Basic Pitch (Bittner et al., ICASSP 2022): Spotify's polyphonic note transcription network as an encoder.

The `basic-pitch` 0.4.0 wheel (Apache-2.0) ships the ICASSP 2022 model as
`basic_pitch/saved_models/icassp_2022/nmp.onnx`, trained on multi-instrument
note and pitch annotations (GuitarSet, iKala, MAESTRO, MedleyDB-Pitch, Slakh).
The ONNX graph holds the whole network, front end included: a constant-Q
transform (hop 256 samples at 22.05 kHz, 3 bins per semitone from 27.5 Hz),
log-normalised per window to [0, 1], batch normalisation and harmonic stacking
(8 shifted copies for the harmonics 0.5, 1, ..., 7), then three heads:
contour (pitch posteriorgram, 264 bins), note (88 keys) and onset (88 keys).

It is run with onnxruntime exactly as `basic_pitch.inference.run_inference`
does: 22.05 kHz mono samples as they are; 3840 zeros (half of a 30-frame
overlap) before the clip; windows of AUDIO_N_SAMPLES = 43844 samples every
36164 samples, the last one zero-padded; each window gives 172 frames, of
which the first and last 15 are dropped; the rest are concatenated and cut to
floor(samples * 86 / 22050) frames (ANNOTATIONS_FPS = 22050 // 256 = 86 is the
frame rate the original assumes; the network's own hop is 256 samples). The
same unwrapping applies to every exposed layer:

- `normalized_log`: the log-normalised CQT (309 bins) before batch norm;
- `harmonic-stacking`: [264 bins x 8 harmonics] (harmonic fastest);
- `re_lu_1`: the contour head's conv block (conv2d_1 3x39, batch norm, ReLU), [264 x 8];
- `contour`: the contour output (contours-reduced, sigmoid), 264;
- `re_lu_2`: the note head's conv block (conv2d_2 7x7 stride 3 in frequency, ReLU), [88 x 32];
- `note`: the note output (conv2d_3, sigmoid), 88;
- `re_lu_3`: the onset head's conv block on the harmonic stack (conv2d_4, batch norm, ReLU), [88 x 32];
- `onset`: the onset output (conv2d_5 on note and onset features, sigmoid), 88.

Each frame's [frequency x channel] map is flattened with the channel fastest,
as Keras's NHWC layout has it.
"""

from __future__ import annotations

import numpy as np
import torch

from audioqual.backbones.encoders.base import EncoderLayer
from audioqual.backbones.encoders.onnx_graph import OnnxEncoder
from audioqual.packages import package_file

SAMPLE_RATE = 22050  # basic_pitch.constants.AUDIO_SAMPLE_RATE
FFT_HOP = 256
ANNOTATIONS_FPS = SAMPLE_RATE // FFT_HOP  # 86, as basic_pitch.constants defines it
AUDIO_N_SAMPLES = SAMPLE_RATE * 2 - FFT_HOP  # 43844 samples per window
WINDOW_FRAMES = 172  # frames the network gives per window
N_OVERLAPPING_FRAMES = 30  # run_inference
OVERLAP_LEN = N_OVERLAPPING_FRAMES * FFT_HOP
HOP_SIZE = AUDIO_N_SAMPLES - OVERLAP_LEN  # 36164
MODEL_FILE = "saved_models/icassp_2022/nmp.onnx"
INPUT_NAME = "serving_default_input_2:0"

# layer -> (graph tensor, width, layout of the tensor: "NTF" [N, T, F], "NTFC" [N, T, F, C] or "NCTF")
LAYER_TENSORS: dict[str, tuple[str, int, str]] = {
    "normalized_log": (
        "model_1/normalized_log_1/Reshape_2;model_1/normalized_log_1/Reshape_2",
        309,
        "NTF",
    ),
    "harmonic-stacking": (
        "model_1/harmonic-stacking-diff/strided_slice_7;model_1/harmonic-stacking-diff/strided_slice_7",
        264 * 8,
        "NTFC",
    ),
    "re_lu_1": ("Relu__38:0", 264 * 8, "NCTF"),
    "contour": ("StatefulPartitionedCall:0", 264, "NTF"),
    "re_lu_2": ("Relu__42:0", 88 * 32, "NCTF"),
    "note": ("StatefulPartitionedCall:1", 88, "NTF"),
    "re_lu_3": ("Relu__35:0", 88 * 32, "NCTF"),
    "onset": ("StatefulPartitionedCall:2", 88, "NTF"),
}
DECLARED_OUTPUTS = {
    "StatefulPartitionedCall:0",
    "StatefulPartitionedCall:1",
    "StatefulPartitionedCall:2",
}


def output_frames(samples: int) -> int:
    """Frames run_inference keeps for a clip of `samples` (its own float expression)."""
    return int(np.floor(samples * (ANNOTATIONS_FPS / SAMPLE_RATE)))


def windows_of(audio: np.ndarray) -> np.ndarray:
    """run_inference's windows [n, AUDIO_N_SAMPLES, 1] of a mono float32 clip."""
    padded = np.concatenate(
        [np.zeros(OVERLAP_LEN // 2, dtype=np.float32), audio.astype(np.float32)]
    )
    windows = []
    for start in range(0, padded.shape[0], HOP_SIZE):
        window = padded[start : start + AUDIO_N_SAMPLES]
        windows.append(np.pad(window, (0, AUDIO_N_SAMPLES - len(window))))
    return np.stack(windows)[:, :, None]


def frames_first(value: np.ndarray, layout: str) -> np.ndarray:
    """[N, T, D] with D = frequency x channel, channel fastest."""
    if layout == "NCTF":
        value = value.transpose(0, 2, 3, 1)
    return value.reshape(value.shape[0], value.shape[1], -1)


def unwrap(per_window: np.ndarray, samples: int) -> np.ndarray:
    """run_inference's unwrap_output: drop half the overlap at both ends of each window, join, cut to the clip."""
    n_olap = N_OVERLAPPING_FRAMES // 2
    kept = per_window[:, n_olap:-n_olap, :]
    return kept.reshape(-1, kept.shape[2])[: output_frames(samples)]


class BasicPitchEncoder(OnnxEncoder):
    """Basic Pitch's CQT front end, conv blocks and contour/note/onset outputs at 86 frames per second."""

    encoder_name = "basic-pitch"
    distribution = "basic-pitch"
    variants = ("icassp_2022",)
    default_variant = "icassp_2022"
    extra_outputs = tuple(
        t for t, _, _ in LAYER_TENSORS.values() if t not in DECLARED_OUTPUTS
    )

    @classmethod
    def from_package(cls, variant: str) -> BasicPitchEncoder:
        path = package_file("basic_pitch", MODEL_FILE, cls.distribution)
        layers = [
            EncoderLayer(name, dim) for name, (_, dim, _) in LAYER_TENSORS.items()
        ]
        return cls(variant, SAMPLE_RATE, layers, ANNOTATIONS_FPS, path).eval()

    def minimum_samples(self) -> int:
        """257 samples: run_inference keeps floor(samples * 86 / 22050) frames, 0 for fewer."""
        samples = 1
        while output_frames(samples) < 1:
            samples += 1
        return samples

    def clip_states(self, audio: np.ndarray) -> list[np.ndarray]:
        """Each layer's unwrapped [frames, D] states of one mono float32 clip, one window per run as the original."""
        tensors = [tensor for tensor, _, _ in LAYER_TENSORS.values()]
        per_layer: list[list[np.ndarray]] = [[] for _ in tensors]
        for window in windows_of(audio):
            outputs = self.run_graph({INPUT_NAME: window[None]}, tensors)
            for index, (tensor, _, layout) in enumerate(LAYER_TENSORS.values()):
                per_layer[index].append(frames_first(outputs[tensor], layout))
        return [
            unwrap(np.concatenate(parts), len(audio)).astype(np.float32)
            for parts in per_layer
        ]

    def layer_states(self, waveforms: torch.Tensor) -> list[torch.Tensor]:
        clips = waveforms.detach().to("cpu", torch.float32).numpy()
        states = [self.clip_states(clip) for clip in clips]
        return [
            torch.from_numpy(np.stack([s[i] for s in states])).to(waveforms.device)
            for i in range(len(LAYER_TENSORS))
        ]
