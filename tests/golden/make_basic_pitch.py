"""Make tests/golden/basic_pitch.npz: Basic Pitch's layers by its own inference code, for test_encoder_basic_pitch.py.

Run once, outside the project venv (basic-pitch's imports need librosa and
pretty_midi; TensorFlow is not needed for the ONNX model):

    python3 -m venv /work/bpvenv
    /work/bpvenv/bin/pip install --no-deps basic-pitch==0.4.0
    /work/bpvenv/bin/pip install "numpy<2" librosa resampy mir_eval pretty_midi onnxruntime onnx scikit-learn soundfile
    /work/bpvenv/bin/python tests/golden/make_basic_pitch.py      # onnxruntime 1.32.0, onnx 1.23.2, librosa 0.11.0

The test clip is written as a 22.05 kHz float32 wav, which librosa.load reads
back unchanged (no resampling), and given to
`basic_pitch.inference.run_inference` with a `Model` of the package's ONNX file
(`nmp.onnx`): its own padding, overlapping windows and unwrapping. The model's
onnxruntime session is swapped for one whose graph the `onnx` package extended
with the intermediate tensors as outputs; it answers run_inference's call and
records the intermediates per window, which are then unwrapped with the
package's own `unwrap_output`. The script checks that the recorded heads equal
run_inference's returned contour/note/onset exactly. The golden holds every
layer's time mean and the frames FRAMES (around the two window seams).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

RATE = 22050
SECONDS = 3.5  # 301 frames from three overlapping windows
FRAMES = (
    0,
    1,
    141,
    142,
    283,
    284,
    300,
)  # first frames, both sides of each window seam, last frame
GOLDEN = Path(__file__).with_name("basic_pitch.npz")
TENSORS = {  # layer -> (graph tensor, layout); the encoder's LAYER_TENSORS
    "normalized_log": (
        "model_1/normalized_log_1/Reshape_2;model_1/normalized_log_1/Reshape_2",
        "NTF",
    ),
    "harmonic-stacking": (
        "model_1/harmonic-stacking-diff/strided_slice_7;model_1/harmonic-stacking-diff/strided_slice_7",
        "NTFC",
    ),
    "re_lu_1": ("Relu__38:0", "NCTF"),
    "contour": ("StatefulPartitionedCall:0", "NTF"),
    "re_lu_2": ("Relu__42:0", "NCTF"),
    "note": ("StatefulPartitionedCall:1", "NTF"),
    "re_lu_3": ("Relu__35:0", "NCTF"),
    "onset": ("StatefulPartitionedCall:2", "NTF"),
}


def test_clip() -> np.ndarray:
    """3.5 s at 22.05 kHz: seeded piano-like notes (harmonics, decay, staggered onsets), a chord and some noise."""
    rng = np.random.default_rng(20240516)
    t = np.arange(int(SECONDS * RATE)) / RATE
    audio = 0.01 * rng.standard_normal(t.size)
    for onset, midi in (
        (0.1, 48),
        (0.6, 55),
        (1.2, 60),
        (1.9, 64),
        (1.9, 67),
        (2.6, 72),
    ):
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        local = np.clip(t - onset, 0, None)
        envelope = (t >= onset) * np.exp(-2.5 * local)
        audio += (
            0.2
            * envelope
            * sum(np.sin(2 * np.pi * k * f0 * local) / k**1.5 for k in range(1, 8))
        )
    return (audio / (np.abs(audio).max() * 1.05)).astype(np.float32)


def flatten(value: np.ndarray, layout: str) -> np.ndarray:
    if layout == "NCTF":
        value = value.transpose(0, 2, 3, 1)
    return value.reshape(value.shape[0], value.shape[1], -1)


class RecordingSession:
    """Stands in for Model.model (an onnxruntime session): answers run(), keeps every window's intermediates."""

    def __init__(self, model_path: str) -> None:
        import onnx
        import onnxruntime as ort

        model = onnx.load(model_path)
        declared = {output.name for output in model.graph.output}
        for tensor, _ in TENSORS.values():
            if tensor not in declared:
                model.graph.output.append(
                    onnx.helper.make_tensor_value_info(
                        tensor, onnx.TensorProto.FLOAT, None
                    )
                )
        self.session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        self.records: dict[str, list[np.ndarray]] = {layer: [] for layer in TENSORS}

    def run(self, output_names, feeds):
        names = [tensor for tensor, _ in TENSORS.values()]
        values = dict(zip(names, self.session.run(names, feeds)))
        for layer, (tensor, layout) in TENSORS.items():
            self.records[layer].append(flatten(values[tensor], layout))
        return [values[name] for name in output_names]


def main() -> None:
    import importlib.metadata

    import onnxruntime
    import soundfile as sf
    from basic_pitch import ICASSP_2022_MODEL_PATH
    from basic_pitch.inference import Model, run_inference, unwrap_output

    onnx_path = Path(ICASSP_2022_MODEL_PATH).with_suffix(
        ".onnx"
    )  # the ONNX file next to the TF SavedModel
    assert onnx_path.name == "nmp.onnx" and onnx_path.is_file(), onnx_path
    model = Model(onnx_path)
    assert model.model_type == Model.MODEL_TYPES.ONNX
    recorder = RecordingSession(str(onnx_path))
    model.model = recorder

    audio = test_clip()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.wav"
        sf.write(path, audio, RATE, subtype="FLOAT")
        outputs = run_inference(path, model)

    golden: dict[str, np.ndarray] = {}
    for layer in TENSORS:
        states = unwrap_output(np.concatenate(recorder.records[layer]), len(audio), 30)
        if layer in outputs:
            assert np.array_equal(states, outputs[layer]), (
                layer
            )  # the heads as run_inference returned them
        print(layer, states.shape, len(recorder.records[layer]), "windows")
        golden[f"{layer}/mean"] = states.mean(axis=0).astype(np.float32)
        golden[f"{layer}/frames"] = states[list(FRAMES)].astype(np.float32)
        golden[f"{layer}/num_frames"] = np.array(states.shape[0])
    golden["versions"] = np.array([f"basic-pitch=={importlib.metadata.version('basic-pitch')}",
                                   f"onnxruntime=={onnxruntime.__version__}"])  # fmt: skip
    np.savez_compressed(GOLDEN, **golden)
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
